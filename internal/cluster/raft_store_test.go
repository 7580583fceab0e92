package cluster

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// TestLogStoreReopensAfterTailTruncation: a follower whose log diverged
// from a new leader's has Raft delete its log's tail ("clearing log
// suffix"). That seals the open segment; the store must still read every
// entry it kept after the node restarts, or Raft's start-up cannot read
// its log (a broker once panicked there with "sealed segment has no index
// block" after such a truncation and a restart). Truncations are tried
// both inside the open segment and after a rotation.
func TestLogStoreReopensAfterTailTruncation(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name        string
		write, keep uint64
		valueSize   int
	}{
		{"in the open segment", 20, 17, 64},
		{"across a segment rotation", 400, 250, 32 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openLogStore(dir, logger)
			if err != nil {
				t.Fatal(err)
			}
			for i := uint64(1); i <= tc.write; i++ {
				if err := s.StoreLog(&raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: entryData(i, tc.valueSize)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.DeleteRange(tc.keep+1, tc.write); err != nil {
				t.Fatal(err)
			}
			// The new leader's entries follow the kept ones.
			for i := tc.keep + 1; i <= tc.keep+3; i++ {
				if err := s.StoreLog(&raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: entryData(i, tc.valueSize)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = openLogStore(dir, logger)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			last, err := s.LastIndex()
			if err != nil || last != tc.keep+3 {
				t.Fatalf("last index after reopen = %d, %v; want %d", last, err, tc.keep+3)
			}
			for i := uint64(1); i <= last; i++ {
				var l raft.Log
				if err := s.GetLog(i, &l); err != nil {
					t.Fatalf("read entry %d after reopen: %v", i, err)
				}
				wantTerm := uint64(1)
				if i > tc.keep {
					wantTerm = 2
				}
				if l.Term != wantTerm || string(l.Data) != string(entryData(i, tc.valueSize)) {
					t.Fatalf("entry %d after reopen: term %d, %d bytes; want term %d", i, l.Term, len(l.Data), wantTerm)
				}
			}
		})
	}
}

func entryData(i uint64, size int) []byte {
	b := make([]byte, size)
	copy(b, fmt.Sprintf("entry %d", i))
	return b
}

// unreadableStore is a log store whose entry at bad cannot be read.
type unreadableStore struct {
	*raft.InmemStore
	bad uint64
}

func (s unreadableStore) GetLog(i uint64, l *raft.Log) error {
	if i == s.bad {
		return fmt.Errorf("entry %d is unreadable", i)
	}
	return s.InmemStore.GetLog(i, l)
}

func (unreadableStore) Close() error { return nil }

// TestRaftStartOnUnreadableLogIsAnError: Raft panics at start-up when its
// log has an entry it cannot read; the node gets an error naming the
// cause instead of crashing.
func TestRaftStartOnUnreadableLogIsAnError(t *testing.T) {
	store := unreadableStore{InmemStore: raft.NewInmemStore(), bad: 2}
	conf := raft.DefaultConfig()
	conf.LocalID = "1"
	conf.Logger = newHCLog(slog.New(slog.NewTextHandler(io.Discard, nil)), "raft", nil)
	addr, trans := raft.NewInmemTransport("node-1")
	snaps := raft.NewInmemSnapshotStore()
	if err := raft.BootstrapCluster(conf, store, store, snaps, trans, raft.Configuration{Servers: []raft.Server{{ID: "1", Address: addr}}}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(2); i <= 3; i++ {
		if err := store.StoreLog(&raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := newRaft(conf, &raft.MockFSM{}, store, snaps, trans)
	if err == nil {
		r.Shutdown()
		t.Fatal("raft started on a log with an unreadable entry")
	}
	if !strings.Contains(err.Error(), "entry 2 is unreadable") {
		t.Fatalf("error %q does not name the unreadable entry", err)
	}
}
