package cluster

// Commands travel through the Raft log inside an envelope:
//
//	byte 0    command type (commandType; values are persistent, never reused)
//	byte 1    payload version of that type
//	byte 2    flags: bit 0 = ignore if unknown; other bits reserved (0)
//	byte 3..  JSON payload (the wire* struct of that type and version)
//
// A node that does not know a (type, version) pair, or sees a reserved flag
// bit, treats the command as unknown: it skips it when the ignore bit is set
// and fails it otherwise (consul's IgnoreUnknownTypeFlag, as a separate
// byte). That lets a newer node propose optional commands while older nodes
// still follow the log during a rolling upgrade.
//
// A version 2 of a type changes what its commands do, so a node that knows
// only version 1 stops at one instead of applying it otherwise
// (latestVersion lists them); entries of version 1 apply as they always
// did.
//
// The payload structs below carry JSON tags and are converted to and from
// the exported command structs, so renaming a Go field cannot silently
// change the on-disk format: the conversions stop compiling instead.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidResource is returned by AlterConfigs for a resource type other
// than topic (2) or broker (4), or a broker resource name that is not a
// broker ID.
var ErrInvalidResource = errors.New("cluster: invalid config resource")

type commandType uint8

const (
	cmdCreateTopic         commandType = 1
	cmdDeleteTopic         commandType = 2
	cmdCreatePartitions    commandType = 3
	cmdAlterConfigs        commandType = 4
	cmdRegisterBroker      commandType = 5
	cmdSetClusterID        commandType = 6
	cmdAllocateProducerIDs commandType = 7
	cmdAlterPartition      commandType = 8
	cmdElectLeaders        commandType = 9
	cmdReassign            commandType = 10
	cmdFenceBroker         commandType = 11
	cmdUnfenceBroker       commandType = 12
	cmdShutdownBroker      commandType = 13

	// ACLs (acls.go).
	cmdCreateAcls commandType = 14
	cmdDeleteAcls commandType = 15

	// SCRAM credentials (scram.go).
	cmdUpsertScramCredential commandType = 16
	cmdDeleteScramCredential commandType = 17

	// Client quotas (quotas.go).
	cmdAlterClientQuota commandType = 18

	// Many topics or ISR changes in one entry (batch_commands.go).
	cmdCreateTopics    commandType = 19
	cmdAlterPartitions commandType = 20

	// Producer IDs a mirror copied from another cluster (ReserveProducerIDs).
	cmdReserveProducerIDs commandType = 21

	// Replicas in a broker's failed log directory (offline_replicas.go).
	cmdOfflineReplicas commandType = 22

	// A broker removed from the metadata (unregister.go).
	cmdUnregisterBroker commandType = 23
)

func (t commandType) String() string {
	switch t {
	case cmdCreateTopic:
		return "CreateTopic"
	case cmdDeleteTopic:
		return "DeleteTopic"
	case cmdCreatePartitions:
		return "CreatePartitions"
	case cmdAlterConfigs:
		return "AlterConfigs"
	case cmdRegisterBroker:
		return "RegisterBroker"
	case cmdSetClusterID:
		return "SetClusterID"
	case cmdAllocateProducerIDs:
		return "AllocateProducerIDs"
	case cmdAlterPartition:
		return "AlterPartition"
	case cmdElectLeaders:
		return "ElectLeaders"
	case cmdReassign:
		return "Reassign"
	case cmdFenceBroker:
		return "FenceBroker"
	case cmdUnfenceBroker:
		return "UnfenceBroker"
	case cmdShutdownBroker:
		return "ShutdownBroker"
	case cmdCreateAcls:
		return "CreateAcls"
	case cmdDeleteAcls:
		return "DeleteAcls"
	case cmdUpsertScramCredential:
		return "UpsertScramCredential"
	case cmdDeleteScramCredential:
		return "DeleteScramCredential"
	case cmdAlterClientQuota:
		return "AlterClientQuota"
	case cmdCreateTopics:
		return "CreateTopics"
	case cmdAlterPartitions:
		return "AlterPartitions"
	case cmdReserveProducerIDs:
		return "ReserveProducerIDs"
	case cmdOfflineReplicas:
		return "OfflineReplicas"
	case cmdUnregisterBroker:
		return "UnregisterBroker"
	}
	return fmt.Sprintf("command(%d)", uint8(t))
}

// latestVersion is the newest payload version of each command type;
// decodePayload accepts versions 1 to it. Version 2 of:
//   - RegisterBroker: a rejoin (RegisterBroker.Rejoin);
//   - CreateTopic, CreatePartitions, CreateTopics: the ISR of a new
//     partition is its live replicas, not every replica (newPartitions);
//   - fenceBroker, unfenceBroker: they carry the broker epoch they are for;
//   - AlterPartition, AlterPartitions: the ISR's broker epochs (KIP-903);
//   - OfflineReplicas: the partitions remember the replicas
//     (Partition.OfflineReplicas).
//
// Version 3 of CreatePartitions carries the partition count it follows
// (CreatePartitions.From), and version 3 of RegisterBroker a broker that
// lost the data of its log directories (RegisterBroker.LostLogs); both are
// proposed once every broker is at level 3.
//
// A node applies every version up to commandLevel, and registers with it
// (Broker.Level); a node proposes commands at its image's level
// (Image.CommandLevel), the lowest of the registered brokers', writing a
// version 2 only once every broker applies it. Level 1 is the software
// that knew version 2 of RegisterBroker alone.
//
// A new type starts at version 1 (the default below): older software,
// which has no case for it in decodePayload, stops at it.
func latestVersion(t commandType) uint8 {
	switch t {
	case cmdCreatePartitions, cmdRegisterBroker:
		return 3
	case cmdCreateTopic, cmdCreateTopics, cmdFenceBroker, cmdUnfenceBroker,
		cmdAlterPartition, cmdAlterPartitions, cmdOfflineReplicas:
		return 2
	}
	return 1
}

// commandLevel is the newest command versions this software applies.
const commandLevel uint8 = 3

const (
	envelopeHeaderLen      = 3
	flagIgnoreUnknown byte = 1 << 0
	knownFlags             = flagIgnoreUnknown
)

// envelope is a decoded command header; payload aliases the input.
type envelope struct {
	typ     commandType
	version uint8
	flags   byte
	payload []byte
}

func (e envelope) ignoreUnknown() bool { return e.flags&flagIgnoreUnknown != 0 }

func (e envelope) append(b []byte) []byte {
	b = append(b, byte(e.typ), e.version, e.flags)
	return append(b, e.payload...)
}

func decodeEnvelope(b []byte) (envelope, error) {
	if len(b) < envelopeHeaderLen {
		return envelope{}, fmt.Errorf("cluster: command of %d bytes is shorter than its %d-byte header", len(b), envelopeHeaderLen)
	}
	return envelope{typ: commandType(b[0]), version: b[1], flags: b[2], payload: b[envelopeHeaderLen:]}, nil
}

// unknownCommandError reports a command this node cannot interpret.
type unknownCommandError struct {
	typ     commandType
	version uint8
	flags   byte
}

func (e *unknownCommandError) Error() string {
	return fmt.Sprintf("cluster: unknown command %v version %d (flags %#02x)", e.typ, e.version, e.flags)
}

func (e *unknownCommandError) ignore() bool { return e.flags&flagIgnoreUnknown != 0 }

// setClusterID fixes the cluster ID; Open proposes it once, on a new cluster.
type setClusterID struct {
	ClusterID string `json:"cluster_id"`
}

func (setClusterID) isCommand() {}

// fenceBroker is proposed by the controller when a broker's heartbeats stop
// for the session timeout (KIP-631): the broker leads nothing and leaves
// every ISR where it is not the last member. Epoch, version 2, is the
// broker epoch the silence was seen at: the fencing fails
// (ErrStaleBrokerEpoch) if the broker has registered again since, as that
// new start is not the one that fell silent.
type fenceBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch,omitempty"`
}

// unfenceBroker is proposed by the controller when a fenced broker
// heartbeats again: it may lead partitions left without a leader. Epoch,
// version 2, is the broker epoch of the heartbeat: the unfencing fails
// (ErrStaleBrokerEpoch) if the broker has registered again since.
type unfenceBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch,omitempty"`
}

// shutdownBroker is proposed by a broker's ControlledShutdown: like a fence,
// but the broker stays registered as alive until it stops.
type shutdownBroker struct {
	ID int32 `json:"id"`
}

func (fenceBroker) isCommand()    {}
func (unfenceBroker) isCommand()  {}
func (shutdownBroker) isCommand() {}

// Payloads, version 1 of each type (and RegisterBroker's version 2).
type (
	wireCreateTopic struct {
		Name     string            `json:"name"`
		ID       TopicID           `json:"id"`
		Replicas [][]int32         `json:"replicas"`
		Configs  map[string]string `json:"configs"`
	}
	wireDeleteTopic struct {
		ID TopicID `json:"id"`
	}
	wireCreatePartitions struct {
		ID       TopicID   `json:"id"`
		Replicas [][]int32 `json:"replicas"`
		// From is version 3 of CreatePartitions.
		From int32 `json:"from,omitempty"`
	}
	wireAlterConfigs struct {
		ResourceType int8               `json:"resource_type"`
		Name         string             `json:"name"`
		Set          map[string]*string `json:"set"`
		Replace      bool               `json:"replace"`
	}
	wireBroker struct {
		ID           int32  `json:"id"`
		Host         string `json:"host"`
		Port         int32  `json:"port"`
		Rack         string `json:"rack"`
		Fenced       bool   `json:"fenced,omitempty"`
		ShuttingDown bool   `json:"shutting_down,omitempty"`
		// Endpoints are absent in logs written before named listeners.
		Endpoints []Endpoint `json:"endpoints,omitempty"`
		// Epoch is absent in logs written before broker epochs.
		Epoch int64 `json:"epoch,omitempty"`
		// Level is absent in logs written before command levels.
		Level uint8 `json:"level,omitempty"`
	}
	wireRegisterBroker struct {
		Broker wireBroker `json:"broker"`
		// Rejoin is version 2 of RegisterBroker: a node that knows only
		// version 1 would apply it as a plain registration and diverge,
		// so it stops instead.
		Rejoin bool `json:"rejoin,omitempty"`
		// LostLogs is version 3 of RegisterBroker.
		LostLogs bool `json:"lost_logs,omitempty"`
	}
	wireAllocateProducerIDs struct {
		BrokerID int32 `json:"broker_id"`
		Count    int64 `json:"count"`
	}
	wireReserveProducerIDs struct {
		Above int64 `json:"above"`
	}
	wireAlterPartition struct {
		Topic          TopicID `json:"topic"`
		Partition      int32   `json:"partition"`
		Leader         int32   `json:"leader"`
		LeaderEpoch    int32   `json:"leader_epoch"`
		PartitionEpoch int32   `json:"partition_epoch"`
		ISR            []int32 `json:"isr"`
		// BrokerEpochs is version 2 of AlterPartition and AlterPartitions.
		BrokerEpochs []int64 `json:"broker_epochs,omitempty"`
	}
	wireTopicPartition struct {
		Topic     TopicID `json:"topic"`
		Partition int32   `json:"partition"`
	}
	wireElectLeaders struct {
		Partitions []wireTopicPartition `json:"partitions"`
		Unclean    bool                 `json:"unclean,omitempty"`
	}
	wireReassign struct {
		Topic     TopicID `json:"topic"`
		Partition int32   `json:"partition"`
		Target    []int32 `json:"target"` // null cancels
	}
)

func toWireElectLeaders(c ElectLeaders) wireElectLeaders {
	w := wireElectLeaders{Unclean: c.Unclean}
	if c.Partitions != nil {
		w.Partitions = make([]wireTopicPartition, len(c.Partitions))
		for i, tp := range c.Partitions {
			w.Partitions[i] = wireTopicPartition(tp)
		}
	}
	return w
}

func fromWireElectLeaders(w wireElectLeaders) ElectLeaders {
	c := ElectLeaders{Unclean: w.Unclean}
	if w.Partitions != nil {
		c.Partitions = make([]TopicPartitionID, len(w.Partitions))
		for i, tp := range w.Partitions {
			c.Partitions[i] = TopicPartitionID(tp)
		}
	}
	return c
}

// encodeCommandAt wraps cmd in an envelope, as nodes of level apply it:
// below level 2, its version 1, without what version 2 adds (the broker
// epochs of a fencing, an unfencing and an AlterPartition, a new
// partition's ISR of live replicas alone, offline replicas remembered).
// None of today's commands may be skipped by a node that does not know
// them, so none sets the ignore flag.
func encodeCommandAt(cmd Command, level uint8) ([]byte, error) {
	if level < 3 {
		cmd = levelTwo(cmd)
	}
	if level < 2 {
		cmd = levelOne(cmd)
	}
	return encodeVersioned(cmd, level)
}

// levelTwo is cmd without the fields of its version 3.
func levelTwo(cmd Command) Command {
	switch c := cmd.(type) {
	case CreatePartitions:
		c.From = 0
		return c
	case RegisterBroker:
		c.LostLogs = false
		return c
	}
	return cmd
}

// levelOne is cmd without the fields of its version 2.
func levelOne(cmd Command) Command {
	switch c := cmd.(type) {
	case fenceBroker:
		c.Epoch = 0
		return c
	case unfenceBroker:
		c.Epoch = 0
		return c
	case AlterPartition:
		c.BrokerEpochs = nil
		return c
	case AlterPartitions:
		c.Items = slices.Clone(c.Items)
		for i := range c.Items {
			c.Items[i].BrokerEpochs = nil
		}
		return c
	}
	return cmd
}

// encodeVersioned encodes cmd at the newest version its contents need,
// and level allows.
func encodeVersioned(cmd Command, level uint8) ([]byte, error) {
	var (
		typ     commandType
		payload any
		version uint8 = 1
	)
	switch c := cmd.(type) {
	case CreateTopic:
		typ, payload, version = cmdCreateTopic, wireCreateTopic(c), 2
	case DeleteTopic:
		typ, payload = cmdDeleteTopic, wireDeleteTopic(c)
	case CreatePartitions:
		typ, payload, version = cmdCreatePartitions, wireCreatePartitions(c), 2
		if c.From != 0 {
			version = 3
		}
	case AlterConfigs:
		typ, payload = cmdAlterConfigs, wireAlterConfigs(c)
	case RegisterBroker:
		if c.Rejoin && c.LostLogs {
			return nil, errors.New("cluster: a broker that lost its logs does not rejoin")
		}
		typ, payload = cmdRegisterBroker, wireRegisterBroker{Broker: wireBroker(c.Broker), Rejoin: c.Rejoin, LostLogs: c.LostLogs}
		switch {
		case c.Rejoin:
			version = 2
		case c.LostLogs:
			version = 3
		}
	case setClusterID:
		typ, payload = cmdSetClusterID, c
	case AllocateProducerIDs:
		typ, payload = cmdAllocateProducerIDs, wireAllocateProducerIDs(c)
	case ReserveProducerIDs:
		typ, payload = cmdReserveProducerIDs, wireReserveProducerIDs(c)
	case OfflineReplicas:
		typ, payload, version = cmdOfflineReplicas, toWireOfflineReplicas(c), 2
	case AlterPartition:
		typ, payload = cmdAlterPartition, wireAlterPartition(c)
		if len(c.BrokerEpochs) > 0 {
			version = 2
		}
	case ElectLeaders:
		typ, payload = cmdElectLeaders, toWireElectLeaders(c)
	case Reassign:
		typ, payload = cmdReassign, wireReassign(c)
	case fenceBroker:
		typ, payload = cmdFenceBroker, c
		if c.Epoch != 0 {
			version = 2
		}
	case unfenceBroker:
		typ, payload = cmdUnfenceBroker, c
		if c.Epoch != 0 {
			version = 2
		}
	case shutdownBroker:
		typ, payload = cmdShutdownBroker, c
	case UnregisterBroker:
		typ, payload = cmdUnregisterBroker, wireUnregisterBroker(c)
	case CreateAcls:
		typ, payload = cmdCreateAcls, toWireCreateAcls(c)
	case DeleteAcls:
		typ, payload = cmdDeleteAcls, toWireDeleteAcls(c)
	case UpsertScramCredential:
		typ, payload = cmdUpsertScramCredential, toWireUpsertScram(c)
	case DeleteScramCredential:
		typ, payload = cmdDeleteScramCredential, wireDeleteScramCredential(c)
	case AlterClientQuota:
		typ, payload = cmdAlterClientQuota, toWireAlterClientQuota(c)
	case CreateTopics:
		typ, payload, version = cmdCreateTopics, toWireCreateTopics(c), 2
	case AlterPartitions:
		typ, payload = cmdAlterPartitions, toWireAlterPartitions(c)
		if slices.ContainsFunc(c.Items, func(a AlterPartition) bool { return len(a.BrokerEpochs) > 0 }) {
			version = 2
		}
	default:
		return nil, fmt.Errorf("cluster: cannot encode command %T", cmd)
	}
	if level < 2 && typ != cmdRegisterBroker {
		version = 1 // the same payload, applied as before version 2
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode %v: %w", typ, err)
	}
	return envelope{typ: typ, version: version, payload: p}.append(make([]byte, 0, envelopeHeaderLen+len(p))), nil
}

// decodeCommand decodes an envelope and its payload. It returns an
// *unknownCommandError for a (type, version, flags) it does not know.
// It never panics on any input (FuzzDecodeCommand).
func decodeCommand(b []byte) (Command, error) {
	e, err := decodeEnvelope(b)
	if err != nil {
		return nil, err
	}
	return decodePayload(e)
}

// decodePayload decodes the payload of an envelope.
func decodePayload(e envelope) (Command, error) {
	var err error
	unknown := &unknownCommandError{typ: e.typ, version: e.version, flags: e.flags}
	if e.flags&^knownFlags != 0 || e.version < 1 || e.version > latestVersion(e.typ) {
		return nil, unknown
	}
	var cmd Command
	switch e.typ {
	case cmdCreateTopic:
		var w wireCreateTopic
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = CreateTopic(w)
		}
	case cmdDeleteTopic:
		var w wireDeleteTopic
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = DeleteTopic(w)
		}
	case cmdCreatePartitions:
		var w wireCreatePartitions
		if err = unmarshalPayload(e.payload, &w); err == nil {
			if (w.From != 0) != (e.version == 3) {
				err = errors.New("from is set in version 3 alone")
			}
			cmd = CreatePartitions(w)
		}
	case cmdAlterConfigs:
		var w wireAlterConfigs
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = AlterConfigs(w)
		}
	case cmdRegisterBroker:
		var w wireRegisterBroker
		if err = unmarshalPayload(e.payload, &w); err == nil {
			switch {
			case w.Rejoin != (e.version == 2):
				err = errors.New("rejoin is set in version 2 alone")
			case w.LostLogs != (e.version == 3):
				err = errors.New("lost_logs is set in version 3 alone")
			}
			cmd = RegisterBroker{Broker: Broker(w.Broker), Rejoin: w.Rejoin, LostLogs: w.LostLogs}
		}
	case cmdSetClusterID:
		var w setClusterID
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = w
		}
	case cmdAllocateProducerIDs:
		var w wireAllocateProducerIDs
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = AllocateProducerIDs(w)
		}
	case cmdReserveProducerIDs:
		var w wireReserveProducerIDs
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = ReserveProducerIDs(w)
		}
	case cmdOfflineReplicas:
		var w wireOfflineReplicas
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireOfflineReplicas(w)
		}
	case cmdAlterPartition:
		var w wireAlterPartition
		if err = unmarshalPayload(e.payload, &w); err == nil {
			if (len(w.BrokerEpochs) > 0) != (e.version == 2) {
				err = errors.New("broker epochs are set in version 2 alone")
			}
			cmd = AlterPartition(w)
		}
	case cmdElectLeaders:
		var w wireElectLeaders
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireElectLeaders(w)
		}
	case cmdReassign:
		var w wireReassign
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = Reassign(w)
		}
	case cmdFenceBroker:
		var w fenceBroker
		if err = unmarshalPayload(e.payload, &w); err == nil {
			if (w.Epoch != 0) != (e.version == 2) {
				err = errors.New("epoch is set in version 2 alone")
			}
			cmd = w
		}
	case cmdUnfenceBroker:
		var w unfenceBroker
		if err = unmarshalPayload(e.payload, &w); err == nil {
			if (w.Epoch != 0) != (e.version == 2) {
				err = errors.New("epoch is set in version 2 alone")
			}
			cmd = w
		}
	case cmdShutdownBroker:
		var w shutdownBroker
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = w
		}
	case cmdUnregisterBroker:
		var w wireUnregisterBroker
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = UnregisterBroker(w)
		}
	case cmdCreateAcls:
		var w wireCreateAcls
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireCreateAcls(w)
		}
	case cmdDeleteAcls:
		var w wireDeleteAcls
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireDeleteAcls(w)
		}
	case cmdUpsertScramCredential:
		var w wireUpsertScramCredential
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireUpsertScram(w)
		}
	case cmdDeleteScramCredential:
		var w wireDeleteScramCredential
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = DeleteScramCredential(w)
		}
	case cmdAlterClientQuota:
		var w wireAlterClientQuota
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireAlterClientQuota(w)
		}
	case cmdCreateTopics:
		var w wireCreateTopics
		if err = unmarshalPayload(e.payload, &w); err == nil {
			cmd = fromWireCreateTopics(w)
		}
	case cmdAlterPartitions:
		var w wireAlterPartitions
		if err = unmarshalPayload(e.payload, &w); err == nil {
			if slices.ContainsFunc(w.Items, func(a wireAlterPartition) bool { return len(a.BrokerEpochs) > 0 }) != (e.version == 2) {
				err = errors.New("broker epochs are set in version 2 alone")
			}
			cmd = fromWireAlterPartitions(w)
		}
	default:
		return nil, unknown
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: decode %v v%d: %w", e.typ, e.version, err)
	}
	return cmd, nil
}

// unmarshalPayload decodes a JSON object; "null" and non-objects are
// rejected so that every decoded command came from an explicit payload.
func unmarshalPayload(p []byte, v any) error {
	if len(p) == 0 || p[0] != '{' {
		return errors.New("payload is not a JSON object")
	}
	return json.Unmarshal(p, v)
}
