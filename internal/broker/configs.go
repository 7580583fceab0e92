package broker

// DescribeConfigs v1-v4, AlterConfigs v0-v2, IncrementalAlterConfigs v0-v1
// for topics (resource type 2) and brokers (type 4: this broker's ID, or ""
// for the cluster-wide default). Values are checked against the config
// tables of internal/config before they are committed through the
// controller; a bad name or value is INVALID_CONFIG naming it. Only
// dynamic broker configs can be altered (INVALID_REQUEST otherwise, as in
// Kafka). As Kafka's ConfigAdminManager does, both alter APIs refuse with
// INVALID_REQUEST a resource named twice, a key named twice, and a null
// value (but for DELETE's). DescribeConfigs lists synonyms as Kafka does.
// Broker loggers (type 8) are not supported.

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
)

const (
	resourceTopic  = 2
	resourceBroker = 4
)

func (b *Broker) describeConfigs(_ context.Context, _ *Client, req *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := b.cfg.Cluster.Image()
	bcfg := b.brokerConfig(img)
	// A resource named again is answered with an error, not another copy
	// of every config: a request of a few kilobytes naming one broker a
	// thousand times made a response of tens of megabytes.
	type resource struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	seen := make(map[resource]bool, len(req.Resources))
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var values []config.Value
		// synonyms lists a value's synonyms (include_synonyms).
		var synonyms func(name string) []config.Value
		var err error
		key := resource{rr.ResourceType, rr.ResourceName}
		switch {
		case seen[key]:
			err = kerrf(kerr.InvalidRequest, "resource type %d %q is named more than once", rr.ResourceType, rr.ResourceName)
		case rr.ResourceType == resourceTopic:
			t := img.Topics.Value(rr.ResourceName)
			if t == nil {
				err = kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", rr.ResourceName)
				break
			}
			// As the topic runs: a stored setting that does not parse
			// shows its default.
			tcfg, _ := config.ApplyTopic(bcfg, t.Configs)
			values, synonyms = tcfg.All(), tcfg.Synonyms
		case rr.ResourceType == resourceBroker:
			switch rr.ResourceName {
			case "":
				// The cluster-wide resource lists its own dynamic values,
				// those a broker overrides for itself too, as Kafka does.
				values = bcfg.ClusterDefaults()
				synonyms = func(name string) []config.Value {
					// Only the cluster-wide values, as in Kafka.
					return slices.DeleteFunc(bcfg.Synonyms(name), func(v config.Value) bool { return v.Source != config.SourceDynamicDefault })
				}
			case itoa(b.cfg.NodeID):
				values, synonyms = bcfg.All(), bcfg.Synonyms
			default:
				err = kerrf(kerr.InvalidRequest, "broker %q: describe a broker's configs on that broker", rr.ResourceName)
			}
		default:
			err = kerrf(kerr.InvalidRequest, "resource type %d is not supported", rr.ResourceType)
		}
		seen[key] = true
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		var names map[string]bool // nil: every config
		if len(rr.ConfigNames) > 0 {
			names = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				names[n] = true
			}
		}
		for _, v := range values {
			// Null or empty names all (Kafka's ConfigHelper).
			if names != nil && !names[v.Def.Name] {
				continue
			}
			var syn []config.Value
			if req.IncludeSynonyms {
				syn = synonyms(v.Def.Name)
			}
			sr.Configs = append(sr.Configs, describeValue(req, v, syn))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// describeValue answers one config; synonyms are listed with
// include_synonyms, sensitive ones without their values.
func describeValue(req *kmsg.DescribeConfigsRequest, v config.Value, synonyms []config.Value) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.ReadOnly, c.IsSensitive = v.Def.Name, v.Def.ReadOnly, v.Def.Sensitive
	c.Source, c.IsDefault = kmsg.ConfigSource(v.Source), v.Source == config.SourceDefault
	c.ConfigType = kmsg.ConfigType(v.Def.Type)
	if !v.IsNull && !v.Def.Sensitive {
		val := v.Value
		c.Value = &val
	}
	for _, s := range synonyms {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Source = s.Def.Name, kmsg.ConfigSource(s.Source)
		if !s.IsNull && !s.Def.Sensitive && !v.Def.Sensitive {
			val := s.Value
			syn.Value = &val
		}
		c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
	}
	if req.IncludeDocumentation {
		doc := v.Def.Doc
		c.Documentation = &doc
	}
	return c
}

// configChange is a validated change to one resource's configs.
type configChange struct {
	resourceType int8
	name         string
	set          map[string]*string
	replace      bool
}

// checkConfigResource validates the resource itself and returns the
// current dynamic configs of it and the table its names come from.
func (b *Broker) checkConfigResource(img *cluster.Image, typ int8, name string) (map[string]string, *config.Table, error) {
	switch typ {
	case resourceTopic:
		t := img.Topics.Value(name)
		if t == nil {
			return nil, nil, kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		return t.Configs, config.TopicTable(), nil
	case resourceBroker:
		if name != "" && name != itoa(b.cfg.NodeID) {
			if _, ok := img.Brokers[parseID(name)]; !ok {
				return nil, nil, kerrf(kerr.InvalidRequest, "broker %q is unknown", name)
			}
		}
		return img.BrokerConfigs[name], config.BrokerTable(), nil
	}
	return nil, nil, kerrf(kerr.InvalidRequest, "resource type %d is not supported", typ)
}

// parseID reads a broker ID, -1 for anything that is not an int32.
func parseID(s string) int32 {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return -1
	}
	return int32(n)
}

// validateChange checks the resulting values of a change against the table.
func (b *Broker) validateChange(img *cluster.Image, ch configChange, table *config.Table, current map[string]string) error {
	result := map[string]string{}
	if !ch.replace {
		for k, v := range current {
			result[k] = v
		}
	}
	for k, v := range ch.set {
		if v == nil {
			delete(result, k)
		} else {
			result[k] = *v
		}
	}
	for k, v := range ch.set {
		def, ok := table.Lookup(k)
		if !ok && v == nil {
			continue // the delete of a config this software does not know
		}
		if !ok {
			return kerrf(kerr.InvalidConfig, "unknown config %q", k)
		}
		if ch.resourceType == resourceBroker && !def.Dynamic {
			return kerrf(kerr.InvalidRequest, "config %q cannot be changed dynamically; set it at start-up", k)
		}
		if v != nil {
			if err := table.Validate(k, *v); err != nil {
				return kerrf(kerr.InvalidConfig, "%v", err)
			}
		}
	}
	switch ch.resourceType {
	case resourceTopic:
		if _, err := config.ResolveTopic(b.brokerConfig(img), result); err != nil {
			return kerrf(kerr.InvalidConfig, "%v", err)
		}
	case resourceBroker:
		// The dynamic layers as the change leaves them must be
		// consistent as a whole (the compaction lag pair): a value valid
		// alone that breaks them is refused now, not dropped later.
		clusterDefault, perBroker := img.BrokerConfigs[""], img.BrokerConfigs[itoa(b.cfg.NodeID)]
		if ch.name == "" {
			clusterDefault = result
		} else {
			perBroker = result // another broker's is judged with this one's static settings
		}
		// Only a change that makes them inconsistent is refused: one
		// stored before this check existed does not block the others.
		if err := b.cfg.Static.CheckDynamic(clusterDefault, perBroker); err != nil &&
			b.cfg.Static.CheckDynamic(img.BrokerConfigs[""], img.BrokerConfigs[itoa(b.cfg.NodeID)]) == nil {
			return kerrf(kerr.InvalidConfig, "%v", err)
		}
	}
	return nil
}

func (b *Broker) commitConfigChange(ctx context.Context, c *Client, ch configChange) error {
	err := b.cfg.Cluster.Propose(ctx, cluster.AlterConfigs{ResourceType: ch.resourceType, Name: ch.name, Set: ch.set, Replace: ch.replace})
	if err == nil {
		b.reconcile()
		attrs := []any{"resource_type", ch.resourceType, "name", ch.name, "keys", len(ch.set), "replace", ch.replace,
			"client_id", c.ID, "principal", c.Principal}
		if ch.resourceType == resourceTopic {
			attrs = append(attrs, "topic", ch.name)
		}
		b.logger.Info("altered configs", attrs...)
	}
	return err
}

// alterResource is the flow both alter APIs share for one resource: check
// the resource, let fill turn the request's entries into the values to
// set, validate the result, and commit it unless validateOnly.
func (b *Broker) alterResource(ctx context.Context, c *Client, typ int8, name string, replace, validateOnly bool,
	fill func(table *config.Table, current map[string]string, set map[string]*string) error) error {
	// One change at a time on this broker: each reads the values the last
	// one committed (Propose returns once the local image has them).
	// Without it, concurrent APPENDs to one list lost entries, and two
	// settings checked each against the old values could be committed
	// together though the pair is invalid (Kafka's controller applies
	// them one by one).
	select {
	case b.alterSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.alterSem }()
	img := b.cfg.Cluster.Image()
	current, table, err := b.checkConfigResource(img, typ, name)
	if err != nil {
		return err
	}
	ch := configChange{resourceType: typ, name: name, set: map[string]*string{}, replace: replace}
	if err := fill(table, current, ch.set); err != nil {
		return err
	}
	if err := b.validateChange(img, ch, table, current); err != nil || validateOnly {
		return err
	}
	return b.commitConfigChange(ctx, c, ch)
}

// resourceKey names a config resource of a request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// repeated counts the resources of a request: Kafka refuses every
// occurrence of one named more than once (ConfigAdminManager.preprocess).
func repeated[T any](resources []T, key func(T) resourceKey) map[resourceKey]int {
	n := make(map[resourceKey]int, len(resources))
	for _, r := range resources {
		n[key(r)]++
	}
	return n
}

var errRepeatedResource = kerrf(kerr.InvalidRequest, "Each resource must appear at most once.")

// checkConfigShape refuses, before anything else is looked at, a request
// resource that names a config twice or leaves a value null where the
// operation needs one (nullOK reports where it does not), as Kafka's
// ConfigAdminManager.preprocess does.
func checkConfigShape(n int, name func(i int) string, isNull func(i int) bool, nullOK func(i int) bool) error {
	seen := make(map[string]bool, n)
	for i := range n {
		if seen[name(i)] {
			return kerrf(kerr.InvalidRequest, "Error due to duplicate config keys")
		}
		seen[name(i)] = true
	}
	var nulls []string
	for i := range n {
		if isNull(i) && !nullOK(i) {
			nulls = append(nulls, name(i))
		}
	}
	if len(nulls) > 0 {
		return kerrf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ", "))
	}
	return nil
}

func (b *Broker) alterConfigs(ctx context.Context, cl *Client, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	key := func(rr kmsg.AlterConfigsRequestResource) resourceKey {
		return resourceKey{rr.ResourceType, rr.ResourceName}
	}
	count := repeated(req.Resources, key)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if count[key(rr)] > 1 {
			err = errRepeatedResource
		} else {
			// A null value is refused: the legacy API has no way to
			// delete one value but to leave it out.
			err = checkConfigShape(len(rr.Configs), func(i int) string { return rr.Configs[i].Name },
				func(i int) bool { return rr.Configs[i].Value == nil }, func(int) bool { return false })
		}
		if err == nil {
			// The legacy API replaces every dynamic value of the resource.
			err = b.alterResource(ctx, cl, int8(rr.ResourceType), rr.ResourceName, true, req.ValidateOnly,
				func(_ *config.Table, _ map[string]string, set map[string]*string) error {
					for _, c := range rr.Configs {
						set[c.Name] = c.Value
					}
					return nil
				})
		}
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) incrementalAlterConfigs(ctx context.Context, cl *Client, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	key := func(rr kmsg.IncrementalAlterConfigsRequestResource) resourceKey {
		return resourceKey{rr.ResourceType, rr.ResourceName}
	}
	count := repeated(req.Resources, key)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if count[key(rr)] > 1 {
			err = errRepeatedResource
		} else {
			// Only DELETE may leave the value null.
			err = checkConfigShape(len(rr.Configs), func(i int) string { return rr.Configs[i].Name },
				func(i int) bool { return rr.Configs[i].Value == nil },
				func(i int) bool { return rr.Configs[i].Op == kmsg.IncrementalAlterConfigOpDelete })
		}
		if err == nil {
			err = b.alterResource(ctx, cl, int8(rr.ResourceType), rr.ResourceName, false, req.ValidateOnly,
				func(table *config.Table, current map[string]string, set map[string]*string) error {
					return incrementalChanges(int8(rr.ResourceType), rr.Configs, table, current, set)
				})
		}
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// incrementalChanges turns SET, DELETE, APPEND and SUBTRACT operations into
// the values to set (nil to delete); checkConfigShape has refused repeated
// names and null values. APPEND and SUBTRACT apply to list configs only,
// starting from the current effective value: on another config they are
// INVALID_CONFIG for a topic (Kafka's controller) and INVALID_REQUEST for a
// broker (Kafka's broker refuses it before the controller sees it).
func incrementalChanges(typ int8, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, table *config.Table, current map[string]string, set map[string]*string) error {
	for _, op := range ops {
		def, ok := table.Lookup(op.Name)
		if !ok && op.Op == kmsg.IncrementalAlterConfigOpDelete {
			// Deleting a config this software does not know (one
			// removed since it was set, or never set) succeeds, as in
			// Kafka, whose checks see only what is left.
			set[op.Name] = nil
			continue
		}
		if !ok {
			return kerrf(kerr.InvalidConfig, "unknown config %q", op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			set[op.Name] = op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			set[op.Name] = nil
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != config.TypeList {
				if typ == resourceBroker {
					return kerrf(kerr.InvalidRequest, "Config value %s is not allowed for config key: %s",
						strings.ToLower(op.Op.String()), op.Name)
				}
				return kerrf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", op.Op, op.Name)
			}
			cur, ok := current[op.Name]
			if !ok {
				cur = def.Default
			}
			items := splitList(cur)
			for _, v := range splitList(deref(op.Value)) {
				has := slices.Contains(items, v)
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
					items = append(items, v)
				}
				if op.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
					items = slices.DeleteFunc(items, func(s string) bool { return s == v })
				}
			}
			joined := strings.Join(items, ",")
			set[op.Name] = &joined
		default:
			return kerrf(kerr.InvalidRequest, "unknown operation %d on %q", op.Op, op.Name)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
