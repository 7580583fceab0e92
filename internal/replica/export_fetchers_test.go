package replica

import (
	"encoding/hex"
	"fmt"
	"sort"
)

// FetcherParts lists, per leader, what each running fetcher follows
// ("topic-index@id-prefix gen=N").
func FetcherParts(m *Manager) map[int32][]string {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	out := map[int32][]string{}
	for id, f := range m.fetchers {
		f.mu.Lock()
		for p, fp := range f.parts {
			out[id] = append(out[id], fmt.Sprintf("%s-%d@%s gen=%d", p.Topic, p.Index, hex.EncodeToString(p.TopicID[:4]), fp.gen))
		}
		f.mu.Unlock()
		sort.Strings(out[id])
	}
	return out
}
