package cluster

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/pmap"
)

// Config resource types, as in Kafka's DescribeConfigs and AlterConfigs.
const (
	resourceTopic  int8 = 2
	resourceBroker int8 = 4
)

// applyFunc applies one decoded command to the next image. It must be
// deterministic: same previous image and command, same result or error, on
// every node and every replay. On error the image is left as it was.
type applyFunc func(b *imageBuilder, cmd Command) error

// fsm is the raft.FSM of the metadata log. Raft calls Apply, Snapshot and
// Restore from one goroutine (and Restore at start-up, before it), so state
// needs no lock; readers go through the publisher.
type fsm struct {
	logger *slog.Logger
	pub    *publisher
	apply  map[commandType]applyFunc
	state  *Image // the replicated state; ControllerID is not part of it
	// applied is the Raft index of the last command applied (failed or
	// not), which Propose waits for on a follower (read-your-writes).
	applied *appliedIndex
	// halt is set when the log holds a command this node does not know
	// and may not skip: from then on nothing more is applied (halt.go).
	halt *halt
}

func newFSM(logger *slog.Logger, pub *publisher) *fsm {
	return &fsm{
		logger:  logger,
		pub:     pub,
		state:   emptyImage(),
		applied: newAppliedIndex(),
		halt:    newHalt(),
		apply: map[commandType]applyFunc{
			cmdCreateTopic:         applyAs(applyCreateTopic),
			cmdDeleteTopic:         applyAs(applyDeleteTopic),
			cmdCreatePartitions:    applyAs(applyCreatePartitions),
			cmdAlterConfigs:        applyAs(applyAlterConfigs),
			cmdRegisterBroker:      applyAs(applyRegisterBroker),
			cmdSetClusterID:        applyAs(applySetClusterID),
			cmdAllocateProducerIDs: applyAs(applyAllocateProducerIDs),
			cmdReserveProducerIDs:  applyAs(applyReserveProducerIDs),
			cmdAlterPartition:      applyAs(applyAlterPartition),
			cmdElectLeaders:        applyAs(applyElectLeaders),
			cmdReassign:            applyAs(applyReassign),
			cmdFenceBroker:         applyAs(applyFenceBroker),
			cmdUnfenceBroker:       applyAs(applyUnfenceBroker),
			cmdShutdownBroker:      applyAs(applyShutdownBroker),
			cmdCreateAcls:          applyAs(applyCreateAcls),
			cmdDeleteAcls:          applyAs(applyDeleteAcls),

			cmdUpsertScramCredential: applyAs(applyUpsertScramCredential),
			cmdDeleteScramCredential: applyAs(applyDeleteScramCredential),

			cmdAlterClientQuota: applyAs(applyAlterClientQuota),

			cmdCreateTopics:    applyAs(applyCreateTopics),
			cmdAlterPartitions: applyAs(applyAlterPartitions),

			cmdOfflineReplicas: applyAs(applyOfflineReplicas),

			cmdUnregisterBroker: applyAs(applyUnregisterBroker),
		},
	}
}

func applyAs[C Command](fn func(*imageBuilder, C) error) applyFunc {
	return func(b *imageBuilder, cmd Command) error {
		c, ok := cmd.(C)
		if !ok {
			return fmt.Errorf("cluster: command %T routed to the apply function of %T", cmd, *new(C))
		}
		return fn(b, c)
	}
}

// Apply implements raft.FSM. It returns nil or the command's error, which
// Propose hands back to its caller.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if err := f.halt.err(); err != nil {
		return err // halted: the state stays at the last command understood
	}
	img, result, err := f.applyCommandResult(f.state, l.Data, l.Index)
	if err != nil {
		var unknown *unknownCommandError
		if errors.As(err, &unknown) && unknown.ignore() {
			f.logger.Warn("skipping unknown metadata command", "index", l.Index, "err", err)
			f.applied.set(l.Index)
			return nil
		}
		if unknown != nil {
			// Skipping it would let this node's metadata diverge from
			// every node that understood it; stop instead (halt.go).
			herr := fmt.Errorf("%w: index %d holds %w; this node's version of Sluice is older than the cluster's metadata: upgrade it", ErrHalted, l.Index, err)
			f.logger.Error("metadata log holds a command this node does not understand; it applies nothing more and stops", "index", l.Index, "err", err)
			f.halt.set(herr)
			return herr
		}
		f.logger.Debug("metadata command failed", "index", l.Index, "err", err)
		f.applied.set(l.Index)
		return err
	}
	defer f.applied.set(l.Index)
	f.state = img
	f.pub.publishState(img)
	return result
}

// applyCommand decodes data and applies it to prev, returning the next
// image. It has no side effects.
func (f *fsm) applyCommand(prev *Image, data []byte, index uint64) (*Image, error) {
	img, _, err := f.applyCommandResult(prev, data, index)
	return img, err
}

// applyCommandResult is applyCommand that also returns the command's
// result for a successful apply (nil for most commands).
func (f *fsm) applyCommandResult(prev *Image, data []byte, index uint64) (*Image, any, error) {
	e, err := decodeEnvelope(data)
	if err != nil {
		return nil, nil, err
	}
	fn, ok := f.apply[e.typ]
	if !ok {
		return nil, nil, &unknownCommandError{typ: e.typ, version: e.version, flags: e.flags}
	}
	cmd, err := decodePayload(e)
	if err != nil {
		return nil, nil, err
	}
	b := newImageBuilder(prev)
	b.version = e.version
	if err := fn(b, cmd); err != nil {
		return nil, nil, err
	}
	return b.build(index), b.result, nil
}

func applyCreateTopic(b *imageBuilder, c CreateTopic) error {
	if _, ok := b.topic(c.Name); ok {
		return fmt.Errorf("create topic %q: %w", c.Name, ErrTopicExists)
	}
	if _, ok := b.topicByID(c.ID); ok {
		return fmt.Errorf("create topic %q: ID %v: %w", c.Name, c.ID, ErrTopicExists)
	}
	if c.ID == (TopicID{}) {
		return fmt.Errorf("cluster: create topic %q: zero topic ID", c.Name)
	}
	if len(c.Replicas) == 0 {
		return fmt.Errorf("create topic %q: no partitions: %w", c.Name, ErrInvalidPartitions)
	}
	parts, err := b.newPartitions(0, c.Replicas)
	if err != nil {
		return fmt.Errorf("create topic %q: %w", c.Name, err)
	}
	configs := maps.Clone(c.Configs)
	if configs == nil {
		configs = map[string]string{}
	}
	b.putTopic(&Topic{Name: c.Name, ID: c.ID, Partitions: parts, Configs: configs})
	return nil
}

// newPartitions places partitions first, first+1, ...: the ISR of each
// is its live replicas (unfenced, not shutting down), the first of which
// leads, at epoch 0, as Kafka's ReplicationControlManager does; a
// partition with no live replica is refused. Commands logged before
// version 2 put every replica in sync and let the first lead, and apply
// so still.
func (b *imageBuilder) newPartitions(first int, replicas [][]int32) ([]Partition, error) {
	if len(replicas) > math.MaxInt32-first {
		return nil, fmt.Errorf("%d partitions: %w", first+len(replicas), ErrInvalidPartitions)
	}
	parts := make([]Partition, len(replicas))
	for i, rs := range replicas {
		if err := validReplicas(rs); err != nil {
			return nil, fmt.Errorf("partition %d: %w", first+i, err)
		}
		isr := filter(rs, b.live)
		if b.version == 1 {
			isr = slices.Clone(rs)
		}
		if len(isr) == 0 {
			return nil, fmt.Errorf("partition %d: every replica of %v is fenced, shutting down or unregistered: %w", first+i, rs, ErrNoLiveReplica)
		}
		parts[i] = Partition{
			Index:    int32(first + i),
			Leader:   isr[0],
			Replicas: slices.Clone(rs),
			ISR:      isr,
		}
	}
	return parts, nil
}

func validReplicas(rs []int32) error {
	if len(rs) == 0 {
		return fmt.Errorf("no replicas: %w", ErrInvalidReplication)
	}
	for i, r := range rs {
		if r < 0 {
			return fmt.Errorf("replica %d: %w", r, ErrInvalidReplication)
		}
		if slices.Contains(rs[:i], r) {
			return fmt.Errorf("replica %d listed twice: %w", r, ErrInvalidReplication)
		}
	}
	return nil
}

func applyDeleteTopic(b *imageBuilder, c DeleteTopic) error {
	t, ok := b.topicByID(c.ID)
	if !ok {
		return fmt.Errorf("delete topic %v: %w", c.ID, ErrUnknownTopic)
	}
	b.deleteTopic(t)
	return nil
}

func applyCreatePartitions(b *imageBuilder, c CreatePartitions) error {
	t, ok := b.topicByID(c.ID)
	if !ok {
		return fmt.Errorf("create partitions of %v: %w", c.ID, ErrUnknownTopic)
	}
	if len(c.Replicas) == 0 {
		return fmt.Errorf("create partitions of %q: %d partitions already: %w", t.Name, len(t.Partitions), ErrInvalidPartitions)
	}
	if c.From != 0 && int(c.From) != len(t.Partitions) {
		return fmt.Errorf("create partitions of %q: it has %d partitions, not %d: %w", t.Name, len(t.Partitions), c.From, ErrInvalidPartitions)
	}
	added, err := b.newPartitions(len(t.Partitions), c.Replicas)
	if err != nil {
		return fmt.Errorf("create partitions of %q: %w", t.Name, err)
	}
	nt := *t
	nt.Partitions = slices.Concat(t.Partitions, added)
	b.putTopic(&nt)
	return nil
}

func applyAlterConfigs(b *imageBuilder, c AlterConfigs) error {
	switch c.ResourceType {
	case resourceTopic:
		t, ok := b.topic(c.Name)
		if !ok {
			return fmt.Errorf("alter configs of topic %q: %w", c.Name, ErrUnknownTopic)
		}
		nt := *t
		nt.Configs = alteredConfigs(t.Configs, c.Set, c.Replace)
		b.putTopic(&nt)
	case resourceBroker:
		key, err := brokerResourceKey(c.Name)
		if err != nil {
			return err
		}
		b.setBrokerConfigs(key, alteredConfigs(b.brokerConfigs(key), c.Set, c.Replace))
	default:
		return fmt.Errorf("alter configs: resource type %d: %w", c.ResourceType, ErrInvalidResource)
	}
	return nil
}

// brokerResourceKey maps a broker resource name to its BrokerConfigs key:
// "" is the cluster-wide default, otherwise a broker ID in canonical decimal.
func brokerResourceKey(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || id < 0 {
		return "", fmt.Errorf("alter configs: broker %q: %w", name, ErrInvalidResource)
	}
	return strconv.FormatInt(id, 10), nil
}

// alteredConfigs returns a new map: old (or nothing, with replace) with set
// applied, where a nil value deletes its key.
func alteredConfigs(old map[string]string, set map[string]*string, replace bool) map[string]string {
	m := map[string]string{}
	if !replace {
		maps.Copy(m, old)
	}
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = *v
		}
	}
	return m
}

// applyRegisterBroker records a broker's endpoint and state. A broker
// registering Fenced (every start of a multi-node member, KIP-631) or
// ShuttingDown leaves ISRs and leaderships as if fenced; one registering
// live may lead partitions left without a leader. A Rejoin of a broker the
// image still shows live (it stopped without a controlled shutdown) keeps
// its ISR places and leaderships instead (brokerRejoined). Either way, a
// new start's replicas reported offline are offline no longer
// (replicasOnline); the same start registering again (the end of a
// controlled shutdown) keeps them.
func applyRegisterBroker(b *imageBuilder, c RegisterBroker) error {
	if c.Broker.ID < 0 {
		return fmt.Errorf("cluster: register broker %d: negative broker ID", c.Broker.ID)
	}
	if prev, ok := b.next.Brokers[c.Broker.ID]; !ok || prev.Epoch == 0 || c.Broker.Epoch != prev.Epoch {
		// A new start, which reports its offline directories again; not
		// the same start registering live after a controlled shutdown.
		b.replicasOnline(c.Broker.ID)
	}
	if c.Rejoin && c.Broker.Fenced && !c.Broker.ShuttingDown && b.live(c.Broker.ID) {
		b.putBroker(c.Broker)
		b.brokerRejoined(c.Broker.ID)
		return nil
	}
	b.setBroker(c.Broker)
	if c.LostLogs {
		b.brokerLostLogs(c.Broker.ID)
	}
	return nil
}

func applyAllocateProducerIDs(b *imageBuilder, c AllocateProducerIDs) error {
	if c.Count <= 0 || c.Count > 1<<20 {
		return fmt.Errorf("cluster: allocate producer IDs: count %d out of range", c.Count)
	}
	if c.BrokerID < 0 {
		return fmt.Errorf("cluster: allocate producer IDs: negative broker ID %d", c.BrokerID)
	}
	if b.next.NextProducerID > 1<<62 {
		return errors.New("cluster: allocate producer IDs: producer ID space exhausted")
	}
	b.allocateProducerIDs(c.BrokerID, c.Count)
	return nil
}

func applyReserveProducerIDs(b *imageBuilder, c ReserveProducerIDs) error {
	if c.Above < 0 {
		return fmt.Errorf("cluster: reserve producer IDs: negative ID %d", c.Above)
	}
	if c.Above <= MaxReservableProducerID {
		b.reserveProducerIDs(c.Above)
	}
	return nil
}

func applySetClusterID(b *imageBuilder, c setClusterID) error {
	switch cur := b.next.ClusterID; {
	case c.ClusterID == "":
		return errors.New("cluster: set cluster ID: empty ID")
	case cur != "" && cur != c.ClusterID:
		return fmt.Errorf("cluster: set cluster ID %q: cluster already has ID %q", c.ClusterID, cur)
	}
	b.setClusterID(c.ClusterID)
	return nil
}

// Snapshot implements raft.FSM. Images are immutable, so holding the
// current one is the copy; Persist encodes it on Raft's snapshot goroutine.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.halt.err(); err != nil {
		// A snapshot would record an index past the command not applied,
		// and a restart would skip it for good.
		return nil, err
	}
	return &fsmSnapshot{img: f.state, applied: f.applied.get()}, nil
}

// Restore implements raft.FSM: the snapshot replaces the whole state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	img, applied, err := decodeSnapshotApplied(rc)
	if err != nil {
		return err
	}
	f.state = img
	f.pub.publishState(img)
	f.applied.reset(max(applied, img.Index))
	f.logger.Debug("restored metadata snapshot", "index", img.Index, "topics", img.Topics.Len(), "brokers", len(img.Brokers))
	return nil
}

type fsmSnapshot struct {
	img     *Image
	applied uint64
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	ws := snapshotOf(s.img)
	if s.applied > s.img.Index {
		ws.Applied = s.applied
	}
	if err := json.NewEncoder(sink).Encode(ws); err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// snapshotVersion is the format of wireSnapshot; Restore refuses others.
const snapshotVersion = 1

// wireSnapshot is the whole replicated state. Lists are sorted so that the
// same state always encodes to the same bytes.
type wireSnapshot struct {
	Version          int                          `json:"version"`
	Index            uint64                       `json:"index"`
	ClusterID        string                       `json:"cluster_id"`
	Brokers          []wireBroker                 `json:"brokers"`
	Topics           []wireTopic                  `json:"topics"`
	BrokerConfigs    map[string]map[string]string `json:"broker_configs"`
	NextProducerID   int64                        `json:"next_producer_id"`
	ProducerIDBlocks map[int32]int64              `json:"producer_id_blocks"`
	ProducerIDFloor  int64                        `json:"producer_id_floor,omitempty"`
	// Applied is the index of the last command applied when it is past
	// Index (a failed command after the last successful one).
	Applied uint64 `json:"applied,omitempty"`
	// ACLs in canonical order (acls.go).
	ACLs []wireACL `json:"acls,omitempty"`
	// ScramCredentials by user (scram.go).
	ScramCredentials []wireScramUser `json:"scram_credentials,omitempty"`
	// ClientQuotas by entity (quotas.go).
	ClientQuotas []wireClientQuota `json:"client_quotas,omitempty"`
}

type wireTopic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions []wirePartition   `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

type wirePartition struct {
	Index            int32   `json:"index"`
	Leader           int32   `json:"leader"`
	LeaderEpoch      int32   `json:"leader_epoch"`
	Replicas         []int32 `json:"replicas"`
	ISR              []int32 `json:"isr"`
	PartitionEpoch   int32   `json:"partition_epoch,omitempty"`
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	OfflineReplicas  []int32 `json:"offline_replicas,omitempty"`
}

func snapshotOf(img *Image) wireSnapshot {
	s := wireSnapshot{
		Version:          snapshotVersion,
		Index:            img.Index,
		ClusterID:        img.ClusterID,
		Brokers:          make([]wireBroker, 0, len(img.Brokers)),
		Topics:           make([]wireTopic, 0, img.Topics.Len()),
		BrokerConfigs:    img.BrokerConfigs,
		NextProducerID:   img.NextProducerID,
		ProducerIDBlocks: img.ProducerIDBlocks,
		ProducerIDFloor:  img.ProducerIDFloor,
		ACLs:             snapshotACLs(img.ACLs),
		ScramCredentials: snapshotScram(img),
		ClientQuotas:     snapshotQuotas(img),
	}
	for _, b := range img.Brokers {
		s.Brokers = append(s.Brokers, wireBroker(b))
	}
	slices.SortFunc(s.Brokers, func(a, b wireBroker) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range img.Topics.All() {
		wt := wireTopic{Name: t.Name, ID: t.ID, Configs: t.Configs, Partitions: make([]wirePartition, len(t.Partitions))}
		for i, p := range t.Partitions {
			wt.Partitions[i] = wirePartition(p)
		}
		s.Topics = append(s.Topics, wt)
	}
	slices.SortFunc(s.Topics, func(a, b wireTopic) int { return cmp.Compare(a.Name, b.Name) })
	return s
}

func decodeSnapshot(r io.Reader) (*Image, error) {
	img, _, err := decodeSnapshotApplied(r)
	return img, err
}

// decodeSnapshotApplied decodes a snapshot and its applied index.
func decodeSnapshotApplied(r io.Reader) (*Image, uint64, error) {
	var s wireSnapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, 0, fmt.Errorf("cluster: decode snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return nil, 0, fmt.Errorf("cluster: snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	img := emptyImage()
	img.Index = s.Index
	img.ClusterID = s.ClusterID
	img.NextProducerID = s.NextProducerID
	img.ProducerIDFloor = s.ProducerIDFloor
	for k, v := range s.ProducerIDBlocks {
		img.ProducerIDBlocks[k] = v
	}
	for _, b := range s.Brokers {
		img.Brokers[b.ID] = Broker(b)
	}
	var topics pmap.Builder[string, *Topic]
	var topicsByID pmap.Builder[TopicID, *Topic]
	for _, wt := range s.Topics {
		if _, dup := topics.Get(wt.Name); dup {
			return nil, 0, fmt.Errorf("cluster: snapshot lists topic %q twice", wt.Name)
		}
		if _, dup := topicsByID.Get(wt.ID); dup {
			return nil, 0, fmt.Errorf("cluster: snapshot lists topic ID %v twice", wt.ID)
		}
		t := &Topic{Name: wt.Name, ID: wt.ID, Configs: wt.Configs, Partitions: make([]Partition, len(wt.Partitions))}
		if t.Configs == nil {
			t.Configs = map[string]string{}
		}
		for i, p := range wt.Partitions {
			t.Partitions[i] = Partition(p)
		}
		topics.Set(t.Name, t)
		topicsByID.Set(t.ID, t)
	}
	img.Topics, img.TopicsByID = topics.Map(), topicsByID.Map()
	for k, m := range s.BrokerConfigs {
		if len(m) > 0 {
			img.BrokerConfigs[k] = m
		}
	}
	acls, err := restoreACLs(s.ACLs)
	if err != nil {
		return nil, 0, err
	}
	img.ACLs = acls
	if img.scram, err = restoreScram(s.ScramCredentials); err != nil {
		return nil, 0, err
	}
	if img.quotas, err = restoreQuotas(s.ClientQuotas); err != nil {
		return nil, 0, err
	}
	return img, s.Applied, nil
}
