package test

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestServeRefusesBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-c", "log.retention.ms=soon"}, "log.retention.ms"},
		{[]string{"-c", "no.such.setting=1"}, "no.such.setting"},
		{[]string{"-c", "num.partitions=0"}, "num.partitions"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--listen", "127.0.0.1:notaport"}, "127.0.0.1:notaport"},
		{[]string{"--bogus-flag"}, "bogus-flag"},
	}
	for _, tt := range tests {
		args := append([]string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, tt.args...)
		out, err := exec.Command(sluiceBin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("%v: sluice started, want it to refuse", tt.args)
			continue
		}
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: output %q does not name %q", tt.args, out, tt.want)
		}
	}
}

// SIGTERM stops the broker cleanly: exit status 0, and everything
// acknowledged is there after a restart. --advertise is what Metadata reports.
func TestServeAdvertisesAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, dir, "127.0.0.1:0")
	cl := newClient(t, p.addr)
	createTopicWith(t, cl, "stop", 2)
	records := makeRecords("stop", 2000, 9)
	produceAll(t, cl, records)
	cl.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("sluice did not stop within 30s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0:\n%s", code, p.logs())
	}
	if !strings.Contains(p.logs(), "shutting down") {
		t.Fatalf("no shutdown log line:\n%s", p.logs())
	}
	p.restart()
	checkSame(t, records, consumeAll(t, p.addr, "stop", len(records)))

	// The advertised address is what Metadata reports.
	q := startProcess(t, t.TempDir(), "127.0.0.1:0", "--advertise", "localhost:19092", "--node-id", "7")
	meta, err := kadm.NewClient(newClient(t, q.addr)).BrokerMetadata(testContext(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Brokers) != 1 || meta.Brokers[0].Host != "localhost" || meta.Brokers[0].Port != 19092 || meta.Brokers[0].NodeID != 7 {
		t.Fatalf("brokers %+v, want node 7 at localhost:19092", meta.Brokers)
	}
}

func TestDescribeClusterAndOffsetForLeaderEpoch(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("epochs", 1, nil)
	cl := b.client()
	produceAll(t, cl, makeRecords("epochs", 10, 5))
	ctx := testContext(t, 10*time.Second)

	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.EndpointType = 1
	dresp, err := dc.RequestWith(ctx, cl)
	if err != nil || dresp.ErrorCode != 0 {
		t.Fatalf("DescribeCluster: %v %d", err, dresp.ErrorCode)
	}
	if dresp.ClusterID == "" || dresp.ControllerID != 1 || len(dresp.Brokers) != 1 || dresp.Brokers[0].NodeID != 1 {
		t.Fatalf("DescribeCluster: %+v", dresp)
	}

	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "epochs"
	for _, tc := range []struct{ current, epoch int32 }{{-1, 0}, {0, 0}, {5, 0}} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = tc.current, tc.epoch
		rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
		req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if tc.current == 5 {
			if p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
				t.Fatalf("current epoch 5: error %d, want UNKNOWN_LEADER_EPOCH", p.ErrorCode)
			}
			continue
		}
		if p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 10 {
			t.Fatalf("epoch 0: error %d epoch %d end %d, want 0/0/10", p.ErrorCode, p.LeaderEpoch, p.EndOffset)
		}
	}
}
