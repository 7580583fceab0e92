package broker

// Client quotas (KIP-13 byte rates, KIP-55 user quotas, KIP-124 request
// percentage, KIP-219 client-side throttling, KIP-546 the quota APIs).
//
// DescribeClientQuotas v0-1 and AlterClientQuotas v0-1 read and change the
// quotas in the cluster metadata (cluster.AlterClientQuota, one command per
// entity); they need DESCRIBE_CONFIGS and ALTER_CONFIGS on the cluster
// (authorize.go). Entity types are user, client-id and ip (a null name is
// the default entity); keys producer_byte_rate, consumer_byte_rate and
// request_percentage are enforced, controller_mutation_rate and
// connection_creation_rate are stored and described only.
//
// Enforcement (throttle below): with no quota in the image a request pays
// one pointer test. Otherwise the quota of the connection's user (its
// principal's name) and client ID is found in Kafka's order of precedence
// (quota.Resolve) and cached per image; produce records the batch bytes of
// the request, a consumer's fetch the record bytes of its response, every
// request but ApiVersions, SASL and follower traffic its handler time. A
// client over a quota gets throttle_time_ms in its response, sent at once,
// and its connection is not read for that long (Kafka's muted channel);
// a response of a version older than KIP-219 is delayed by the throttle
// time instead. Where Sluice differs: a throttled fetch still carries its
// records (Kafka answers it empty and un-records it), which keeps fetch
// sessions simple; the muting enforces the rate all the same.

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/quota"
)

const (
	entityUser     = "user"
	entityClientID = "client-id"
	entityIP       = "ip"
)

// quotaKeyTypes are the keys AlterClientQuotas accepts, with whether the
// value must be a whole number, and the entity they apply to.
var quotaKeyTypes = map[string]struct{ integer, ip bool }{
	quota.ProducerByteRate:       {integer: true},
	quota.ConsumerByteRate:       {integer: true},
	quota.RequestPercentage:      {},
	quota.ControllerMutationRate: {},
	quota.ConnectionCreationRate: {integer: true, ip: true},
}

// quotaEntity turns a request's entity components into a quota.Entity.
func quotaEntity(types []string, names []*string) (quota.Entity, error) {
	var e quota.Entity
	for i, typ := range types {
		p := quota.DefaultPart
		if names[i] != nil {
			p = quota.Named(*names[i])
		}
		var dst *quota.Part
		switch typ {
		case entityUser:
			dst = &e.User
		case entityClientID:
			dst = &e.ClientID
		case entityIP:
			dst = &e.IP
		default:
			return e, kerrf(kerr.InvalidRequest, "Unhandled client quota entity type: %s", typ)
		}
		if dst.Set {
			return e, kerrf(kerr.InvalidRequest, "Duplicate %s entity", typ)
		}
		*dst = p
	}
	switch {
	case !e.User.Set && !e.ClientID.Set && !e.IP.Set:
		return e, kerrf(kerr.InvalidRequest, "Invalid empty client quota entity")
	case e.IP.Set && (e.User.Set || e.ClientID.Set):
		return e, kerrf(kerr.InvalidRequest, "Invalid quota entity combination, IP entity should not be combined with User or ClientId")
	}
	return e, nil
}

// entityParts lists an entity's components in Kafka's order.
func entityParts(e quota.Entity, fn func(typ string, name *string)) {
	for _, c := range []struct {
		typ string
		p   quota.Part
	}{{entityUser, e.User}, {entityClientID, e.ClientID}, {entityIP, e.IP}} {
		if !c.p.Set {
			continue
		}
		if c.p.Default {
			fn(c.typ, nil)
		} else {
			name := c.p.Name
			fn(c.typ, &name)
		}
	}
}

func (b *Broker) alterClientQuotas(ctx context.Context, _ *Client, req *kmsg.AlterClientQuotasRequest) *kmsg.AlterClientQuotasResponse {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	for _, entry := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		types := make([]string, len(entry.Entity))
		names := make([]*string, len(entry.Entity))
		for i, c := range entry.Entity {
			re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
			types[i], names[i] = c.Type, c.Name
		}
		err := b.alterClientQuota(ctx, types, names, entry.Ops, req.ValidateOnly)
		re.ErrorCode, re.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Entries = append(resp.Entries, re)
	}
	return resp
}

func (b *Broker) alterClientQuota(ctx context.Context, types []string, names []*string, ops []kmsg.AlterClientQuotasRequestEntryOp, validateOnly bool) error {
	e, err := quotaEntity(types, names)
	if err != nil {
		return err
	}
	cmd := cluster.AlterClientQuota{Entity: e, Set: map[string]float64{}}
	seen := map[string]bool{}
	for _, op := range ops {
		kt, ok := quotaKeyTypes[op.Key]
		switch {
		case !ok:
			return kerrf(kerr.InvalidRequest, "Invalid configuration key %s", op.Key)
		case kt.ip != e.IP.Set:
			return kerrf(kerr.InvalidRequest, "Invalid configuration key %s for this entity", op.Key)
		case seen[op.Key]:
			return kerrf(kerr.InvalidRequest, "Duplicate quota key %s", op.Key)
		}
		seen[op.Key] = true
		if op.Remove {
			cmd.Remove = append(cmd.Remove, op.Key)
			continue
		}
		if op.Value <= 0 || kt.integer && op.Value != float64(int64(op.Value)) {
			return kerrf(kerr.InvalidRequest, "Invalid value %v for %s: a positive %s is required", op.Value, op.Key, map[bool]string{true: "integer", false: "number"}[kt.integer])
		}
		cmd.Set[op.Key] = op.Value
	}
	if validateOnly || len(ops) == 0 {
		return nil
	}
	return b.cfg.Cluster.Propose(ctx, cmd)
}

func (b *Broker) describeClientQuotas(_ context.Context, _ *Client, req *kmsg.DescribeClientQuotasRequest) *kmsg.DescribeClientQuotasResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	seen := map[string]bool{}
	for _, c := range req.Components {
		switch {
		case c.EntityType != entityUser && c.EntityType != entityClientID && c.EntityType != entityIP:
			resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("Custom entity type "+c.EntityType+" not supported")
			return resp
		case seen[c.EntityType]:
			resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("Entity type "+c.EntityType+" cannot appear more than once in the filter")
			return resp
		case c.MatchType == kmsg.QuotasMatchTypeExact && c.Match == nil:
			resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("Exact match of "+c.EntityType+" needs a name")
			return resp
		}
		seen[c.EntityType] = true
	}
	b.cfg.Cluster.Image().ClientQuotas(func(e quota.Entity, values map[string]float64) bool {
		if !quotaFilterMatches(req, e) {
			return true
		}
		re := kmsg.NewDescribeClientQuotasResponseEntry()
		entityParts(e, func(typ string, name *string) {
			re.Entity = append(re.Entity, kmsg.DescribeClientQuotasResponseEntryEntity{Type: typ, Name: name})
		})
		for _, k := range slices.Sorted(maps.Keys(values)) {
			re.Values = append(re.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: k, Value: values[k]})
		}
		resp.Entries = append(resp.Entries, re)
		return true
	})
	return resp
}

// quotaFilterMatches applies DescribeClientQuotas' filter: every
// component must match the entity's part of its type (an exact name, the
// default, or any), and with strict the entity may have no other part.
func quotaFilterMatches(req *kmsg.DescribeClientQuotasRequest, e quota.Entity) bool {
	part := func(typ string) quota.Part {
		switch typ {
		case entityUser:
			return e.User
		case entityClientID:
			return e.ClientID
		}
		return e.IP
	}
	for _, c := range req.Components {
		p := part(c.EntityType)
		if !p.Set {
			return false
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if p.Default || p.Name != *c.Match {
				return false
			}
		case kmsg.QuotasMatchTypeDefault:
			if !p.Default {
				return false
			}
		} // any: a name or the default, as Kafka's ClientQuotasImage matches

	}
	if req.Strict {
		n := 0
		for _, p := range []quota.Part{e.User, e.ClientID, e.IP} {
			if p.Set {
				n++
			}
		}
		return n == len(req.Components)
	}
	return true
}

// quotas enforces client quotas: the rates of every client and the
// resolved quotas of the latest image.
type quotas struct {
	m     *quota.Manager
	cache atomic.Pointer[quotaCache]
}

// quotaCache holds the quotas resolved for (user, client ID) pairs under
// one image.
type quotaCache struct {
	img *cluster.Image
	mu  sync.Mutex
	m   map[quota.SensorKey]*resolvedQuotas
}

// resolvedQuotas are one client's bounds and sensor keys per kind; a zero
// bound is no quota.
type resolvedQuotas struct {
	bound [3]float64
	key   [3]quota.SensorKey
}

func (q *quotas) resolve(img *cluster.Image, user, clientID string) *resolvedQuotas {
	c := q.cache.Load()
	if c == nil || c.img != img {
		c = &quotaCache{img: img, m: map[quota.SensorKey]*resolvedQuotas{}}
		q.cache.Store(c)
	}
	k := quota.SensorKey{User: user, ClientID: clientID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.m[k]; r != nil {
		return r
	}
	r := &resolvedQuotas{}
	lookup := func(e quota.Entity) (map[string]float64, bool) { return img.ClientQuota(e) }
	for kind := quota.Produce; kind <= quota.Request; kind++ {
		if v, key, ok := quota.Resolve(lookup, kind.Key(), user, clientID); ok {
			r.bound[kind], r.key[kind] = v, key
		}
	}
	if len(c.m) > 100_000 {
		clear(c.m) // bounded however many client IDs pass by
	}
	c.m[k] = r
	return r
}

// quotaUser is the user name quotas know a principal by ("alice" for
// User:alice).
func quotaUser(principal string) string {
	if name, ok := strings.CutPrefix(principal, "User:"); ok {
		return name
	}
	return principal
}

// throttle records a served request against the client's quotas and,
// when it is over one, sets the response's throttle time and the reply's
// mute (or delays the response of a client older than KIP-219).
func (b *Broker) throttle(img *cluster.Image, c *Client, req kmsg.Request, reply Reply, start time.Time) Reply {
	if reply.Fatal != nil || exemptFromQuotas(req) {
		return reply
	}
	r := b.quotas.resolve(img, quotaUser(c.Principal), c.ID)
	now := time.Now()
	var d time.Duration
	if bound := r.bound[quota.Request]; bound > 0 {
		d = b.quotas.m.Record(quota.Request, r.key[quota.Request], bound, now.Sub(start).Seconds()*100, now)
	}
	switch req := req.(type) {
	case *kmsg.ProduceRequest:
		if bound := r.bound[quota.Produce]; bound > 0 {
			n := 0
			for i := range req.Topics {
				for j := range req.Topics[i].Partitions {
					n += len(req.Topics[i].Partitions[j].Records)
				}
			}
			d = max(d, b.quotas.m.Record(quota.Produce, r.key[quota.Produce], bound, float64(n), now))
		}
	case *kmsg.FetchRequest:
		if bound := r.bound[quota.Fetch]; bound > 0 {
			if resp, ok := reply.Response.(*kmsg.FetchResponse); ok {
				n := 0
				for i := range resp.Topics {
					for j := range resp.Topics[i].Partitions {
						n += len(resp.Topics[i].Partitions[j].RecordBatches)
					}
				}
				d = max(d, b.quotas.m.Record(quota.Fetch, r.key[quota.Fetch], bound, float64(n), now))
			}
		}
	}
	if d <= 0 {
		return reply
	}
	ms := int32(min(d.Milliseconds(), 1<<31-1))
	reply.Throttle = d
	setThrottle := func(resp kmsg.Response) (clientThrottles bool) {
		if t, ok := resp.(interface {
			kmsg.ThrottleResponse
			SetThrottle(int32)
		}); ok {
			t.SetThrottle(ms)
			_, clientThrottles = t.Throttle()
		}
		return clientThrottles
	}
	if reply.Wait != nil {
		wait := reply.Wait
		reply.Wait = func(ctx context.Context) kmsg.Response {
			resp := wait(ctx)
			if resp != nil && !setThrottle(resp) {
				sleepCtx(ctx, d)
			}
			return resp
		}
		return reply
	}
	if reply.Response != nil && !setThrottle(reply.Response) {
		// Before KIP-219 the client does not wait: the broker delays the
		// response by the throttle time.
		resp := reply.Response
		reply.Response = nil
		reply.Wait = func(ctx context.Context) kmsg.Response {
			sleepCtx(ctx, d)
			return resp
		}
	}
	return reply
}

// exemptFromQuotas reports whether a request is never throttled: version
// and SASL negotiation, and traffic between brokers.
func exemptFromQuotas(req kmsg.Request) bool {
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest, *kmsg.SASLHandshakeRequest, *kmsg.SASLAuthenticateRequest, *kmsg.WriteTxnMarkersRequest:
		return true
	case *kmsg.FetchRequest:
		return req.ReplicaID >= 0 || req.Version >= 15 && req.ReplicaState.ID >= 0
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
