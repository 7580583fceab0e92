package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UnregisterBroker (API 64, kafka-cluster.sh unregister) removes a broker
// that is gone: Metadata and DescribeCluster stop listing it, the
// partitions it led get leaders among the others, it leaves every ISR it
// was not the last member of and stays a replica (Kafka keeps it there
// until a reassignment). An ID that is not registered is
// BROKER_ID_NOT_REGISTERED. The broker is removed once with a raw kmsg
// request through kgo, and, after it came back, once with the CLI.
func TestUnregisterBrokerRemovesADeadBroker(t *testing.T) {
	t.Parallel()
	c := startInProcess(t, 3, nil)
	ctx := testContext(t, 2*time.Minute)
	adm := c.admin()
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "u"); err != nil {
		t.Fatal(err)
	}
	waitISR(c, "u", 0, 3, 30*time.Second)
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := others(c, md.Controller)[0] // the quorum keeps its leader
	via := others(c, victim)[0]
	cl := c.client()

	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(av.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool {
		return k.ApiKey == int16(kmsg.UnregisterBroker) && k.MinVersion == 0 && k.MaxVersion == kmsg.NewPtrUnregisterBrokerRequest().MaxVersion()
	}) {
		t.Fatalf("ApiVersions does not list UnregisterBroker 0-%d", kmsg.NewPtrUnregisterBrokerRequest().MaxVersion())
	}

	removed := func(how string) {
		t.Helper()
		td := waitTopic(c, "u", via, 30*time.Second, fmt.Sprintf("broker %d out of every ISR and leadership (%s)", victim, how), func(td kadm.TopicDetail) bool {
			for _, p := range td.Partitions {
				if p.Leader < 0 || p.Leader == victim || slices.Contains(p.ISR, victim) || !slices.Contains(p.Replicas, victim) {
					return false
				}
			}
			return true
		})
		t.Logf("after %s: %s", how, describePartitions(td))
		waitFor(t, 30*time.Second, fmt.Sprintf("Metadata and DescribeCluster without broker %d (%s)", victim, how), func() bool {
			m, err := metadataAt(ctx, c, via)
			if err != nil || m.Brokers.NodeIDs() == nil || slices.Contains(m.Brokers.NodeIDs(), victim) {
				return false
			}
			resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
			if err != nil || resp.ErrorCode != 0 {
				return false
			}
			return !slices.ContainsFunc(resp.Brokers, func(b kmsg.DescribeClusterResponseBroker) bool { return b.NodeID == victim })
		})
	}

	// Killed, not stopped: without a controlled shutdown it still leads
	// until it is fenced or, here, unregistered.
	c.kill(victim)
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = victim
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("UnregisterBroker %d: %v", victim, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("UnregisterBroker %d: %v", victim, err)
	}
	removed("UnregisterBroker through kgo")

	// A second time, and an ID never registered: BROKER_ID_NOT_REGISTERED.
	for _, id := range []int32{victim, 42} {
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = id
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("UnregisterBroker %d: %v", id, err)
		}
		if resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
			t.Fatalf("UnregisterBroker %d: code %d, want BROKER_ID_NOT_REGISTERED", id, resp.ErrorCode)
		}
	}

	// Back on its data, it registers again and catches up.
	c.start(victim)
	waitISR(c, "u", via, 3, time.Minute)

	c.kill(victim)
	if out := cli(t, c.addr(via), "", "cluster", "unregister", fmt.Sprint(victim)); !strings.Contains(out, fmt.Sprintf("Broker %d unregistered.", victim)) {
		t.Fatalf("cluster unregister printed %q", out)
	}
	removed("sluice cluster unregister")
	cliFails(t, c.addr(via), "BROKER_ID_NOT_REGISTERED", "cluster", "unregister", "42")
}
