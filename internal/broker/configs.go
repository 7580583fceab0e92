package broker

// DescribeConfigs v1-v4, AlterConfigs v0-v2, IncrementalAlterConfigs v0-v1
// for topics (resource type 2) and brokers (type 4: this broker's ID, or ""
// for the cluster-wide default). Values are checked against the config
// tables of internal/config before they are committed through the
// controller; a bad name or value is INVALID_CONFIG naming it. Only
// dynamic broker configs can be altered (INVALID_REQUEST otherwise, as in
// Kafka). Broker loggers (type 8) are not supported.

import (
	"context"
	"slices"
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
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var values []config.Value
		var err error
		switch rr.ResourceType {
		case resourceTopic:
			t := img.Topics.Value(rr.ResourceName)
			if t == nil {
				err = kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", rr.ResourceName)
				break
			}
			var tcfg *config.Topic
			if tcfg, err = config.ResolveTopic(bcfg, t.Configs); err == nil {
				values = tcfg.All()
			}
		case resourceBroker:
			switch rr.ResourceName {
			case "":
				// The default resource lists only what was set dynamically.
				for _, v := range bcfg.All() {
					if v.Source == config.SourceDynamicDefault {
						values = append(values, v)
					}
				}
			case itoa(b.cfg.NodeID):
				values = bcfg.All()
			default:
				err = kerrf(kerr.InvalidRequest, "broker %q: describe a broker's configs on that broker", rr.ResourceName)
			}
		default:
			err = kerrf(kerr.InvalidRequest, "resource type %d is not supported", rr.ResourceType)
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		for _, v := range values {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, v.Def.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, describeValue(req, v))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func describeValue(req *kmsg.DescribeConfigsRequest, v config.Value) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.ReadOnly, c.IsSensitive = v.Def.Name, v.Def.ReadOnly, v.Def.Sensitive
	c.Source, c.IsDefault = kmsg.ConfigSource(v.Source), v.Source == config.SourceDefault
	c.ConfigType = kmsg.ConfigType(v.Def.Type)
	if !v.IsNull && !v.Def.Sensitive {
		val := v.Value
		c.Value = &val
	}
	if req.IncludeSynonyms {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = c.Name, c.Value, c.Source
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

func parseID(s string) int32 {
	var n int32
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int32(c-'0')
	}
	return n
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
	if ch.resourceType == resourceTopic {
		if _, err := config.ResolveTopic(b.brokerConfig(img), result); err != nil {
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

func (b *Broker) alterConfigs(ctx context.Context, cl *Client, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		// The legacy API replaces every dynamic value of the resource.
		err := b.alterResource(ctx, cl, int8(rr.ResourceType), rr.ResourceName, true, req.ValidateOnly,
			func(_ *config.Table, _ map[string]string, set map[string]*string) error {
				for _, c := range rr.Configs {
					set[c.Name] = c.Value
				}
				return nil
			})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) incrementalAlterConfigs(ctx context.Context, cl *Client, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.alterResource(ctx, cl, int8(rr.ResourceType), rr.ResourceName, false, req.ValidateOnly,
			func(table *config.Table, current map[string]string, set map[string]*string) error {
				return incrementalChanges(rr.Configs, table, current, set)
			})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// incrementalChanges turns SET, DELETE, APPEND and SUBTRACT operations into
// the values to set (nil to delete). APPEND and SUBTRACT apply to list
// configs only, starting from the current effective value.
func incrementalChanges(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, table *config.Table, current map[string]string, set map[string]*string) error {
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return kerrf(kerr.InvalidRequest, "config %q appears more than once", op.Name)
		}
		seen[op.Name] = true
		def, ok := table.Lookup(op.Name)
		if !ok {
			return kerrf(kerr.InvalidConfig, "unknown config %q", op.Name)
		}
		switch op.Op {
		case 0: // SET
			if op.Value == nil {
				return kerrf(kerr.InvalidRequest, "SET of %q needs a value", op.Name)
			}
			set[op.Name] = op.Value
		case 1: // DELETE
			set[op.Name] = nil
		case 2, 3: // APPEND, SUBTRACT
			if def.Type != config.TypeList {
				return kerrf(kerr.InvalidRequest, "APPEND and SUBTRACT apply to list configs; %q is not one", op.Name)
			}
			cur, ok := current[op.Name]
			if !ok {
				cur = def.Default
			}
			items := splitList(cur)
			for _, v := range splitList(deref(op.Value)) {
				has := slices.Contains(items, v)
				if op.Op == 2 && !has {
					items = append(items, v)
				}
				if op.Op == 3 && has {
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
