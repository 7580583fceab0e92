package broker

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

// A cluster default changed so that a topic's own settings no longer pass
// the checks across settings (its min.compaction.lag.ms above the new
// log.cleaner.max.compaction.lag.ms) leaves the topic its settings, as
// Kafka's LogConfig.fromProps does. Before, the topic fell back to every
// default: a compacted topic became cleanup.policy=delete, and its
// DescribeConfigs failed.
func TestStoredTopicConfigsSurviveAClusterDefaultChange(t *testing.T) {
	e := newLeaderEnv(t)
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "changelog", ID: id, Replicas: [][]int32{{1}},
		Configs: map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"}})
	e.waitFor("leadership of changelog", func() bool { p, ok := e.mgr.Partition("changelog", 0); return ok && p.IsLeader() })
	if !e.part("changelog", 0).Log().Cleanability(0).Compacted {
		t.Fatal("the compacted topic's log does not compact")
	}

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = "log.cleaner.max.compaction.lag.ms", kmsg.IncrementalAlterConfigOpSet, new("600000")
	r.Configs = append(r.Configs, c)
	alter.Resources = append(alter.Resources, r)
	resp := e.b.Handle(e.ctx, &Client{ID: "cfg-test", Principal: Anonymous}, alter).Response.(*kmsg.IncrementalAlterConfigsResponse)
	if code := resp.Resources[0].ErrorCode; code != 0 {
		t.Fatalf("set the cluster default: error %d", code)
	}
	e.waitFor("the new default to reach the broker", func() bool {
		return e.b.brokerConfig(e.node.Image()).Int64("log.cleaner.max.compaction.lag.ms") == 600000
	})
	// The log keeps compacting once the image is reconciled.
	for range 3 {
		e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 7, Host: "127.0.0.1", Port: 1}})
	}
	if !e.part("changelog", 0).Log().Cleanability(0).Compacted {
		t.Fatal("after the cluster default changed, the compacted topic's log no longer compacts")
	}

	describe := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName, dr.ConfigNames = kmsg.ConfigResourceTypeTopic, "changelog", []string{"cleanup.policy"}
	describe.Resources = append(describe.Resources, dr)
	dresp := e.b.Handle(e.ctx, &Client{ID: "cfg-test", Principal: Anonymous}, describe).Response.(*kmsg.DescribeConfigsResponse)
	res := dresp.Resources[0]
	if res.ErrorCode != 0 || len(res.Configs) != 1 || res.Configs[0].Value == nil || *res.Configs[0].Value != "compact" {
		t.Fatalf("describe changelog's cleanup.policy: error %d, configs %+v; want compact", res.ErrorCode, res.Configs)
	}
}

// DescribeConfigs with an empty (not null) list of names describes every
// config, as Kafka's ConfigHelper; IncrementalAlterConfigs deletes a config
// this broker does not know (one removed since it was set, or never set),
// as Kafka does.
func TestDescribeEmptyNamesAndDeleteUnknownConfig(t *testing.T) {
	e := newLeaderEnv(t)
	e.createTopic("cfg", []int32{1})
	client := &Client{ID: "cfg-test", Principal: Anonymous}

	describe := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName, dr.ConfigNames = kmsg.ConfigResourceTypeTopic, "cfg", []string{}
	describe.Resources = append(describe.Resources, dr)
	res := e.b.Handle(e.ctx, client, describe).Response.(*kmsg.DescribeConfigsResponse).Resources[0]
	if res.ErrorCode != 0 || len(res.Configs) < 20 {
		t.Fatalf("describe with no names: error %d, %d configs; want them all", res.ErrorCode, len(res.Configs))
	}

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
	for _, name := range []string{"message.format.version", "no.such.config"} {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = name, kmsg.IncrementalAlterConfigOpDelete
		r.Configs = append(r.Configs, c)
	}
	alter.Resources = append(alter.Resources, r)
	resp := e.b.Handle(e.ctx, client, alter).Response.(*kmsg.IncrementalAlterConfigsResponse)
	if code := resp.Resources[0].ErrorCode; code != 0 {
		t.Fatalf("delete of unknown configs: error %d (%v)", code, resp.Resources[0].ErrorMessage)
	}
}

// A dynamic broker setting valid alone that would leave the compaction lag
// pair out of order is refused when it is set. Before, it was acknowledged
// and the earlier setting of the pair then silently dropped.
func TestDynamicBrokerSettingThatBreaksThePairIsRefused(t *testing.T) {
	e := newLeaderEnv(t)
	client := &Client{ID: "cfg-test", Principal: Anonymous}
	set := func(name, value string) int16 {
		alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, ""
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, kmsg.IncrementalAlterConfigOpSet, new(value)
		r.Configs = append(r.Configs, c)
		alter.Resources = append(alter.Resources, r)
		return e.b.Handle(e.ctx, client, alter).Response.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
	}
	if code := set("log.cleaner.min.compaction.lag.ms", "1000"); code != 0 {
		t.Fatalf("set min: error %d", code)
	}
	if code := set("log.cleaner.max.compaction.lag.ms", "500"); code != kerr.InvalidConfig.Code {
		t.Fatalf("set max below min: error %d, want INVALID_CONFIG", code)
	}
	e.waitFor("min to stay", func() bool {
		return e.b.brokerConfig(e.node.Image()).Int64("log.cleaner.min.compaction.lag.ms") == 1000
	})
}

// Concurrent IncrementalAlterConfigs APPENDs to one list config on one
// broker all land: each change reads what the one before committed.
// Before, they read the same old value and most entries were lost.
func TestConcurrentAppendsToOneListConfigAllLand(t *testing.T) {
	e := newLeaderEnv(t)
	e.createTopic("throttled", []int32{1})
	client := &Client{ID: "cfg-test", Principal: Anonymous}
	const n = 16
	codes := make(chan int16, n)
	for i := range n {
		go func() {
			alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r := kmsg.NewIncrementalAlterConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "throttled"
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op, c.Value = "follower.replication.throttled.replicas", kmsg.IncrementalAlterConfigOpAppend, new(fmt.Sprintf("%d:1", i))
			r.Configs = append(r.Configs, c)
			alter.Resources = append(alter.Resources, r)
			codes <- e.b.Handle(e.ctx, client, alter).Response.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
		}()
	}
	for range n {
		if code := <-codes; code != 0 {
			t.Fatalf("append: error %d", code)
		}
	}
	got := e.node.Image().Topics.Value("throttled").Configs["follower.replication.throttled.replicas"]
	if entries := strings.Split(got, ","); len(entries) != n {
		t.Fatalf("after %d appends the list holds %d entries: %q", n, len(entries), got)
	}
}
