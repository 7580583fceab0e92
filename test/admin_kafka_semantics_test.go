package test

// Admin API answers checked against Kafka's own: CreateTopics resolves a
// topic's configs as a whole and refuses names that collide ('.' against
// '_'), DeleteTopics refuses a name or ID given twice, ElectLeaders over
// every partition leaves out those already led by their preferred replica,
// CreatePartitions refuses a broker listed twice, and both AlterConfigs
// APIs refuse repeated resources and keys and null values where Kafka's
// ConfigAdminManager.preprocess does.

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopicsRaw sends one CreateTopics request and returns its topics.
func createTopicsRaw(t *testing.T, cl *kgo.Client, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) []kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis, req.ValidateOnly, req.Topics = 10000, validateOnly, topics
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	if len(resp.Topics) != len(topics) {
		t.Fatalf("create topics: %d answers for %d topics", len(resp.Topics), len(topics))
	}
	return resp.Topics
}

func newTopic(name string, configs map[string]*string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, v
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

// wantAnswer checks an error code and, when msg is not "", the message.
func wantAnswer(t *testing.T, what string, code int16, message *string, want *kerr.Error, msg string) {
	t.Helper()
	wantCode(t, what, code, want)
	if msg != "" && (message == nil || *message != msg) {
		t.Errorf("%s: message %q, want %q", what, deref(message), msg)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestCreateTopicsRefusesConflictingAndNullConfigs: Kafka validates a new
// topic's configs together (LogConfig.validateValues), so a topic whose
// min.compaction.lag.ms exceeds its max.compaction.lag.ms is INVALID_CONFIG
// and never created, and a null value is INVALID_CONFIG
// (ReplicationControlManager.computeConfigChanges).
func TestCreateTopicsRefusesConflictingAndNullConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	for _, validateOnly := range []bool{true, false} {
		got := createTopicsRaw(t, cl, validateOnly,
			newTopic("lags", map[string]*string{
				"min.compaction.lag.ms": kmsg.StringPtr("10000"), "max.compaction.lag.ms": kmsg.StringPtr("5000"),
				"cleanup.policy": kmsg.StringPtr("compact"),
			}),
			newTopic("nulls", map[string]*string{"retention.ms": nil}))
		wantCode(t, "conflicting lags", got[0].ErrorCode, kerr.InvalidConfig)
		wantAnswer(t, "null retention.ms", got[1].ErrorCode, got[1].ErrorMessage, kerr.InvalidConfig,
			"Null value not supported for topic configs: retention.ms")
	}
	expectNoTopic(t, cl, "lags")
	expectNoTopic(t, cl, "nulls")

	// Both alter APIs resolve the resulting configs as a whole too.
	s := kmsg.StringPtr
	b.createTopic("lagged", 1, map[string]*string{"max.compaction.lag.ms": s("5000")})
	inc := incrementalRaw(t, cl, incrementalResource(kmsg.ConfigResourceTypeTopic, "lagged", kmsg.IncrementalAlterConfigOpSet, "min.compaction.lag.ms", s("10000")))
	wantCode(t, "incremental min.compaction.lag.ms above max", inc[0].ErrorCode, kerr.InvalidConfig)
	legacy := alterConfigsRaw(t, cl, legacyResource(kmsg.ConfigResourceTypeTopic, "lagged",
		s("min.compaction.lag.ms"), s("10000"), s("max.compaction.lag.ms"), s("5000")))
	wantCode(t, "legacy min.compaction.lag.ms above max", legacy[0].ErrorCode, kerr.InvalidConfig)
}

// TestTopicNamesThatCollideAreRefused: '.' and '_' are the same character
// in Kafka's metric names, so a topic may not differ from another only by
// them: INVALID_TOPIC_EXCEPTION, whether the other exists already, comes
// earlier in the same request, or the name is auto-created through
// Metadata (internal topics included).
func TestTopicNamesThatCollideAreRefused(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	b.createTopic("a.b", 1, nil)
	b.createTopic("m.a.n.y.d.o.t.s", 1, nil) // more separators than collidingTopic spells out
	got := createTopicsRaw(t, cl, false,
		newTopic("a_b", nil), newTopic("m_a_n_y_d_o_t_s", nil), newTopic("x.y", nil), newTopic("x_y", nil), newTopic("a.b", nil))
	wantAnswer(t, "a_b", got[0].ErrorCode, got[0].ErrorMessage, kerr.InvalidTopicException, "Topic 'a_b' collides with existing topic: a.b")
	wantAnswer(t, "m_a_n_y_d_o_t_s", got[1].ErrorCode, got[1].ErrorMessage, kerr.InvalidTopicException,
		"Topic 'm_a_n_y_d_o_t_s' collides with existing topic: m.a.n.y.d.o.t.s")
	if got[2].ErrorCode != 0 {
		t.Errorf("x.y: %v, want created", kerr.ErrorForCode(got[2].ErrorCode))
	}
	wantCode(t, "x_y after x.y in one request", got[3].ErrorCode, kerr.InvalidTopicException)
	wantCode(t, "a.b again", got[4].ErrorCode, kerr.TopicAlreadyExists)
	expectNoTopic(t, cl, "a_b")
	expectNoTopic(t, cl, "x_y")

	// Auto-creation: the colliding names are refused, not created.
	md := metadataTopics(t, cl, true, "a_b", "__consumer.offsets", "fresh_name")
	wantCode(t, "auto-create a_b", md["a_b"].ErrorCode, kerr.InvalidTopicException)
	wantCode(t, "auto-create __consumer.offsets", md["__consumer.offsets"].ErrorCode, kerr.InvalidTopicException)
	if md["fresh_name"].ErrorCode != 0 {
		t.Errorf("auto-create fresh_name: %v", kerr.ErrorForCode(md["fresh_name"].ErrorCode))
	}
	expectNoTopic(t, cl, "a_b")
}

// TestDeleteTopicsRefusesDuplicates: a name or topic ID given twice is
// answered once, INVALID_REQUEST, and the topic is kept; the rest of the
// request goes ahead (Kafka's ControllerApis.deleteTopics).
func TestDeleteTopicsRefusesDuplicates(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	for _, name := range []string{"twice", "once", "byid"} {
		b.createTopic(name, 1, nil)
	}
	id := metadataTopics(t, cl, false, "byid")["byid"].TopicID

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10000
	for _, name := range []string{"twice", "once", "twice"} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	for range 2 {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 3 {
		t.Fatalf("%d answers, want 3 (one per distinct name or ID): %+v", len(resp.Topics), resp.Topics)
	}
	wantAnswer(t, "twice", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidRequest, "Duplicate topic name.")
	if deref(resp.Topics[1].Topic) != "once" || resp.Topics[1].ErrorCode != 0 {
		t.Errorf("once: %s %v, want deleted", deref(resp.Topics[1].Topic), kerr.ErrorForCode(resp.Topics[1].ErrorCode))
	}
	wantAnswer(t, "byid twice", resp.Topics[2].ErrorCode, resp.Topics[2].ErrorMessage, kerr.InvalidRequest, "Duplicate topic id.")
	expectPartitions(t, cl, "twice", 1)
	expectPartitions(t, cl, "byid", 1)
	expectNoTopic(t, cl, "once")
}

// TestElectLeadersOfAllPartitionsLeavesOutThoseNotNeeded: with null topics
// Kafka answers only the partitions an election was needed for
// (ReplicationControlManager.electLeaders), listing each topic still.
func TestElectLeadersOfAllPartitionsLeavesOutThoseNotNeeded(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	b.createTopic("led", 3, nil)
	req := kmsg.NewPtrElectLeadersRequest()
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if len(rt.Partitions) != 0 {
			t.Errorf("topic %s: %+v, want no partitions (each led by its preferred replica)", rt.Topic, rt.Partitions)
		}
	}
	// Asked for by name, a partition is answered ELECTION_NOT_NEEDED.
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = "led", []int32{0}
	req.Topics = []kmsg.ElectLeadersRequestTopic{rt}
	if resp, err = req.RequestWith(testContext(t, 15*time.Second), cl); err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("named partition: %+v", resp.Topics)
	}
	wantCode(t, "led-0", resp.Topics[0].Partitions[0].ErrorCode, kerr.ElectionNotNeeded)
}

// TestManualAssignmentsAreCheckedAsKafkaDoes: a broker listed twice in a
// new partition's replicas is INVALID_REPLICA_ASSIGNMENT, in validate-only
// and real CreatePartitions alike; a manual CreateTopics assignment is
// held to the same partition cap as a counted one.
func TestManualAssignmentsAreCheckedAsKafkaDoes(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	b.createTopic("grow", 1, nil)
	for _, validateOnly := range []bool{true, false} {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis, req.ValidateOnly = 10000, validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", 2
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = []int32{1, 1}
		rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{a}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
		if err != nil || len(resp.Topics) != 1 {
			t.Fatalf("create partitions: %v %+v", err, resp)
		}
		wantAnswer(t, "broker 1 twice", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes the broker 1 more than once.")
	}
	expectPartitions(t, cl, "grow", 1)

	big := newTopic("big", nil)
	big.NumPartitions, big.ReplicationFactor = -1, -1
	for p := range int32(10001) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{1}
		big.ReplicaAssignment = append(big.ReplicaAssignment, a)
	}
	got := createTopicsRaw(t, cl, true, big)
	wantCode(t, "10001 assigned partitions", got[0].ErrorCode, kerr.InvalidPartitions)
}

// alterConfigsRaw sends a legacy AlterConfigs request.
func alterConfigsRaw(t *testing.T, cl *kgo.Client, resources ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Resources = resources
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil || len(resp.Resources) != len(resources) {
		t.Fatalf("alter configs: %v %+v", err, resp)
	}
	return resp.Resources
}

func legacyResource(typ kmsg.ConfigResourceType, name string, kv ...*string) kmsg.AlterConfigsRequestResource {
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	for i := 0; i < len(kv); i += 2 {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = *kv[i], kv[i+1]
		r.Configs = append(r.Configs, c)
	}
	return r
}

// incrementalRaw sends an IncrementalAlterConfigs request.
func incrementalRaw(t *testing.T, cl *kgo.Client, resources ...kmsg.IncrementalAlterConfigsRequestResource) []kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Resources = resources
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil || len(resp.Resources) != len(resources) {
		t.Fatalf("incremental alter configs: %v %+v", err, resp)
	}
	return resp.Resources
}

func incrementalResource(typ kmsg.ConfigResourceType, name string, op kmsg.IncrementalAlterConfigOp, key string, value *string) kmsg.IncrementalAlterConfigsRequestResource {
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = key, op, value
	r.Configs = append(r.Configs, c)
	return r
}

// TestAlterConfigsRefusesWhatKafkaPreprocessRefuses: a resource named twice
// (each occurrence), a key named twice, a null value (any in the legacy
// API; any but DELETE's in the incremental one) are INVALID_REQUEST, and
// APPEND or SUBTRACT on a topic config that is not a list INVALID_CONFIG
// (ConfigAdminManager.preprocess, ConfigurationControlManager).
func TestAlterConfigsRefusesWhatKafkaPreprocessRefuses(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	b.createTopic("cfg", 1, nil)
	s := kmsg.StringPtr
	const topic = kmsg.ConfigResourceTypeTopic

	got := alterConfigsRaw(t, cl,
		legacyResource(topic, "cfg", s("retention.ms"), s("1000")),
		legacyResource(topic, "cfg", s("retention.ms"), s("2000")))
	for _, r := range got {
		wantAnswer(t, "legacy repeated resource", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "Each resource must appear at most once.")
	}
	got = alterConfigsRaw(t, cl, legacyResource(topic, "cfg", s("retention.ms"), s("1000"), s("retention.ms"), s("2000")))
	wantAnswer(t, "legacy repeated key", got[0].ErrorCode, got[0].ErrorMessage, kerr.InvalidRequest, "Error due to duplicate config keys")
	got = alterConfigsRaw(t, cl, legacyResource(topic, "cfg", s("retention.ms"), nil))
	wantAnswer(t, "legacy null", got[0].ErrorCode, got[0].ErrorMessage, kerr.InvalidRequest, "Null value not supported for : retention.ms")

	inc := incrementalRaw(t, cl,
		incrementalResource(topic, "cfg", kmsg.IncrementalAlterConfigOpSet, "retention.ms", s("1000")),
		incrementalResource(topic, "cfg", kmsg.IncrementalAlterConfigOpSet, "retention.bytes", s("1000")))
	for _, r := range inc {
		wantAnswer(t, "incremental repeated resource", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "Each resource must appear at most once.")
	}
	for _, op := range []kmsg.IncrementalAlterConfigOp{kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract} {
		inc = incrementalRaw(t, cl, incrementalResource(topic, "cfg", op, "cleanup.policy", nil))
		wantAnswer(t, op.String()+" null", inc[0].ErrorCode, inc[0].ErrorMessage, kerr.InvalidRequest, "Null value not supported for : cleanup.policy")
	}
	inc = incrementalRaw(t, cl, incrementalResource(topic, "cfg", kmsg.IncrementalAlterConfigOpDelete, "cleanup.policy", nil))
	if inc[0].ErrorCode != 0 {
		t.Errorf("DELETE null: %v", kerr.ErrorForCode(inc[0].ErrorCode))
	}
	inc = incrementalRaw(t, cl, incrementalResource(topic, "cfg", kmsg.IncrementalAlterConfigOpAppend, "retention.ms", s("5")))
	wantAnswer(t, "APPEND to retention.ms", inc[0].ErrorCode, inc[0].ErrorMessage, kerr.InvalidConfig,
		"Can't APPEND to key retention.ms because its type is not LIST.")
	// The topic's configs went unchanged through all of it.
	dc := describeTopicConfigs(t, cl, "cfg")
	if v := dc["retention.ms"]; v.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms source %v, want the default", v.Source)
	}
}

// describeTopicConfigs describes a topic's configs by name.
func describeTopicConfigs(t *testing.T, cl *kgo.Client, topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	return describeConfigsOf(t, cl, kmsg.ConfigResourceTypeTopic, topic)
}

func describeConfigsOf(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe configs %s: %v %+v", name, err, resp)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

// TestClusterWideBrokerConfigsListOverriddenValues: DescribeConfigs of the
// cluster-wide broker resource ("") lists every cluster-wide dynamic value,
// also one that a broker overrides for itself, as Kafka does.
func TestClusterWideBrokerConfigsListOverriddenValues(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	const broker = kmsg.ConfigResourceTypeBroker
	s := kmsg.StringPtr
	for _, name := range []string{"", "1"} {
		value := map[string]string{"": "3600000", "1": "7200000"}[name]
		inc := incrementalRaw(t, cl, incrementalResource(broker, name, kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", s(value)))
		if inc[0].ErrorCode != 0 {
			t.Fatalf("set log.retention.ms on %q: %v %s", name, kerr.ErrorForCode(inc[0].ErrorCode), deref(inc[0].ErrorMessage))
		}
	}
	all := describeConfigsOf(t, cl, broker, "")
	c, ok := all["log.retention.ms"]
	if !ok || deref(c.Value) != "3600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("cluster-wide log.retention.ms: %v %q %v, want 3600000 DYNAMIC_DEFAULT_BROKER_CONFIG", ok, deref(c.Value), c.Source)
	}
	if len(all) != 1 {
		t.Errorf("cluster-wide resource lists %d configs, want 1", len(all))
	}
	own := describeConfigsOf(t, cl, broker, "1")
	if c := own["log.retention.ms"]; deref(c.Value) != "7200000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("broker 1 log.retention.ms: %q %v, want 7200000 DYNAMIC_BROKER_CONFIG", deref(c.Value), c.Source)
	}

	// A broker ID past int32 is no broker (it used to wrap to 1).
	inc := incrementalRaw(t, cl, incrementalResource(broker, "4294967297", kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", s("1000")))
	wantCode(t, "broker 4294967297", inc[0].ErrorCode, kerr.InvalidRequest)
	if !strings.Contains(deref(inc[0].ErrorMessage), "4294967297") {
		t.Errorf("broker 4294967297: message %q", deref(inc[0].ErrorMessage))
	}
}

// TestDescribeConfigsListsSynonyms: with include_synonyms, a config lists
// what may supply it, most precedent first, as Kafka's ConfigHelper does:
// the topic's setting, then its broker config's spellings by layer.
func TestDescribeConfigsListsSynonyms(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"log.retention.hours": "24"})
	cl := b.client()
	s := kmsg.StringPtr
	b.createTopic("syn", 1, map[string]*string{"retention.ms": s("1000")})
	inc := incrementalRaw(t, cl, incrementalResource(kmsg.ConfigResourceTypeBroker, "", kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", s("7000")))
	if inc[0].ErrorCode != 0 {
		t.Fatalf("set log.retention.ms: %v", kerr.ErrorForCode(inc[0].ErrorCode))
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, "syn", []string{"retention.ms"}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1 {
		t.Fatalf("describe: %v %+v", err, resp)
	}
	var got []string
	for _, syn := range resp.Resources[0].Configs[0].ConfigSynonyms {
		got = append(got, syn.Source.String()+" "+syn.Name+"="+deref(syn.Value))
	}
	want := []string{
		"DYNAMIC_TOPIC_CONFIG retention.ms=1000",
		"DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.ms=7000",
		"STATIC_BROKER_CONFIG log.retention.hours=24",
		"DEFAULT_CONFIG log.retention.hours=168",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("retention.ms synonyms:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// DescribeConfigs answers a resource named again with INVALID_REQUEST, not
// another copy of its configs: a request of a few kilobytes naming the
// broker a thousand times would otherwise make a response of megabytes.
func TestDescribeConfigsRepeatedResource(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client()
	req := kmsg.NewPtrDescribeConfigsRequest()
	for range 1000 {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
		req.Resources = append(req.Resources, r)
	}
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil || len(resp.Resources) != 1000 {
		t.Fatalf("describe: %v, %d resources", err, len(resp.Resources))
	}
	if r := resp.Resources[0]; r.ErrorCode != 0 || len(r.Configs) < 100 {
		t.Fatalf("first: error %d, %d configs; want every broker config", r.ErrorCode, len(r.Configs))
	}
	for i, r := range resp.Resources[1:] {
		if r.ErrorCode != kerr.InvalidRequest.Code || len(r.Configs) != 0 {
			t.Fatalf("repeat %d: error %d, %d configs; want INVALID_REQUEST and none", i+1, r.ErrorCode, len(r.Configs))
		}
	}
}
