package log

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// Transaction verification guards (KIP-890 part 1, Kafka's
// VerificationGuard). Before the first batch of a producer's transaction
// is written to a partition, the leader asks the transaction coordinator
// whether the partition was added to that transaction. Between that answer
// and the append, the transaction can end: its marker is written here,
// and the late batch would then open a transaction no coordinator knows,
// holding the last stable offset back for good. So the leader takes a
// guard before it asks (StartVerification), the append must present it
// (AppendVerified), and a marker of the producer, or the transaction
// opening, takes it back: an append with a guard taken before the marker
// fails with ErrInvalidTxnState.

// ErrTxnUnverified marks (beside ErrInvalidTxnState) a transactional
// batch refused for want of its verification guard.
var ErrTxnUnverified = errors.New("log: transaction not verified")

// VerificationGuard is one verification of a producer's next transaction
// in this log; only its identity matters.
type VerificationGuard struct {
	epoch int16
	tv2   bool      // for a producer of transaction version 2 (KIP-890 part 2)
	at    time.Time // when it was taken, for expiry
}

// StartVerification returns the guard the next transactional batch of
// producer id at epoch needs if it opens a transaction here, or nil when
// the producer's transaction is open here at that epoch already (the batch
// joins it and needs none). A guard taken for the producer and not yet
// used or taken back is returned again, as Kafka reuses its entry. tv2
// says the producer uses transaction version 2, whose coordinator bumps
// the epoch at every end: the previous transaction's marker then comes at
// the epoch of the guard's transaction, and does not take the guard back
// (a late batch of the previous one has the older epoch, which the
// producer state refuses).
func (l *Log) StartVerification(id int64, epoch int16, tv2 bool) *VerificationGuard {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.producers.openAt(id, epoch) {
		return nil
	}
	now := l.now()
	g := l.verifying[id]
	switch {
	case g == nil:
		if len(l.verifying) >= maxVerificationGuards {
			// Guards are used within one produce request's
			// verification: old ones are of no use to anyone.
			l.expireVerifications(now.Add(-verificationGuardMaxAge))
		}
		if l.verifying == nil {
			l.verifying = make(map[int64]*VerificationGuard)
		}
		g = &VerificationGuard{epoch: epoch, tv2: tv2}
		l.verifying[id] = g
	case epoch > g.epoch:
		// A newer epoch keeps the guard, raised (Kafka's
		// maybeUpdateLowestSequenceAndEpoch); an older one gets it as it
		// is: its verification fails with the coordinator, and replacing
		// the guard would fail the newer transaction's append.
		g.epoch, g.tv2 = epoch, tv2
	}
	g.at = now
	return g
}

// maxVerificationGuards is how many guards a log holds before taking one
// expires those older than verificationGuardMaxAge: a guard is used within
// one produce request's verification (verifyTimeout in the broker), so
// the map stays bounded by the rate they are taken at.
const (
	maxVerificationGuards   = 1024
	verificationGuardMaxAge = time.Minute
)

// AppendVerified is Append for a leader whose transactional batches are
// verified: a transactional batch that would open a transaction is
// refused with ErrInvalidTxnState unless guard is the producer's guard
// still held (StartVerification before the coordinator's answer, no
// marker since). Other batches are appended as by Append.
func (l *Log) AppendVerified(batch []byte, h record.Header, leaderEpoch int32, guard *VerificationGuard) (AppendInfo, error) {
	return l.appendChecked(batch, h, leaderEpoch, func() error {
		if !h.IsTransactional() || h.IsControl() {
			return nil
		}
		if l.producers.openAt(h.ProducerID, h.ProducerEpoch) {
			return nil // joins the open transaction
		}
		if guard == nil || l.verifying[h.ProducerID] != guard {
			return fmt.Errorf("%w: %w: producer %d epoch %d: the batch would open a transaction the coordinator did not verify for this partition, or one that ended since",
				ErrInvalidTxnState, ErrTxnUnverified, h.ProducerID, h.ProducerEpoch)
		}
		return nil
	})
}

// endVerification takes back the guard of the producer of h, a
// transactional batch just accepted, as a leader or a follower: its
// transaction opens here, or a marker of it ends one. A version-2
// producer's marker at the guard's own epoch ended the transaction before
// the guarded one, and leaves the guard (Kafka's
// isV2NextTransactionStarted). The caller holds mu.
func (l *Log) endVerification(h *record.Header) {
	g := l.verifying[h.ProducerID]
	if g == nil || h.IsControl() && g.tv2 && g.epoch == h.ProducerEpoch {
		return
	}
	delete(l.verifying, h.ProducerID)
}

// expireVerifications drops guards taken before cutoff that no append
// used (a verification the coordinator refused, a client that went away).
// The caller holds mu.
func (l *Log) expireVerifications(cutoff time.Time) {
	for id, g := range l.verifying {
		if g.at.Before(cutoff) {
			delete(l.verifying, id)
		}
	}
}
