package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// encodeCommand encodes cmd at this software's level. None of today's
// commands may be skipped by a node that does not know them, so none sets
// the ignore flag.
func encodeCommand(cmd Command) ([]byte, error) { return encodeCommandAt(cmd, commandLevel) }

func TestCommandRoundTrip(t *testing.T) {
	t.Parallel()
	for _, cmd := range []Command{
		CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1, 2}, {2, 1}}, Configs: map[string]string{"retention.ms": "1"}},
		CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{1}}},
		DeleteTopic{ID: tid(3)},
		CreatePartitions{ID: tid(4), Replicas: [][]int32{{3, 1}}},
		AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"x": str("1"), "y": nil}, Replace: true},
		RegisterBroker{Broker: Broker{ID: 7, Host: "h", Port: 9092, Rack: "r"}},
		RegisterBroker{Broker: Broker{ID: 7, Host: "h", Port: 9092, Rack: "r", Epoch: 1 << 40}},
		unfenceBroker{ID: 7, Epoch: 1 << 40},
		AlterPartition{Topic: tid(4), Leader: 3, ISR: []int32{3, 1}, BrokerEpochs: []int64{5, 0}},
		OfflineReplicas{Broker: 3, Partitions: []TopicPartitionID{{Topic: tid(4), Partition: 1}}},
		setClusterID{ClusterID: "5uuVrnwFSnSDh0H4pvQZzw"},
		ReserveProducerIDs{Above: 4242},
	} {
		b, err := encodeCommand(cmd)
		if err != nil {
			t.Fatalf("encode %#v: %v", cmd, err)
		}
		got, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		if !reflect.DeepEqual(got, cmd) {
			t.Errorf("round trip of %#v gave %#v", cmd, got)
		}
	}
}

// The payload format is persistent: a command logged by this version must
// decode the same way in every later one.
func TestCommandWireFormat(t *testing.T) {
	t.Parallel()
	b, err := encodeCommand(CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}, Configs: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	// Version 2: the ISR of a new partition is its live replicas
	// (newPartitions). Version 1 entries still decode to the same command
	// and apply as before (TestCreateTopicVersion1PutsEveryReplicaInSync).
	want := "\x01\x02\x00" + `{"name":"a","id":"qwAAAAAAAAAAAAAAAAAAAQ","replicas":[[1]],"configs":{"k":"v"}}`
	if string(b) != want {
		t.Errorf("encoded\n %q\nwant\n %q", b, want)
	}
	v1, err := decodeCommand([]byte("\x01\x01\x00" + want[3:]))
	if err != nil || !reflect.DeepEqual(v1, CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}, Configs: map[string]string{"k": "v"}}) {
		t.Errorf("version 1 decoded to %#v, %v", v1, err)
	}
	// A rejoin is RegisterBroker version 2, which a node knowing only
	// version 1 refuses rather than applying it as a plain registration.
	b, err = encodeCommand(RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 1, Fenced: true}, Rejoin: true})
	if err != nil {
		t.Fatal(err)
	}
	want = "\x05\x02\x00" + `{"broker":{"id":2,"host":"h","port":1,"rack":"","fenced":true},"rejoin":true}`
	if string(b) != want {
		t.Errorf("encoded\n %q\nwant\n %q", b, want)
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	t.Parallel()
	valid := `{"id":"qwAAAAAAAAAAAAAAAAAAAQ"}`
	tests := []struct {
		name        string
		data        string
		wantUnknown bool
		wantIgnore  bool
	}{
		{name: "empty", data: ""},
		{name: "header only: missing payload", data: "\x02\x01\x00"},
		{name: "short header", data: "\x02\x01"},
		{name: "payload not JSON", data: "\x02\x01\x00{"},
		{name: "payload null", data: "\x02\x01\x00null"},
		{name: "payload of wrong shape", data: "\x02\x01\x00{\"id\":5}"},
		{name: "topic ID too short", data: "\x02\x01\x00{\"id\":\"qwAA\"}"},
		{name: "int32 out of range", data: "\x05\x01\x00{\"broker\":{\"id\":4294967296}}"},
		{name: "unknown type", data: "\xc8\x01\x00" + valid, wantUnknown: true},
		{name: "unknown type, ignore if unknown", data: "\xc8\x01\x01" + valid, wantUnknown: true, wantIgnore: true},
		{name: "type 0", data: "\x00\x01\x01{}", wantUnknown: true, wantIgnore: true},
		{name: "unknown version", data: "\x02\x02\x00" + valid, wantUnknown: true},
		{name: "unknown version, ignore if unknown", data: "\x02\x02\x01" + valid, wantUnknown: true, wantIgnore: true},
		{name: "register broker v1 with rejoin", data: "\x05\x01\x00{\"broker\":{\"id\":1},\"rejoin\":true}"},
		{name: "register broker v2 without rejoin", data: "\x05\x02\x00{\"broker\":{\"id\":1}}"},
		{name: "register broker v3 with rejoin", data: "\x05\x03\x00{\"broker\":{\"id\":1},\"rejoin\":true,\"lost_logs\":true}"},
		{name: "register broker v3 without lost logs", data: "\x05\x03\x00{\"broker\":{\"id\":1}}"},
		{name: "register broker v2 with lost logs", data: "\x05\x02\x00{\"broker\":{\"id\":1},\"rejoin\":true,\"lost_logs\":true}"},
		{name: "register broker v4", data: "\x05\x04\x00{\"broker\":{\"id\":1}}", wantUnknown: true},
		{name: "create partitions v3 without from", data: "\x03\x03\x00{\"id\":\"qwAAAAAAAAAAAAAAAAAAAQ\",\"replicas\":[[1]]}"},
		{name: "create partitions v4", data: "\x03\x04\x00{\"id\":\"qwAAAAAAAAAAAAAAAAAAAQ\",\"replicas\":[[1]],\"from\":1}", wantUnknown: true},
		{name: "reserved flag", data: "\x02\x01\x02" + valid, wantUnknown: true},
		{name: "reserved flag, ignore if unknown", data: "\x02\x01\x03" + valid, wantUnknown: true, wantIgnore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := decodeCommand([]byte(tt.data))
			if err == nil {
				t.Fatalf("decoded %#v", cmd)
			}
			var unknown *unknownCommandError
			if errors.As(err, &unknown) != tt.wantUnknown {
				t.Fatalf("error %v: unknown = %v, want %v", err, !tt.wantUnknown, tt.wantUnknown)
			}
			if tt.wantUnknown && unknown.ignore() != tt.wantIgnore {
				t.Errorf("error %v: ignore = %v, want %v", err, unknown.ignore(), tt.wantIgnore)
			}
		})
	}
}

// An unknown command with the ignore flag is skipped; without it Apply
// fails the command, and in neither case does the image change.
func TestApplyUnknownCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		wantErr bool
	}{
		{name: "ignore if unknown", data: "\xc8\x01\x01{}"},
		{name: "must understand", data: "\xc8\x01\x00{}", wantErr: true},
		{name: "garbage", data: "\x01", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := newPublisher()
			f := newFSM(slog.New(slog.DiscardHandler), pub)
			before, changed := pub.image(), pub.changed()
			resp := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: []byte(tt.data)})
			if err, _ := resp.(error); (err != nil) != tt.wantErr {
				t.Fatalf("Apply returned %v, want error: %v", resp, tt.wantErr)
			}
			if pub.image() != before || f.state.Index != 0 {
				t.Errorf("image changed")
			}
			select {
			case <-changed:
				t.Errorf("Changed() closed")
			default:
			}
		})
	}
}

func TestSnapshotRestoresTheSameImage(t *testing.T) {
	t.Parallel()
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	for i, c := range []Command{
		setClusterID{ClusterID: "abc"},
		RegisterBroker{Broker: Broker{ID: 2, Host: "h2", Port: 2}},
		RegisterBroker{Broker: Broker{ID: 1, Host: "h1", Port: 1, Rack: "r"}},
		CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{2, 1}}},
		CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}, {2}}, Configs: map[string]string{"k": "v"}},
		AlterConfigs{ResourceType: 4, Name: "2", Set: map[string]*string{"x": str("y")}},
	} {
		data, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if resp := f.Apply(&raft.Log{Index: uint64(10 + i), Type: raft.LogCommand, Data: data}); resp != nil {
			t.Fatalf("apply %#v: %v", c, resp)
		}
	}
	var buf bytes.Buffer
	snap, _ := f.Snapshot()
	if err := snap.Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	first := bytes.Clone(buf.Bytes())

	pub := newPublisher()
	g := newFSM(slog.New(slog.DiscardHandler), pub)
	changed := pub.changed()
	if err := g.Restore(nopCloser{bytes.NewReader(first)}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutDelta(g.state), withoutDelta(f.state)) {
		t.Errorf("restored %+v\nwant %+v", g.state, f.state)
	}
	if pub.image().Index != 15 || pub.image().ClusterID != "abc" {
		t.Errorf("published image at index %d cluster %q", pub.image().Index, pub.image().ClusterID)
	}
	select {
	case <-changed:
	default:
		t.Error("Restore did not close Changed()")
	}
	// The encoding is deterministic: same state, same bytes.
	buf.Reset()
	snap, _ = g.Snapshot()
	if err := snap.Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), first) {
		t.Errorf("snapshot of the restored state differs:\n%s\n%s", buf.Bytes(), first)
	}
	var s wireSnapshot
	if err := json.Unmarshal(first, &s); err != nil || s.Topics[0].Name != "a" || s.Brokers[0].ID != 1 {
		t.Errorf("snapshot is not sorted: %s (%v)", first, err)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		``,
		`{"version":2}`,
		`{"version":1,"topics":[{"name":"a","id":"qwAAAAAAAAAAAAAAAAAAAQ"},{"name":"a","id":"qwAAAAAAAAAAAAAAAAAAAg"}]}`,
		`{"version":1,"topics":[{"name":"a","id":"qwAAAAAAAAAAAAAAAAAAAQ"},{"name":"b","id":"qwAAAAAAAAAAAAAAAAAAAQ"}]}`,
	} {
		f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
		if err := f.Restore(nopCloser{bytes.NewReader([]byte(data))}); err == nil {
			t.Errorf("Restore(%s) succeeded", data)
		}
	}
}

type memSink struct{ *bytes.Buffer }

func (memSink) ID() string    { return "mem" }
func (memSink) Cancel() error { return nil }
func (memSink) Close() error  { return nil }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
