package txn

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions v0 and ListTransactions v0-v2 (KIP-664; v1 adds
// the duration filter, KIP-994; v2 the transactional ID pattern, KIP-1152,
// matched as a whole with Go's regexp syntax rather than Java's).

func (c *coordinator) describeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		s.ProducerID, s.ProducerEpoch = noProducerID, noProducerEpoch
		s.StartTimestamp = -1
		c.describe(id, &s)
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp
}

func (c *coordinator) describe(id string, s *kmsg.DescribeTransactionsResponseTransactionState) {
	if id == "" {
		s.ErrorCode = kerr.InvalidRequest.Code
		return
	}
	p, code := c.lookup(id)
	if code != 0 {
		s.ErrorCode = code
		return
	}
	defer p.mu.Unlock()
	t := p.txns[id]
	if t == nil || t.cur.state == stateDead {
		s.ErrorCode = kerr.TransactionalIDNotFound.Code
		return
	}
	s.State = stateName(t.cur.state)
	s.TimeoutMillis = t.cur.timeoutMs
	s.StartTimestamp = t.cur.startMs
	s.ProducerID, s.ProducerEpoch = t.cur.producerID, t.cur.producerEpoch
	byTopic := t.cur.partitions.byTopic()
	for _, topic := range sortedTopics(byTopic) {
		st := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
		st.Topic = topic
		st.Partitions = byTopic[topic]
		s.Topics = append(s.Topics, st)
	}
}

func (c *coordinator) listTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := make(map[kmsg.TransactionState]bool)
	for _, name := range req.StateFilters {
		if s, ok := stateByName(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$")
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
		pattern = re
	}
	duration := int64(-1)
	if req.Version >= 1 {
		duration = req.DurationFilterMillis
	}

	c.mu.RLock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	c.mu.RUnlock()
	now := c.nowMs()
	for _, p := range parts {
		p.mu.Lock()
		if p.loading {
			p.mu.Unlock()
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			resp.TransactionStates = nil
			return resp
		}
		for _, t := range p.txns {
			v := &t.cur
			switch {
			case v.state == stateDead:
			case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, v.producerID):
			case len(req.StateFilters) > 0 && !states[v.state]: // unknown names only: nothing
			case duration >= 0 && now-v.startMs <= duration:
			case pattern != nil && !pattern.MatchString(t.id):
			default:
				s := kmsg.NewListTransactionsResponseTransactionState()
				s.TransactionalID = t.id
				s.ProducerID = v.producerID
				s.TransactionState = stateName(v.state)
				resp.TransactionStates = append(resp.TransactionStates, s)
			}
		}
		p.mu.Unlock()
	}
	slices.SortFunc(resp.TransactionStates, func(a, b kmsg.ListTransactionsResponseTransactionState) int {
		return strings.Compare(a.TransactionalID, b.TransactionalID)
	})
	return resp
}
