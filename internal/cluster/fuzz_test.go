package cluster

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/acl"
)

// fuzzImage is a populated image for fuzzed commands to act on.
func fuzzImage(t testing.TB) *Image {
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	img := f.state
	for i, c := range []Command{
		setClusterID{ClusterID: "abc"},
		RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 1, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 1, Protocol: "PLAINTEXT"}}}},
		UpsertScramCredential{User: "bob", Credential: ScramCredential{Mechanism: "SCRAM-SHA-512", Salt: []byte("s"), Iterations: 4096, StoredKey: []byte{1}, ServerKey: []byte{2}}},
		CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}, {1, 2}}, Configs: map[string]string{"k": "v"}},
		AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"k": str("v")}},
		CreateAcls{ACLs: []acl.Binding{
			{ResourceType: acl.ResourceTopic, ResourceName: "a", PatternType: acl.PatternLiteral, Principal: "User:alice", Host: "*", Operation: acl.OpRead, Permission: acl.Allow},
			{ResourceType: acl.ResourceTopic, ResourceName: "lo", PatternType: acl.PatternPrefixed, Principal: "User:*", Host: "*", Operation: acl.OpWrite, Permission: acl.Deny},
		}},
	} {
		data, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = f.applyCommand(img, data, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// FuzzDecodeCommand feeds untrusted bytes to the command decoder and the
// FSM: no input panics, a decoded command re-encodes stably, and applying
// it never changes the image it started from (copy-on-write) and yields a
// consistent image. Seeds are in testdata/fuzz/FuzzDecodeCommand.
func FuzzDecodeCommand(f *testing.F) {
	base := fuzzImage(f)
	baseJSON, err := json.Marshal(snapshotOf(base))
	if err != nil {
		f.Fatal(err)
	}
	fsm := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := decodeCommand(data)
		if err == nil {
			enc, err := encodeCommand(cmd)
			if err != nil {
				t.Fatalf("re-encode %#v: %v", cmd, err)
			}
			again, err := decodeCommand(enc)
			if err != nil {
				t.Fatalf("decode of re-encoded %q: %v", enc, err)
			}
			if enc2, _ := encodeCommand(again); !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding is not stable:\n%q\n%q", enc, enc2)
			}
		}
		img, err := fsm.applyCommand(base, data, 100)
		if now, _ := json.Marshal(snapshotOf(base)); !bytes.Equal(now, baseJSON) {
			t.Fatalf("applying %q modified the previous image", data)
		}
		if err != nil {
			return
		}
		if all := img.ACLs.All(); len(all) != img.ACLs.Len() {
			t.Fatalf("ACL set holds %d ACLs, counts %d", len(all), img.ACLs.Len())
		}
		if img.Topics.Len() != img.TopicsByID.Len() {
			t.Fatalf("%d topics by name, %d by ID", img.Topics.Len(), img.TopicsByID.Len())
		}
		for name, tp := range img.Topics.All() {
			if tp.Name != name || img.TopicsByID.Value(tp.ID) != tp || tp.Configs == nil {
				t.Fatalf("inconsistent topic %q: %+v", name, tp)
			}
			for i, p := range tp.Partitions {
				if p.Index != int32(i) || len(p.Replicas) == 0 || (p.Leader != noLeader && !slices.Contains(p.Replicas, p.Leader)) ||
					(p.Leader != noLeader && !slices.Contains(p.ISR, p.Leader)) {
					t.Fatalf("topic %q partition %d: %+v", name, i, p)
				}
			}
		}
	})
}
