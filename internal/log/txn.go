package log

import "time"

// Transactions in the log. TODO(contract stubs): replaced by the real
// implementation.

func (l *Log) appendMarker(m Marker, leaderEpoch int32) (AppendInfo, error) {
	return AppendInfo{}, ErrClosed
}

func (l *Log) firstUnstableOffset() int64 { return l.leo.Load() }

func (l *Log) abortedTransactions(from, upTo int64) ([]AbortedTxn, error) { return nil, nil }

func (l *Log) producerInfos() []ProducerInfo { return nil }

func (l *Log) expireProducers(now time.Time, maxAge time.Duration) int { return 0 }
