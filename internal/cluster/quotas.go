package cluster

// Client quotas in the metadata log (KIP-546): AlterClientQuota sets and
// removes one entity's quota values, so every broker throttles clients by
// the same quotas from its local image. The image holds them in a
// persistent sorted map keyed by the entity's canonical form, so a command
// copies one entity's values, never the whole set.

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/benbjohnson/immutable"

	"github.com/sluice-io/sluice/internal/quota"
)

// AlterClientQuota changes the quotas of Entity: Set values are set,
// Remove keys are removed; an entity left with no value is removed.
type AlterClientQuota struct {
	Entity quota.Entity
	Set    map[string]float64
	Remove []string
}

func (AlterClientQuota) isCommand() {}

// ErrInvalidQuota is AlterClientQuota's error for an entity or value the
// image does not take.
var ErrInvalidQuota = errors.New("cluster: invalid client quota")

// clientQuotas is the image's set; nil is empty.
type clientQuotas struct {
	m *immutable.SortedMap[string, quotaEntry]
}

type quotaEntry struct {
	entity quota.Entity
	values map[string]float64
}

// quotaKey is an entity's canonical form: per component, a state letter
// (- none, d default, n named) and a length-prefixed name.
func quotaKey(e quota.Entity) string {
	var b strings.Builder
	for _, p := range [...]quota.Part{e.User, e.ClientID, e.IP} {
		switch {
		case !p.Set:
			b.WriteByte('-')
		case p.Default:
			b.WriteByte('d')
		default:
			b.WriteByte('n')
			b.WriteString(strconv.Itoa(len(p.Name)))
			b.WriteByte(':')
			b.WriteString(p.Name)
		}
	}
	return b.String()
}

// ClientQuota returns the quota values configured for exactly e.
func (img *Image) ClientQuota(e quota.Entity) (map[string]float64, bool) {
	if img.quotas == nil {
		return nil, false
	}
	q, ok := img.quotas.m.Get(quotaKey(e))
	return q.values, ok
}

// HasClientQuotas reports whether any client quota is configured, so
// request paths skip quota work when none is.
func (img *Image) HasClientQuotas() bool { return img.quotas != nil && img.quotas.m.Len() > 0 }

// ClientQuotas calls fn with every entity that has quotas, in canonical
// order, until fn returns false. fn must not modify values.
func (img *Image) ClientQuotas(fn func(e quota.Entity, values map[string]float64) bool) {
	if img.quotas == nil {
		return
	}
	it := img.quotas.m.Iterator()
	for !it.Done() {
		_, q, _ := it.Next()
		if !fn(q.entity, q.values) {
			return
		}
	}
}

func (s *clientQuotas) alter(c AlterClientQuota) *clientQuotas {
	m := immutable.NewSortedMap[string, quotaEntry](nil)
	if s != nil {
		m = s.m
	}
	k := quotaKey(c.Entity)
	old, _ := m.Get(k)
	values := maps.Clone(old.values)
	if values == nil {
		values = map[string]float64{}
	}
	for _, r := range c.Remove {
		delete(values, r)
	}
	maps.Copy(values, c.Set)
	if len(values) == 0 {
		return &clientQuotas{m: m.Delete(k)}
	}
	return &clientQuotas{m: m.Set(k, quotaEntry{entity: c.Entity, values: values})}
}

func validQuotaEntity(e quota.Entity) error {
	if !e.User.Set && !e.ClientID.Set && !e.IP.Set {
		return fmt.Errorf("%w: empty entity", ErrInvalidQuota)
	}
	if e.IP.Set && (e.User.Set || e.ClientID.Set) {
		return fmt.Errorf("%w: an ip entity has no user or client-id", ErrInvalidQuota)
	}
	for _, p := range [...]quota.Part{e.User, e.ClientID, e.IP} {
		if p.Default && p.Name != "" {
			return fmt.Errorf("%w: a default entity has no name", ErrInvalidQuota)
		}
	}
	return nil
}

func applyAlterClientQuota(b *imageBuilder, c AlterClientQuota) error {
	if err := validQuotaEntity(c.Entity); err != nil {
		return err
	}
	for k, v := range c.Set {
		if k == "" || v <= 0 {
			return fmt.Errorf("%w: %s=%v", ErrInvalidQuota, k, v)
		}
	}
	b.next.quotas = b.next.quotas.alter(c)
	return nil
}

// Wire forms (version 1).
type (
	wirePart struct {
		Default bool   `json:"default,omitempty"`
		Name    string `json:"name,omitempty"`
	}
	wireQuotaEntity struct {
		User     *wirePart `json:"user,omitempty"`
		ClientID *wirePart `json:"client_id,omitempty"`
		IP       *wirePart `json:"ip,omitempty"`
	}
	wireAlterClientQuota struct {
		Entity wireQuotaEntity    `json:"entity"`
		Set    map[string]float64 `json:"set,omitempty"`
		Remove []string           `json:"remove,omitempty"`
	}
	// wireClientQuota is one entity's quotas in a snapshot.
	wireClientQuota struct {
		Entity wireQuotaEntity    `json:"entity"`
		Values map[string]float64 `json:"values"`
	}
)

func toWirePart(p quota.Part) *wirePart {
	if !p.Set {
		return nil
	}
	return &wirePart{Default: p.Default, Name: p.Name}
}

func fromWirePart(w *wirePart) quota.Part {
	if w == nil {
		return quota.Part{}
	}
	return quota.Part{Set: true, Default: w.Default, Name: w.Name}
}

func toWireQuotaEntity(e quota.Entity) wireQuotaEntity {
	return wireQuotaEntity{User: toWirePart(e.User), ClientID: toWirePart(e.ClientID), IP: toWirePart(e.IP)}
}

func fromWireQuotaEntity(w wireQuotaEntity) quota.Entity {
	return quota.Entity{User: fromWirePart(w.User), ClientID: fromWirePart(w.ClientID), IP: fromWirePart(w.IP)}
}

func toWireAlterClientQuota(c AlterClientQuota) wireAlterClientQuota {
	return wireAlterClientQuota{Entity: toWireQuotaEntity(c.Entity), Set: c.Set, Remove: c.Remove}
}

func fromWireAlterClientQuota(w wireAlterClientQuota) AlterClientQuota {
	return AlterClientQuota{Entity: fromWireQuotaEntity(w.Entity), Set: w.Set, Remove: w.Remove}
}

// snapshotQuotas lists the quotas in canonical entity order.
func snapshotQuotas(img *Image) []wireClientQuota {
	var out []wireClientQuota
	img.ClientQuotas(func(e quota.Entity, values map[string]float64) bool {
		out = append(out, wireClientQuota{Entity: toWireQuotaEntity(e), Values: values})
		return true
	})
	return out
}

// restoreQuotas rebuilds the set of a snapshot.
func restoreQuotas(ws []wireClientQuota) (*clientQuotas, error) {
	var s *clientQuotas
	for _, w := range ws {
		e := fromWireQuotaEntity(w.Entity)
		if err := validQuotaEntity(e); err != nil || len(w.Values) == 0 {
			return nil, fmt.Errorf("cluster: snapshot holds a bad client quota entity: %v", err)
		}
		s = s.alter(AlterClientQuota{Entity: e, Set: w.Values})
	}
	return s, nil
}
