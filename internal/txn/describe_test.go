package txn

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-664: DescribeTransactions gives Kafka's state names and the
// transaction's partitions; unknown IDs are not found.
func TestDescribeTransactions(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "u", 1)
	h.mustAdd("a", pid, epoch, "t", 0)
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{"a", "nobody", ""}
	resp := h.c.DescribeTransactions(h.ctx, req)
	a := resp.TransactionStates[0]
	if a.ErrorCode != 0 || a.State != "Ongoing" || a.TimeoutMillis != 10_000 || a.ProducerID != pid ||
		a.ProducerEpoch != epoch || a.StartTimestamp != h.clock.Now().UnixMilli() ||
		len(a.Topics) != 2 || a.Topics[0].Topic != "t" || a.Topics[1].Topic != "u" {
		t.Errorf("a: %+v", a)
	}
	wantCode(t, "nobody", resp.TransactionStates[1].ErrorCode, kerr.TransactionalIDNotFound.Code)
	wantCode(t, "empty id", resp.TransactionStates[2].ErrorCode, kerr.InvalidRequest.Code)
}

func TestListTransactionsFilters(t *testing.T) {
	h := newHarness(t)
	h.begin("empty-1")
	pid, epoch := h.begin("ongoing-1")
	h.mustAdd("ongoing-1", pid, epoch, "t", 0)
	h.clock.advance(5 * time.Second)
	pid2, epoch2 := h.begin("ongoing-2")
	h.mustAdd("ongoing-2", pid2, epoch2, "t", 0)
	h.clock.advance(time.Second)

	pattern := func(s string) *string { return &s }
	for _, tc := range []struct {
		name        string
		version     int16
		states      []string
		producerIDs []int64
		duration    int64
		pattern     *string
		want        []string
		wantUnknown []string
		wantCode    int16
	}{
		{name: "all", version: 0, want: []string{"empty-1", "ongoing-1", "ongoing-2"}},
		{name: "by state", version: 0, states: []string{"Ongoing"}, want: []string{"ongoing-1", "ongoing-2"}},
		{name: "unknown state", version: 0, states: []string{"Empty", "Bogus"}, want: []string{"empty-1"}, wantUnknown: []string{"Bogus"}},
		{name: "unknown states only", version: 0, states: []string{"Bogus"}, want: nil, wantUnknown: []string{"Bogus"}},
		{name: "by producer id", version: 0, producerIDs: []int64{pid2}, want: []string{"ongoing-2"}},
		{name: "running longer than 2s", version: 1, states: []string{"Ongoing"}, duration: 2000, want: []string{"ongoing-1"}},
		{name: "duration ignored before v1", version: 0, states: []string{"Ongoing"}, duration: 2000, want: []string{"ongoing-1", "ongoing-2"}},
		{name: "pattern matches whole id", version: 2, pattern: pattern("ongoing-[0-9]"), duration: -1, want: []string{"ongoing-1", "ongoing-2"}},
		{name: "pattern is anchored", version: 2, pattern: pattern("ongoing"), duration: -1, want: nil},
		{name: "bad pattern", version: 2, pattern: pattern("("), duration: -1, wantCode: kerr.InvalidRegularExpression.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrListTransactionsRequest()
			req.Version = tc.version
			req.StateFilters, req.ProducerIDFilters = tc.states, tc.producerIDs
			req.DurationFilterMillis, req.TransactionalIDPattern = tc.duration, tc.pattern
			if tc.version == 0 && tc.duration == 0 {
				req.DurationFilterMillis = -1
			}
			resp := h.c.ListTransactions(h.ctx, req)
			wantCode(t, "ListTransactions", resp.ErrorCode, tc.wantCode)
			var got []string
			for _, s := range resp.TransactionStates {
				got = append(got, s.TransactionalID)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(resp.UnknownStateFilters, tc.wantUnknown) {
				t.Errorf("got %v unknown %v, want %v unknown %v", got, resp.UnknownStateFilters, tc.want, tc.wantUnknown)
			}
		})
	}
}
