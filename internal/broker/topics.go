package broker

// CreateTopics v2-v7, DeleteTopics v1-v6, CreatePartitions v0-v3, and topic
// auto-creation. Topics are committed through the controller and the
// broker's partitions reconciled before the answer, so a client may produce
// to a topic as soon as CreateTopics returns. Names follow Kafka's rules
// (at most 249 characters of [a-zA-Z0-9._-], not "." or ".."), and a name
// that differs from an existing topic's, or from one earlier in the same
// request, only by '.' against '_' is INVALID_TOPIC_EXCEPTION. A new topic's
// configs are resolved as a whole, so conflicting ones are INVALID_CONFIG,
// as in Kafka. Unlike Kafka, Sluice caps one topic at maxPartitions
// partitions, counted or assigned, so that one request cannot make the
// broker open millions of files.
//
// Internal topics belong to the broker, whatever the authorizer says: no
// client creates __consumer_offsets or __transaction_state, or a name that
// collides with them ('.' and '_' are the same character to Kafka, as in
// metric names), nor deletes them or adds partitions to them (the group
// and transaction coordinators hash IDs over their partition counts). The
// broker creates them itself, with their configs, on the first
// FindCoordinator (groups.go, txn.go).
//
// A client with a controller_mutation_rate quota (KIP-599, quotas.go) is
// charged the partitions each topic creates or deletes, in request order:
// CreateTopics v6+, CreatePartitions v3+ and DeleteTopics v5+ refuse a
// topic with THROTTLING_QUOTA_EXCEEDED while the client is in debt; older
// versions go ahead and the response is throttled.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/txn"
)

const maxPartitions = 10000

func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("topic name %q is illegal", name)
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name is %d characters, the limit is 249", len(name))
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, c)
		}
	}
	return nil
}

// collidesWithInternal reports whether name is an internal topic's name or
// differs from one only by '.' and '_' (Kafka's Topic.hasCollision).
func collidesWithInternal(name string) bool {
	return unifyCollisionChars(name) == unifyCollisionChars(group.OffsetsTopic) ||
		unifyCollisionChars(name) == unifyCollisionChars(txn.StateTopic)
}

func unifyCollisionChars(name string) string { return strings.ReplaceAll(name, ".", "_") }

func hasCollisionChars(name string) bool { return strings.ContainsAny(name, "._") }

// maxCollisionSpellings bounds the '.' and '_' of a name whose colliding
// spellings collidingTopic looks up one by one (2^6 lookups at most); a
// name with more looks its unified form up in the image's index instead.
const maxCollisionSpellings = 6

// collidingTopic returns the least name of a topic of img that differs
// from name only by '.' against '_' (Kafka's Topic.hasCollision), or "".
// It costs a lookup per spelling, or one in an index built once per image,
// never a scan of the topics per call.
func (b *Broker) collidingTopic(img *cluster.Image, name string) string {
	var at []int
	for i := 0; i < len(name); i++ {
		if name[i] == '.' || name[i] == '_' {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return ""
	}
	if len(at) > maxCollisionSpellings {
		for _, other := range b.configsFor(img).collisions()[unifyCollisionChars(name)] {
			if other != name {
				return other // sorted: the least
			}
		}
		return ""
	}
	spelling, least := []byte(name), ""
	for mask := 0; mask < 1<<len(at); mask++ {
		for j, i := range at {
			spelling[i] = '.'
			if mask&(1<<j) != 0 {
				spelling[i] = '_'
			}
		}
		if other := string(spelling); other != name && img.Topics.Value(other) != nil && (least == "" || other < least) {
			least = other
		}
	}
	return least
}

func newTopicID() cluster.TopicID {
	var id cluster.TopicID
	for id == (cluster.TopicID{}) {
		rand.Read(id[:])
	}
	return id
}

// placeReplicas places partitions first..first+count-1 of topic over the
// unfenced brokers (cluster.PlaceReplicas: leaders and replicas spread
// evenly, rack-aware).
func placeReplicas(img *cluster.Image, topic string, first, count int32, rf int16) ([][]int32, error) {
	replicas, err := cluster.PlaceReplicas(img, int(count), int(rf), int(first))
	if err != nil {
		return nil, fmt.Errorf("topic %q: %w", topic, err)
	}
	return replicas, nil
}

// topicSpec is a validated topic to create.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16
	replicas   [][]int32
	configs    map[string]string
}

// checkAssignment validates the replicas a client chose for partition p,
// as Kafka's ReplicationControlManager does: at least one, rf of them (rf
// < 0: any number), each a registered broker, none twice, and at least one
// not fenced, that can lead.
func checkAssignment(img *cluster.Image, p int, replicas []int32, rf int) error {
	if len(replicas) == 0 {
		return kerrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	live := false
	for i, id := range replicas {
		br, ok := img.Brokers[id]
		if !ok {
			return kerrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if slices.Contains(replicas[:i], id) {
			return kerrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
		live = live || !br.Fenced && !br.ShuttingDown
	}
	if rf >= 0 && len(replicas) != rf {
		return kerrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), "+
			"but this is not consistent with previous partitions, which have %d replica(s).", len(replicas), rf)
	}
	if !live {
		return kerrf(kerr.InvalidReplicaAssignment, "All brokers specified in the manual partition assignment for partition %d are fenced or in controlled shutdown.", p)
	}
	return nil
}

// planTopic validates a topic creation against the image and the broker
// config and returns what to propose. pl places its partitions after those
// placed before in the same request (nil: over img alone). A null config
// value is refused; configs are resolved as a whole, so that settings that
// conflict (min.compaction.lag.ms above max.compaction.lag.ms) are refused
// here rather than ignored later.
func (b *Broker) planTopic(img *cluster.Image, pl *cluster.Placer, name string, partitions int32, rf int16, assignment [][]int32, configs map[string]*string) (topicSpec, error) {
	spec := topicSpec{name: name}
	if err := validTopicName(name); err != nil {
		return spec, kerrf(kerr.InvalidTopicException, "%v", err)
	}
	if img.Topics.Value(name) != nil {
		return spec, kerrf(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	if other := b.collidingTopic(img, name); other != "" {
		return spec, kerrf(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", name, other)
	}
	bcfg := b.brokerConfig(img)
	if len(configs) > 0 { // resolving costs more than the rest for a topic that sets none
		var nulls []string
		spec.configs = make(map[string]string, len(configs))
		for k, v := range configs {
			if v == nil {
				nulls = append(nulls, k)
			} else {
				spec.configs[k] = *v
			}
		}
		if len(nulls) > 0 {
			slices.Sort(nulls)
			return spec, kerrf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", strings.Join(nulls, ","))
		}
		if _, err := config.ResolveTopic(bcfg, spec.configs); err != nil {
			return spec, kerrf(kerr.InvalidConfig, "%v", err)
		}
	}
	if len(assignment) > 0 {
		if partitions != -1 || rf != -1 {
			return spec, kerrf(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given")
		}
		if len(assignment) > maxPartitions {
			return spec, kerrf(kerr.InvalidPartitions, "number of partitions must be between 1 and %d, got %d", maxPartitions, len(assignment))
		}
		for i, r := range assignment {
			if err := checkAssignment(img, i, r, len(assignment[0])); err != nil {
				return spec, err
			}
		}
		spec.partitions, spec.rf, spec.replicas = int32(len(assignment)), int16(len(assignment[0])), assignment
		return spec, nil
	}
	if partitions == -1 {
		partitions = int32(bcfg.Int64("num.partitions"))
	}
	if rf == -1 {
		rf = int16(bcfg.Int64("default.replication.factor"))
	}
	if partitions < 1 || partitions > maxPartitions {
		return spec, kerrf(kerr.InvalidPartitions, "number of partitions must be between 1 and %d, got %d", maxPartitions, partitions)
	}
	if rf < 1 {
		return spec, kerrf(kerr.InvalidReplicationFactor, "replication factor must be at least 1, got %d", rf)
	}
	if pl == nil {
		pl = cluster.NewPlacer(img)
	}
	replicas, err := pl.Place(int(partitions), int(rf), 0)
	if err != nil {
		return spec, kerrf(kerr.InvalidReplicationFactor, "topic %q: %v", name, err)
	}
	spec.partitions, spec.rf, spec.replicas = partitions, rf, replicas
	return spec, nil
}

// commitTopic proposes a planned topic and opens its local partitions.
func (b *Broker) commitTopic(ctx context.Context, c *Client, spec topicSpec) (cluster.TopicID, error) {
	id := newTopicID()
	err := b.cfg.Cluster.Propose(ctx, cluster.CreateTopic{Name: spec.name, ID: id, Replicas: spec.replicas, Configs: spec.configs})
	if err != nil {
		return id, err
	}
	b.reconcile()
	b.logger.Info("created topic", "topic", spec.name, "partitions", spec.partitions, "replication_factor", spec.rf,
		"client_id", c.ID, "principal", c.Principal, "auto_created", true)
	return id, nil
}

func (b *Broker) reconcile() {
	if err := b.cfg.Replicas.Reconcile(b.cfg.Cluster.Image()); err != nil {
		b.logger.Warn("reconcile partitions", "err", err)
	}
}

func (b *Broker) autoCreateTopic(ctx context.Context, c *Client, name string) error {
	spec, err := b.planTopic(b.cfg.Cluster.Image(), nil, name, -1, -1, nil, nil)
	if err != nil {
		return err
	}
	_, err = b.commitTopic(ctx, c, spec)
	if errors.Is(err, cluster.ErrTopicExists) {
		return nil // another request created it first
	}
	return err
}

// createTopicsBatch bounds the topics of one CreateTopics metadata
// command: a request of more topics commits in several.
const createTopicsBatch = 1000

// createTopics validates every topic of the request, then commits the
// valid ones together (cluster.CreateTopics: one Raft entry per
// createTopicsBatch topics, not one per topic) and reconciles once. Each
// topic still gets its own error, in request order.
func (b *Broker) createTopics(ctx context.Context, c *Client, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := requestTimeout(ctx, req.TimeoutMillis)
	defer cancel()
	count := map[string]int{}
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	type planned struct {
		st   kmsg.CreateTopicsResponseTopic
		spec topicSpec
		err  error // set: the topic fails with it
		id   cluster.TopicID
	}
	plans := make([]planned, len(req.Topics))
	img := b.cfg.Cluster.Image()
	pl := cluster.NewPlacer(img)
	// claimed holds the unified names of the topics planned so far: a
	// later topic of the request that collides with one is refused.
	claimed := map[string]string{}
	for i, rt := range req.Topics {
		p := &plans[i]
		p.st = kmsg.NewCreateTopicsResponseTopic()
		p.st.Topic = rt.Topic
		p.st.NumPartitions, p.st.ReplicationFactor = -1, -1
		if count[rt.Topic] > 1 {
			p.err = kerrf(kerr.InvalidRequest, "topic %q appears more than once in the request", rt.Topic)
			continue
		}
		if collidesWithInternal(rt.Topic) {
			p.err = kerrf(kerr.InvalidTopicException, "topic %q is or collides with an internal topic, which only the broker creates", rt.Topic)
			continue
		}
		configs := make(map[string]*string, len(rt.Configs))
		for _, c := range rt.Configs {
			configs[c.Name] = c.Value
		}
		var assignment [][]int32
		if len(rt.ReplicaAssignment) > 0 {
			assignment = make([][]int32, len(rt.ReplicaAssignment))
			bad := false
			for _, a := range rt.ReplicaAssignment {
				if a.Partition < 0 || int(a.Partition) >= len(assignment) || assignment[a.Partition] != nil {
					bad = true
					break
				}
				assignment[a.Partition] = a.Replicas
			}
			if bad {
				p.err = kerrf(kerr.InvalidReplicaAssignment, "replica assignment partitions must be 0..n-1, each once")
				continue
			}
		}
		p.spec, p.err = b.planTopic(img, pl, rt.Topic, rt.NumPartitions, rt.ReplicationFactor, assignment, configs)
		if errorCode(p.err) == kerr.InvalidReplicationFactor.Code && b.cfg.Cluster.Sync(ctx) == nil {
			// This broker's view may lag (just back from a pause, say):
			// place again on everything the controller has applied.
			img = b.cfg.Cluster.Image()
			pl = cluster.NewPlacer(img)
			p.spec, p.err = b.planTopic(img, pl, rt.Topic, rt.NumPartitions, rt.ReplicationFactor, assignment, configs)
		}
		if p.err == nil && hasCollisionChars(rt.Topic) {
			u := unifyCollisionChars(rt.Topic)
			if other, ok := claimed[u]; ok {
				p.err = kerrf(kerr.InvalidTopicException, "Topic '%s' collides with topic %s, named earlier in the same request", rt.Topic, other)
			} else {
				claimed[u] = rt.Topic
			}
		}
	}
	// KIP-599: each topic's partitions, in request order, are charged to
	// the client's controller_mutation_rate quota (validate_only too, as
	// Kafka's controller charges them before it tells the two apart).
	mq := b.mutationQuota(ctx, req.Version >= 6)
	for i := range plans {
		if plans[i].err == nil {
			plans[i].err = mq.charge(int(plans[i].spec.partitions))
		}
	}
	if req.ValidateOnly {
		// An ID for the answer, as Kafka's controller makes one for a
		// topic it only validates.
		for i := range plans {
			if plans[i].err == nil {
				plans[i].id = newTopicID()
			}
		}
	} else {
		var batch []*planned
		commit := func() {
			if len(batch) == 0 {
				return
			}
			cmd := cluster.CreateTopics{Topics: make([]cluster.CreateTopic, len(batch))}
			for i, p := range batch {
				p.id = newTopicID()
				cmd.Topics[i] = cluster.CreateTopic{Name: p.spec.name, ID: p.id, Replicas: p.spec.replicas, Configs: p.spec.configs}
			}
			errs := cluster.ItemErrorsOf(b.cfg.Cluster.Propose(ctx, cmd), len(batch))
			for i, p := range batch {
				p.err = errs[i]
				if p.err == nil {
					b.logger.Info("created topic", "topic", p.spec.name, "partitions", p.spec.partitions, "replication_factor", p.spec.rf,
						"client_id", c.ID, "principal", c.Principal)
				}
			}
			batch = batch[:0]
		}
		for i := range plans {
			if plans[i].err == nil {
				if batch = append(batch, &plans[i]); len(batch) == createTopicsBatch {
					commit()
				}
			}
		}
		commit()
		b.reconcile()
	}
	// The configs answered for a topic that sets none are the same for
	// each: resolved once, shared by those topics of the response.
	var defaults []kmsg.CreateTopicsResponseTopicConfig
	for i := range plans {
		p := &plans[i]
		st := p.st
		if p.err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(p.err), errorMessage(p.err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = p.id
		spec := p.spec
		st.NumPartitions, st.ReplicationFactor = spec.partitions, spec.rf
		if !b.visible(c, img.ACLs, acl.OpDescribeConfigs, acl.ResourceTopic, spec.name) {
			// Created, but its configs are not the principal's to see
			// (v5+), as in Kafka.
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		} else if len(spec.configs) == 0 && defaults != nil {
			st.Configs = defaults
		} else if tcfg, err := config.ResolveTopic(b.brokerConfig(img), spec.configs); err == nil {
			for _, v := range tcfg.All() {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.ReadOnly, c.Source, c.IsSensitive = v.Def.Name, v.Def.ReadOnly, int8(v.Source), v.Def.Sensitive
				if !v.IsNull && !v.Def.Sensitive {
					val := v.Value
					c.Value = &val
				}
				st.Configs = append(st.Configs, c)
			}
			if len(spec.configs) == 0 {
				defaults = st.Configs
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) deleteTopics(ctx context.Context, c *Client, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := requestTimeout(ctx, req.TimeoutMillis)
	defer cancel()
	topics := req.Topics
	for _, name := range req.TopicNames {
		topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: &name})
	}
	// A name or ID given twice is answered once, INVALID_REQUEST, and
	// nothing is deleted for it (Kafka's ControllerApis.deleteTopics).
	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, rt := range topics {
		if rt.Topic != nil {
			names[*rt.Topic]++
		} else {
			ids[rt.TopicID]++
		}
	}
	mq := b.mutationQuota(ctx, req.Version >= 5)
	deleted := false
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		img := b.cfg.Cluster.Image()
		var t *cluster.Topic
		var err error
		switch {
		case rt.Topic == nil && rt.TopicID == [16]byte{}:
			err = kerrf(kerr.InvalidRequest, "Neither topic name nor id were specified.")
		case rt.Topic != nil && names[*rt.Topic] != 1:
			if names[*rt.Topic] == 0 {
				continue // answered at its first occurrence
			}
			names[*rt.Topic] = 0
			err = kerrf(kerr.InvalidRequest, "Duplicate topic name.")
		case rt.Topic == nil && ids[rt.TopicID] != 1:
			if ids[rt.TopicID] == 0 {
				continue
			}
			ids[rt.TopicID] = 0
			err = kerrf(kerr.InvalidRequest, "Duplicate topic id.")
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			err = kerrf(kerr.InvalidRequest, "give a topic name or a topic ID, not both")
		case rt.Topic != nil:
			if t = img.Topics.Value(*rt.Topic); t == nil {
				err = kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", *rt.Topic)
			}
		default:
			if t = img.TopicsByID.Value(cluster.TopicID(rt.TopicID)); t == nil {
				err = kerrf(kerr.UnknownTopicID, "no topic has this ID")
			}
		}
		if err == nil && isInternalTopic(t.Name) {
			err = kerrf(kerr.TopicAuthorizationFailed, "internal topic %q cannot be deleted", t.Name)
		}
		if err == nil && !b.brokerConfig(img).Bool("delete.topic.enable") {
			err = kerrf(kerr.TopicDeletionDisabled, "delete.topic.enable is false")
		}
		if err == nil {
			err = mq.charge(len(t.Partitions)) // KIP-599
		}
		if err == nil {
			err = b.cfg.Cluster.Propose(ctx, cluster.DeleteTopic{ID: t.ID})
		}
		if err == nil {
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			deleted = true
			b.logger.Info("deleted topic", "topic", t.Name, "client_id", c.ID, "principal", c.Principal)
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	if deleted {
		b.reconcile()
	}
	return resp
}

func (b *Broker) createPartitions(ctx context.Context, _ *Client, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := requestTimeout(ctx, req.TimeoutMillis)
	defer cancel()
	count := map[string]int{}
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	mq := b.mutationQuota(ctx, req.Version >= 3)
	created := false
	// The counts are read after everything committed so far, as Kafka's
	// controller reads them: a broker whose metadata lags would otherwise
	// propose new partitions after a stale count, which is refused. (When
	// the barrier fails, the proposals below fail the same way.)
	_ = b.cfg.Cluster.Sync(ctx)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		img := b.cfg.Cluster.Image()
		t := img.Topics.Value(rt.Topic)
		var err error
		var replicas [][]int32
		switch {
		case count[rt.Topic] > 1:
			err = kerrf(kerr.InvalidRequest, "topic %q appears more than once in the request", rt.Topic)
		case t == nil:
			err = kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic)
		case isInternalTopic(t.Name):
			err = kerrf(kerr.InvalidRequest, "the partition count of the internal topic %q is fixed", t.Name)
		case rt.Count <= int32(len(t.Partitions)):
			err = kerrf(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", rt.Topic, len(t.Partitions), rt.Count)
		case rt.Count > maxPartitions:
			err = kerrf(kerr.InvalidPartitions, "number of partitions must be at most %d, got %d", maxPartitions, rt.Count)
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count)-len(t.Partitions):
			err = kerrf(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(rt.Assignment), int(rt.Count)-len(t.Partitions))
		case rt.Assignment != nil:
			for i, a := range rt.Assignment {
				if err = checkAssignment(img, len(t.Partitions)+i, a.Replicas, len(t.Partitions[0].Replicas)); err != nil {
					break
				}
				replicas = append(replicas, a.Replicas)
			}
		default:
			replicas, err = placeReplicas(img, t.Name, int32(len(t.Partitions)), rt.Count-int32(len(t.Partitions)), int16(len(t.Partitions[0].Replicas)))
		}
		if err == nil {
			err = mq.charge(int(rt.Count) - len(t.Partitions)) // KIP-599
		}
		if err == nil && !req.ValidateOnly {
			err = b.cfg.Cluster.Propose(ctx, cluster.CreatePartitions{ID: t.ID, Replicas: replicas, From: int32(len(t.Partitions))})
			if errors.Is(err, cluster.ErrInvalidPartitions) {
				// The count changed since this request read it: refused,
				// unless it is the count asked for (this proposal, retried
				// after it committed, or another request asking the same),
				// which is done.
				if now := b.cfg.Cluster.Image().Topics.Value(rt.Topic); now != nil && now.ID == t.ID && len(now.Partitions) == int(rt.Count) {
					err = nil
				}
			}
			created = created || err == nil
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	if created {
		b.reconcile()
	}
	return resp
}
