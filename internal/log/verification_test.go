package log

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// KIP-890's verification guard: a batch that opens a transaction needs the
// guard taken before the coordinator was asked, and a marker of the
// producer written meanwhile takes it back, so a late batch of an ended
// transaction cannot open a new one that nobody ends.
func TestAppendVerifiedNeedsTheGuardAMarkerTakesBack(t *testing.T) {
	t.Parallel()
	l := openLog(t, newMemFS(), "/data/t-0", testConfig())
	defer mustClose(t, l)
	const pid = 9
	appendTxn := func(seq int32, guard *VerificationGuard) error {
		b := txnBatch(t, pid, seq, 1, kv{key: "k", value: str("v")})
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.AppendVerified(b, h, 0, guard)
		return err
	}

	// No guard: refused; with the guard: opens the transaction.
	if err := appendTxn(0, nil); !errors.Is(err, ErrInvalidTxnState) || !errors.Is(err, ErrTxnUnverified) {
		t.Fatalf("opening a transaction without a guard: %v, want ErrTxnUnverified", err)
	}
	g := l.StartVerification(pid, 0, false)
	if g == nil || l.StartVerification(pid, 0, false) != g {
		t.Fatal("StartVerification gave no guard, or another one while the first was held")
	}
	if err := appendTxn(0, g); err != nil {
		t.Fatalf("opening a transaction with its guard: %v", err)
	}
	// The transaction is open: the next batch needs no guard.
	if l.StartVerification(pid, 0, false) != nil {
		t.Fatal("StartVerification gave a guard while the producer's transaction is open")
	}
	if err := appendTxn(1, nil); err != nil {
		t.Fatalf("a batch of the open transaction: %v", err)
	}

	// The race: verification of the next transaction answers, the marker
	// ending the current one lands, then the late batch arrives.
	if _, err := l.AppendMarker(Marker{ProducerID: pid, Commit: true, Timestamp: 5}, 0); err != nil {
		t.Fatal(err)
	}
	g = l.StartVerification(pid, 0, false)
	if _, err := l.AppendMarker(Marker{ProducerID: pid, Commit: false, Timestamp: 6}, 0); err != nil {
		t.Fatal(err) // an abort for the same epoch, as a TV1 coordinator writes
	}
	if err := appendTxn(2, g); !errors.Is(err, ErrTxnUnverified) {
		t.Fatalf("a batch whose guard a marker took back: %v, want ErrTxnUnverified", err)
	}
	l.HighWatermarkMoved(l.LogEndOffset())
	if u := l.FirstUnstableOffset(); u != l.LogEndOffset() {
		t.Fatalf("first unstable offset %d, log end %d: a transaction is open", u, l.LogEndOffset())
	}
	// A fresh verification lets it through.
	if err := appendTxn(2, l.StartVerification(pid, 0, false)); err != nil {
		t.Fatalf("after a fresh verification: %v", err)
	}

	// Transaction version 2: the coordinator bumps the epoch at each end,
	// and the marker ending transaction N comes at the epoch of N+1,
	// after N+1's verification: it leaves N+1's guard.
	if _, err := l.AppendMarker(Marker{ProducerID: pid, Commit: true, Timestamp: 7}, 0); err != nil {
		t.Fatal(err)
	}
	g2 := l.StartVerification(pid, 1, true)
	if _, err := l.AppendMarker(Marker{ProducerID: pid, ProducerEpoch: 1, Commit: true, Timestamp: 8}, 0); err != nil {
		t.Fatal(err)
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: 9, Transactional: true,
		Producer: &record.Producer{ID: pid, Epoch: 1, BaseSequence: 0}}, []record.Record{{Key: []byte("k"), Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendVerified(b, h, 0, g2); err != nil {
		t.Fatalf("version 2: the next transaction's batch after the previous one's marker at its epoch: %v", err)
	}

	// A request of an older epoch gets the newer guard as it is, and
	// does not replace it: the newer transaction's append still passes.
	g3 := l.StartVerification(55, 3, true)
	if old := l.StartVerification(55, 2, true); old != g3 {
		t.Fatal("an older epoch's verification replaced the newer guard")
	}
	// A marker replicated from the leader takes a guard back, as one
	// written here does.
	gf := l.StartVerification(56, 0, false)
	marker, err := record.Build(record.BuildOptions{BaseTimestamp: 10, Transactional: true, Control: true,
		Producer: &record.Producer{ID: 56, Epoch: 0, BaseSequence: -1}},
		[]record.Record{{Key: record.ControlKey(record.ControlAbort), Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	record.SetBaseOffset(marker, l.LogEndOffset())
	if err := l.AppendAsFollower(marker); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	held := l.verifying[56] == gf
	l.mu.Unlock()
	if held {
		t.Fatal("a replicated marker left the producer's guard")
	}

	// Guards nobody used expire with the producers.
	l.StartVerification(77, 0, false)
	l.ExpireProducers(time.Now().Add(48*time.Hour), 24*time.Hour)
	l.mu.Lock()
	_, held = l.verifying[77]
	l.mu.Unlock()
	if held {
		t.Fatal("an unused guard outlived producer expiry")
	}
}
