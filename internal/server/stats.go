package server

import "github.com/sluice-io/sluice/internal/quota"

// Connections counts the open connections per listener name, for the
// sluice_connections metric. It takes the server's lock once and visits
// every connection: a scrape costs what the connections number, a
// connection's requests nothing.
func (s *Server) Connections() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for c := range s.conns {
		out[c.listener.Name]++
	}
	return out
}

// RequestBudget is the budget of request bytes every connection draws on
// (queued.max.request.bytes, request_budget.go), for the metrics.
func (s *Server) RequestBudget() *quota.Budget { return s.budget }
