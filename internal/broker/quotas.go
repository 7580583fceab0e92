package broker

// Client quotas (KIP-13 byte rates, KIP-55 user quotas, KIP-124 request
// percentage, KIP-219 client-side throttling, KIP-546 the quota APIs,
// KIP-599 controller mutations).
//
// DescribeClientQuotas v0-1 and AlterClientQuotas v0-1 read and change the
// quotas in the cluster metadata (cluster.AlterClientQuota, one command per
// entity); they need DESCRIBE_CONFIGS and ALTER_CONFIGS on the cluster
// (authorize.go). Entity types are user, client-id and ip (a null name is
// the default entity); keys producer_byte_rate, consumer_byte_rate,
// request_percentage and controller_mutation_rate are enforced here,
// connection_creation_rate by the listener (internal/server).
//
// Enforcement (handleWithQuotas below): with no quota in the image a
// request pays one pointer test. Otherwise the quota of the connection's
// user (its principal's name) and client ID is found in Kafka's order of
// precedence (quota.Resolve) and cached per image; produce records the
// batch bytes of the request, a consumer's fetch the record bytes of its
// response, every request but ApiVersions, SASL and follower traffic the
// time the broker spends on it, and CreateTopics, CreatePartitions and
// DeleteTopics the partitions they create or delete. A client over a
// quota gets throttle_time_ms in its response, sent at once, and its
// connection is not read for that long (Kafka's muted channel); a
// response of a version older than KIP-219 is delayed by the throttle time
// instead. A throttled fetch is answered with no records (fetch.go), as in
// Kafka; a strict mutation quota refuses topics with
// THROTTLING_QUOTA_EXCEEDED (topics.go).

import (
	"context"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/ctxtime"
	"github.com/sluice-io/sluice/internal/quota"
)

const (
	entityUser     = "user"
	entityClientID = "client-id"
	entityIP       = "ip"
)

// quotaKeyTypes are the keys AlterClientQuotas accepts, with whether the
// value must be a whole number, and the entity they apply to.
var quotaKeyTypes = map[string]struct {
	integer, ip bool
	max         float64 // the largest value: Kafka's INT or LONG
}{
	quota.ProducerByteRate:       {integer: true, max: math.MaxInt64},
	quota.ConsumerByteRate:       {integer: true, max: math.MaxInt64},
	quota.RequestPercentage:      {max: math.MaxFloat64},
	quota.ControllerMutationRate: {max: math.MaxFloat64},
	quota.ConnectionCreationRate: {integer: true, ip: true, max: math.MaxInt32},
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
			if !p.Default {
				// Kafka matches an IP quota by address: one spelling
				// of each is stored, the one connections are looked
				// up by.
				name, ok := canonicalIP(p.Name)
				if !ok {
					return e, kerrf(kerr.InvalidRequest, "%s is not a valid IP address.", p.Name)
				}
				p = quota.Named(name)
			}
		default:
			return e, kerrf(kerr.InvalidRequest, "Unhandled client quota entity type: %s", typ)
		}
		if !p.Default && p.Name == "" {
			return e, kerrf(kerr.InvalidRequest, "Empty %s not supported", typ)
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

// canonicalIP is the one spelling of an IP address quotas are stored and
// looked up by; false when name is no address.
func canonicalIP(name string) (string, bool) {
	addr, err := netip.ParseAddr(name)
	if err != nil {
		return name, false
	}
	return addr.Unmap().String(), true
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
		if seen[op.Key] {
			return kerrf(kerr.InvalidRequest, "Duplicate quota key %s", op.Key)
		}
		seen[op.Key] = true
		kt, ok := quotaKeyTypes[op.Key]
		if op.Remove {
			// As Kafka, a removal is not checked: removing what is not
			// there changes nothing.
			if ok {
				cmd.Remove = append(cmd.Remove, op.Key)
			}
			continue
		}
		switch {
		case !ok:
			return kerrf(kerr.InvalidRequest, "Invalid configuration key %s", op.Key)
		case kt.ip != e.IP.Set:
			return kerrf(kerr.InvalidRequest, "Invalid configuration key %s for this entity", op.Key)
		case op.Value <= 0 || kt.integer && op.Value != math.Trunc(op.Value):
			return kerrf(kerr.InvalidRequest, "Invalid value %v for %s: a positive %s is required", op.Value, op.Key, map[bool]string{true: "integer", false: "number"}[kt.integer])
		case op.Value > kt.max:
			return kerrf(kerr.InvalidRequest, "Invalid value %v for %s: too large", op.Value, op.Key)
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
	if err := checkQuotaFilter(req.Components); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp
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

// checkQuotaFilter refuses a DescribeClientQuotas filter as Kafka's
// ClientQuotasImage.describe does.
func checkQuotaFilter(components []kmsg.DescribeClientQuotasRequestComponent) error {
	seen := map[string]bool{}
	for _, c := range components {
		if seen[c.EntityType] {
			return kerrf(kerr.InvalidRequest, "Entity type %s cannot appear more than once in the filter.", c.EntityType)
		}
		if c.EntityType != entityUser && c.EntityType != entityClientID && c.EntityType != entityIP {
			return kerrf(kerr.UnsupportedVersion, "Unsupported entity type %s", c.EntityType)
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return kerrf(kerr.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return kerrf(kerr.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
		case kmsg.QuotasMatchTypeAny:
			if c.Match != nil {
				return kerrf(kerr.InvalidRequest, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
		default:
			return kerrf(kerr.InvalidRequest, "Unknown match type %d", c.MatchType)
		}
		seen[c.EntityType] = true
	}
	if seen[entityIP] && (seen[entityUser] || seen[entityClientID]) {
		return kerrf(kerr.InvalidRequest, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	return nil
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
			name := *c.Match
			if c.EntityType == entityIP {
				name, _ = canonicalIP(name)
			}
			if p.Default || p.Name != name {
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

// quotas enforces client quotas: the rates of every client, their
// controller mutation buckets, and the resolved quotas of the latest image.
type quotas struct {
	m         *quota.Manager
	mutations *quota.Mutations
	cache     atomic.Pointer[quotaCache]
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
	bound [quota.Mutation + 1]float64
	key   [quota.Mutation + 1]quota.SensorKey
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
	for kind := quota.Produce; kind <= quota.Mutation; kind++ {
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

// quotaCall is one request's quota accounting. Handlers that take part in
// it (Fetch, and the topic mutations) find it in their context.
type quotaCall struct {
	r     *resolvedQuotas
	start time.Time
	// recorded is set by a handler that recorded the request's time and
	// bytes itself (a consumer's Fetch).
	recorded bool
	// throttle is the longest throttle a handler decided on.
	throttle time.Duration
	// produced is a Produce request's record bytes as the client sent
	// them, counted before the handler may recompress them.
	produced int
}

type quotaCallKey struct{}

// quotaCallFrom is the request's quota accounting, nil when no quota
// applies to it.
func quotaCallFrom(ctx context.Context) *quotaCall {
	qc, _ := ctx.Value(quotaCallKey{}).(*quotaCall)
	return qc
}

// handleWithQuotas serves a request of a client that quotas may apply to
// and throttles it when it went over one: the response carries
// throttle_time_ms and the connection is not read for that long (or, for
// a version older than KIP-219, the response is delayed instead).
//
// What request_percentage counts is the time the broker spends on the
// request: from dispatch until the handler returns, less what it spent
// waiting for data or for others (a Fetch waiting for fetch.min.bytes,
// JoinGroup and SyncGroup waiting for the group; an acks=all Produce
// waits after its handler returns), plus encoding and writing the
// response, recorded once it is sent (it counts towards the client's next
// requests, as Kafka records network thread time).
func (b *Broker) handleWithQuotas(ctx context.Context, img *cluster.Image, c *Client, req kmsg.Request) Reply {
	if b.exemptFromQuotas(img, c, req) {
		return b.handle(ctx, c, req)
	}
	r := b.quotas.resolve(img, quotaUser(c.Principal), c.ID)
	if *r == (resolvedQuotas{}) {
		return b.handle(ctx, c, req) // no quota applies to this client
	}
	qc := &quotaCall{r: r, start: time.Now()}
	if pr, ok := req.(*kmsg.ProduceRequest); ok && r.bound[quota.Produce] > 0 {
		for i := range pr.Topics {
			for j := range pr.Topics[i].Partitions {
				qc.produced += len(pr.Topics[i].Partitions[j].Records)
			}
		}
	}
	reply := b.handle(context.WithValue(ctx, quotaCallKey{}, qc), c, req)
	if reply.Fatal != nil {
		return reply
	}
	d := qc.throttle
	if !qc.recorded {
		d = max(d, b.recordRequest(qc, req, time.Now()))
	}
	if bound := qc.r.bound[quota.Request]; bound > 0 {
		key := qc.r.key[quota.Request]
		reply.Sent = func(took time.Duration) {
			b.quotas.m.Record(quota.Request, key, bound, took.Seconds()*100, time.Now())
		}
	}
	return applyThrottle(reply, d)
}

// recordRequest records a served request's handler time and produced
// bytes and returns the throttle they call for.
func (b *Broker) recordRequest(qc *quotaCall, req kmsg.Request, now time.Time) time.Duration {
	var d time.Duration
	if bound := qc.r.bound[quota.Request]; bound > 0 {
		took := now.Sub(qc.start)
		switch req.(type) {
		case *kmsg.JoinGroupRequest, *kmsg.SyncGroupRequest:
			// They wait for the rest of the group, which is not work;
			// the handling around the wait is too small to tell apart.
			took = 0
		}
		if took > 0 {
			d = b.quotas.m.Record(quota.Request, qc.r.key[quota.Request], bound, took.Seconds()*100, now)
		}
	}
	if _, ok := req.(*kmsg.ProduceRequest); ok {
		// The bytes the client sent, as Kafka counts them, not what a
		// topic's compression.type made of them.
		if bound := qc.r.bound[quota.Produce]; bound > 0 {
			d = max(d, b.quotas.m.Record(quota.Produce, qc.r.key[quota.Produce], bound, float64(qc.produced), now))
		}
	}
	return d
}

// fetchMaxBytes bounds a consumer's fetch by its consumer_byte_rate
// quota, as Kafka does: at most what the quota allows over the samples
// but the current one, so one response cannot take many windows' worth.
func (b *Broker) fetchMaxBytes(qc *quotaCall, maxBytes int) int {
	if qc == nil {
		return maxBytes
	}
	if bound := qc.r.bound[quota.Fetch]; bound > 0 {
		return max(1, min(maxBytes, int(b.quotas.m.MaxValueInWindow(bound))))
	}
	return maxBytes
}

// recordFetch records a consumer's fetch that read size record bytes and
// spent waited waiting for them, and returns the throttle it calls for.
// A throttled fetch is answered empty (Kafka's handleFetchRequest), so its
// bytes are taken back out of the client's rate.
func (b *Broker) recordFetch(qc *quotaCall, size int, waited time.Duration) time.Duration {
	now := time.Now()
	var d time.Duration
	if bound := qc.r.bound[quota.Request]; bound > 0 {
		if took := now.Sub(qc.start) - waited; took > 0 {
			d = b.quotas.m.Record(quota.Request, qc.r.key[quota.Request], bound, took.Seconds()*100, now)
		}
	}
	if bound := qc.r.bound[quota.Fetch]; bound > 0 {
		key := qc.r.key[quota.Fetch]
		d = max(d, b.quotas.m.Record(quota.Fetch, key, bound, float64(size), now))
		if d > 0 {
			b.quotas.m.Unrecord(quota.Fetch, key, float64(size), now)
		}
	}
	qc.recorded, qc.throttle = true, max(qc.throttle, d)
	return d
}

// mutationQuota charges a CreateTopics, CreatePartitions or DeleteTopics
// request's partition mutations to its client's controller_mutation_rate
// quota (KIP-599). A nil *mutationQuota charges nothing.
type mutationQuota struct {
	b      *Broker
	qc     *quotaCall
	strict bool
}

// mutationQuota returns the quota of the request in ctx, or nil when it
// has none. strict is for versions that know THROTTLING_QUOTA_EXCEEDED
// (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+).
func (b *Broker) mutationQuota(ctx context.Context, strict bool) *mutationQuota {
	qc := quotaCallFrom(ctx)
	if qc == nil || qc.r.bound[quota.Mutation] <= 0 {
		return nil
	}
	return &mutationQuota{b: b, qc: qc, strict: strict}
}

// charge takes n partition mutations of one topic. Strict, a client whose
// quota is in debt is refused with THROTTLING_QUOTA_EXCEEDED and told how
// long to wait, else the mutations go ahead even if they put it in debt;
// otherwise (older versions) every topic goes ahead and the response is
// throttled by the debt (Kafka's strict and permissive quotas).
func (q *mutationQuota) charge(n int) error {
	if q == nil || n <= 0 {
		return nil
	}
	bound, key := q.qc.r.bound[quota.Mutation], q.qc.r.key[quota.Mutation]
	m, now := q.b.quotas.mutations, time.Now()
	if !q.strict {
		q.qc.throttle = max(q.qc.throttle, m.Record(key, bound, float64(n), now))
		return nil
	}
	if d := m.Exceeded(key, bound, now); d > 0 {
		q.qc.throttle = max(q.qc.throttle, d)
		return kerrf(kerr.ThrottlingQuotaExceeded, "The throttling quota has been exceeded.")
	}
	m.Record(key, bound, float64(n), now)
	return nil
}

// applyThrottle sets a throttled reply's throttle time and mute, or
// delays the response of a client older than KIP-219.
func applyThrottle(reply Reply, d time.Duration) Reply {
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
				ctxtime.Sleep(ctx, d)
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
			ctxtime.Sleep(ctx, d)
			return resp
		}
	}
	return reply
}

// exemptFromQuotas reports whether a request is never throttled: version
// and SASL negotiation, and traffic between brokers (transaction markers,
// a follower's fetch) from a principal allowed CLUSTER_ACTION, as Kafka
// exempts them; a client only claiming to be a broker is throttled as any
// other.
func (b *Broker) exemptFromQuotas(img *cluster.Image, c *Client, req kmsg.Request) bool {
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest, *kmsg.SASLHandshakeRequest, *kmsg.SASLAuthenticateRequest:
		return true
	case *kmsg.WriteTxnMarkersRequest:
		return b.mayClusterAction(img, c)
	case *kmsg.FetchRequest:
		return (req.ReplicaID >= 0 || req.Version >= 15 && req.ReplicaState.ID >= 0) && b.mayClusterAction(img, c)
	}
	return false
}

// mayClusterAction reports whether c may send what brokers send each
// other: with no authorizer, anyone.
func (b *Broker) mayClusterAction(img *cluster.Image, c *Client) bool {
	return b.authz == nil || b.authz.acl.Authorize(img.ACLs, c.Principal, c.Host, acl.OpClusterAction, acl.ResourceCluster, acl.ClusterName)
}
