package test

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quorumAt sends req to the broker at addr and returns its response.
func quorumAt[Resp kmsg.Response](t testing.TB, addr string, req kmsg.Request) Resp {
	t.Helper()
	cl := newClient(t, addr)
	defer cl.Close()
	resp, err := cl.SeedBrokers()[0].Request(testContext(t, 20*time.Second), req)
	if err != nil {
		t.Fatalf("%T to %s: %v", req, addr, err)
	}
	return resp.(Resp)
}

// describeQuorumAt asks the broker at addr to describe the metadata quorum.
func describeQuorumAt(t testing.TB, addr string) kmsg.DescribeQuorumResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp := quorumAt[*kmsg.DescribeQuorumResponse](t, addr, req)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("DescribeQuorum at %s: %v", addr, err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("DescribeQuorum at %s: %v", addr, err)
	}
	return p
}

func replicaIDs(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []int32 {
	var ids []int32
	for _, r := range rs {
		ids = append(ids, r.ReplicaID)
	}
	slices.Sort(ids)
	return ids
}

// waitQuorum describes the quorum at addr until ok accepts it.
func waitQuorum(t testing.TB, addr string, what string, ok func(kmsg.DescribeQuorumResponseTopicPartition) bool) kmsg.DescribeQuorumResponseTopicPartition {
	t.Helper()
	var p kmsg.DescribeQuorumResponseTopicPartition
	waitForErr(t, 30*time.Second, "a quorum with "+what, func() error {
		if p = describeQuorumAt(t, addr); ok(p) {
			return nil
		}
		return fmt.Errorf("leader %d epoch %d hw %d voters %+v observers %+v", p.LeaderID, p.LeaderEpoch, p.HighWatermark, p.CurrentVoters, p.Observers)
	})
	return p
}

func addVoterAt(t testing.TB, addr string, clusterID *string, id int32, raftAddr string) *kmsg.AddRaftVoterResponse {
	t.Helper()
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.ClusterID, req.VoterID, req.TimeoutMillis = clusterID, id, 15000
	host, port, err := net.SplitHostPort(raftAddr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	l := kmsg.NewAddRaftVoterRequestListener()
	l.Name, l.Host, l.Port = "CONTROLLER", host, uint16(p)
	req.Listeners = append(req.Listeners, l)
	return quorumAt[*kmsg.AddRaftVoterResponse](t, addr, req)
}

func removeVoterAt(t testing.TB, addr string, id int32) *kmsg.RemoveRaftVoterResponse {
	t.Helper()
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID = id
	return quorumAt[*kmsg.RemoveRaftVoterResponse](t, addr, req)
}

func wantQuorumCode(t testing.TB, what string, code int16, msg *string, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if code != wantCode {
		m := ""
		if msg != nil {
			m = *msg
		}
		t.Fatalf("%s: error %v (%s), want %v", what, kerr.ErrorForCode(code), m, want)
	}
}

// A dead voter is replaced while the quorum keeps committing: remove it,
// start a node with a new ID, make it a voter, and lose another original
// voter; the new voter carries the majority, and keeps its place across a
// restart. On processes and on in-process brokers.
func TestReplaceDeadVoter(t *testing.T) {
	forEachKind(t, 3, fastFailover, replaceDeadVoter)
}

func replaceDeadVoter(t *testing.T, c cluster) {
	cl := c.client()
	defer cl.Close()
	createTopicWith(t, cl, "before", 1)

	all := waitQuorum(t, c.addr(1), "three voters with positions", func(p kmsg.DescribeQuorumResponseTopicPartition) bool {
		if p.LeaderID < 1 || !slices.Equal(replicaIDs(p.CurrentVoters), []int32{1, 2, 3}) || p.HighWatermark <= 0 {
			return false
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset < 0 || v.LastFetchTimestamp <= 0 {
				return false
			}
		}
		return true
	})
	leader := all.LeaderID
	if all.LeaderEpoch < 1 {
		t.Fatalf("leader epoch %d", all.LeaderEpoch)
	}
	// Every broker answers, leader or not, and a victim that is not the
	// leader keeps this test free of elections.
	var victim, other int32
	for _, id := range []int32{1, 2, 3} {
		if id == leader {
			continue
		}
		if victim == 0 {
			victim = id
		} else {
			other = id
		}
	}
	if got := describeQuorumAt(t, c.addr(victim)); got.LeaderID != leader {
		t.Fatalf("node %d names leader %d, node 1 named %d", victim, got.LeaderID, leader)
	}

	c.kill(victim)
	createTopicWith(t, cl, "one-voter-dead", 1)

	via := c.addr(leader)
	r := removeVoterAt(t, c.addr(other), victim)
	wantQuorumCode(t, "remove the dead voter", r.ErrorCode, r.ErrorMessage, nil)
	r = removeVoterAt(t, via, victim)
	wantQuorumCode(t, "remove it again", r.ErrorCode, r.ErrorMessage, kerr.VoterNotFound)
	p := describeQuorumAt(t, via)
	if got := replicaIDs(p.CurrentVoters); !slices.Equal(got, sortedIDs(leader, other)) || slices.Contains(replicaIDs(p.Observers), victim) {
		t.Fatalf("after removing %d: voters %v observers %v", victim, got, replicaIDs(p.Observers))
	}
	createTopicWith(t, cl, "two-voters", 1)

	// A node that does not run cannot become a voter; neither can one for
	// another cluster, nor one that is a voter already.
	a := addVoterAt(t, via, nil, 9, freeLoopbackAddr(t))
	wantQuorumCode(t, "add a voter that does not run", a.ErrorCode, a.ErrorMessage, kerr.InvalidRequest)
	a = addVoterAt(t, via, nil, other, c.controllerAddr(other))
	wantQuorumCode(t, "add a voter twice", a.ErrorCode, a.ErrorMessage, kerr.DuplicateVoter)

	const fresh = 4
	mustFault(t, c.add(fresh))
	freshAddr := c.controllerAddr(fresh)
	waitQuorum(t, via, "the new node as an observer", func(p kmsg.DescribeQuorumResponseTopicPartition) bool {
		return slices.Contains(replicaIDs(p.Observers), fresh)
	})
	bogus := "not-this-cluster"
	a = addVoterAt(t, via, &bogus, fresh, freshAddr)
	wantQuorumCode(t, "add with another cluster's ID", a.ErrorCode, a.ErrorMessage, kerr.InconsistentClusterID)
	a = addVoterAt(t, c.addr(other), nil, fresh, freshAddr)
	wantQuorumCode(t, "add the new voter", a.ErrorCode, a.ErrorMessage, nil)
	waitQuorum(t, via, "the new voter caught up", func(p kmsg.DescribeQuorumResponseTopicPartition) bool {
		if !slices.Equal(replicaIDs(p.CurrentVoters), sortedIDs(leader, other, fresh)) || len(p.Observers) != 0 {
			return false
		}
		for _, v := range p.CurrentVoters {
			if v.ReplicaID == fresh {
				return v.LogEndOffset >= p.HighWatermark && v.LastCaughtUpTimestamp > 0
			}
		}
		return false
	})
	createTopicWith(t, cl, "new-voter", 1)

	// The change is in the Raft log: a restarted new voter is one still.
	c.kill(fresh)
	c.start(fresh)
	p = waitQuorum(t, c.addr(fresh), "the restarted voter", func(p kmsg.DescribeQuorumResponseTopicPartition) bool {
		return slices.Equal(replicaIDs(p.CurrentVoters), sortedIDs(leader, other, fresh)) && p.LeaderID > 0
	})

	// Without `other`, the leader and the new voter are the majority.
	stop := other
	if p.LeaderID == other {
		stop = leader
	}
	c.kill(stop)
	createTopicWith(t, newClient(t, c.addr(fresh)), "after-replacement", 1)
	survivor := sortedIDs(leader, other)[0]
	if survivor == stop {
		survivor = sortedIDs(leader, other)[1]
	}
	waitQuorum(t, c.addr(fresh), "a leader among the survivors", func(p kmsg.DescribeQuorumResponseTopicPartition) bool {
		return p.LeaderID == survivor || p.LeaderID == fresh
	})
}

func sortedIDs(ids ...int32) []int32 {
	return slices.Sorted(slices.Values(ids))
}

// DescribeQuorum names one partition, __cluster_metadata-0; anything else
// is refused without harm.
func TestDescribeQuorumBadInput(t *testing.T) {
	b := startBroker(t, nil)
	req := kmsg.NewPtrDescribeQuorumRequest()
	resp := quorumAt[*kmsg.DescribeQuorumResponse](t, b.addr, req)
	wantQuorumCode(t, "no partition", resp.ErrorCode, resp.ErrorMessage, kerr.InvalidRequest)

	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "other"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp = quorumAt[*kmsg.DescribeQuorumResponse](t, b.addr, req)
	if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("another topic: %+v", resp)
	}

	// A one-node cluster describes itself and cannot change its voters.
	p := describeQuorumAt(t, b.addr)
	if p.LeaderID != 1 || !slices.Equal(replicaIDs(p.CurrentVoters), []int32{1}) || p.CurrentVoters[0].LogEndOffset < p.HighWatermark {
		t.Fatalf("one node: %+v", p)
	}
	r := removeVoterAt(t, b.addr, 1)
	wantQuorumCode(t, "remove the only voter", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest)
	a := addVoterAt(t, b.addr, nil, 2, "127.0.0.1:1")
	wantQuorumCode(t, "add to a one-node cluster", a.ErrorCode, a.ErrorMessage, kerr.InvalidRequest)
}

// `sluice cluster voters` lists the quorum, removes a running voter (it
// stays an observer) and adds it back, with clear refusals; on processes
// and on in-process brokers.
func TestCLIVoters(t *testing.T) {
	forEachKind(t, 3, fastFailover, cliVoters)
}

func cliVoters(t *testing.T, c cluster) {
	seeds := strings.Join(c.seeds(), ",")
	type listing struct {
		LeaderID      int32 `json:"leader_id"`
		Epoch         int32 `json:"epoch"`
		HighWatermark int64 `json:"high_watermark"`
		Members       []struct {
			ID           int32  `json:"id"`
			Role         string `json:"role"`
			Address      string `json:"address"`
			LogEndOffset int64  `json:"log_end_offset"`
		} `json:"members"`
	}
	list := func() (listing, map[int32]string) {
		var l listing
		out := cli(t, seeds, "", "cluster", "voters", "list", "--output", "json")
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("voters list: %v\n%s", err, out)
		}
		roles := map[int32]string{}
		for _, m := range l.Members {
			roles[m.ID] = m.Role
		}
		return l, roles
	}
	l, roles := list()
	if l.LeaderID < 1 || l.Epoch < 1 || l.HighWatermark < 1 || len(roles) != 3 || roles[l.LeaderID] != "leader" {
		t.Fatalf("voters list: %+v", l)
	}
	for _, m := range l.Members {
		if m.Address != c.controllerAddr(m.ID) {
			t.Fatalf("voter %d at %q, want %s", m.ID, m.Address, c.controllerAddr(m.ID))
		}
	}
	victim := int32(3)
	if l.LeaderID == victim {
		victim = 2
	}
	id := strconv.Itoa(int(victim))
	expectLines(t, "remove", cli(t, seeds, "", "cluster", "voters", "remove", id), "Voter "+id+" removed.")
	if _, roles = list(); roles[victim] != "observer" || len(roles) != 3 {
		t.Fatalf("after removing running voter %d: %v", victim, roles)
	}
	cliFails(t, seeds, "VOTER_NOT_FOUND", "cluster", "voters", "remove", id)
	cliFails(t, seeds, "INVALID_REQUEST", "cluster", "voters", "add", "7", freeLoopbackAddr(t))
	cliMisused(t, seeds, "want host:port", "cluster", "voters", "add", id, "nowhere")
	cliMisused(t, seeds, "node ID", "cluster", "voters", "remove", "x")
	out := cli(t, seeds, "", "cluster", "voters", "add", id, c.controllerAddr(victim), "--output", "json")
	if !strings.Contains(out, `"result":"added"`) {
		t.Fatalf("add --output json: %s", out)
	}
	if _, roles = list(); roles[victim] != "voter" && roles[victim] != "leader" {
		t.Fatalf("after adding %d back: %v", victim, roles)
	}
	table := cli(t, seeds, "", "cluster", "voters", "list")
	if !strings.Contains(table, "LOG-END-OFFSET") || !strings.Contains(table, "leader") || !strings.Contains(table, c.controllerAddr(victim)) {
		t.Fatalf("voters list table:\n%s", table)
	}
}

// With an authorizer, DescribeQuorum needs DESCRIBE on the cluster and
// voter changes ALTER, as in Kafka; a principal with no ACLs gets neither.
func TestQuorumAPIsNeedClusterACLs(t *testing.T) {
	b := startBroker(t, map[string]string{"authorizer.class.name": "acl"})
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	d := quorumAt[*kmsg.DescribeQuorumResponse](t, b.addr, req)
	wantQuorumCode(t, "describe quorum", d.ErrorCode, d.ErrorMessage, kerr.ClusterAuthorizationFailed)
	a := addVoterAt(t, b.addr, nil, 2, "127.0.0.1:1")
	wantQuorumCode(t, "add voter", a.ErrorCode, a.ErrorMessage, kerr.ClusterAuthorizationFailed)
	r := removeVoterAt(t, b.addr, 1)
	wantQuorumCode(t, "remove voter", r.ErrorCode, r.ErrorMessage, kerr.ClusterAuthorizationFailed)
}
