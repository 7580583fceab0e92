// Package node assembles one Sluice process: the cluster metadata node, the
// partitions this broker hosts, the broker's request handlers and the Kafka
// listener. cmd/sluice and the integration tests start brokers through it,
// so both run the same code.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/quota"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/schemaregistry"
	"github.com/sluice-io/sluice/internal/server"
	"github.com/sluice-io/sluice/internal/txn"
)

// Config configures one node.
type Config struct {
	NodeID int32
	// Listen is the Kafka listener address; port 0 picks a free port.
	// It is a shorthand for one PLAINTEXT listener, used when the
	// listeners setting is empty.
	Listen string
	// Advertise is the host:port clients are told to connect to; empty
	// means the listener's address.
	Advertise string
	// DataDir holds partition logs and cluster metadata.
	DataDir string
	// Settings are broker configs by Kafka name (log.retention.ms, ...).
	// controller.quorum.voters makes the node part of a multi-broker
	// cluster.
	Settings map[string]string
	// ControllerListen is the address of this node's metadata quorum
	// member (Raft and controller RPCs). A voter defaults to its own entry
	// in controller.quorum.voters; a broker that is not a voter needs one.
	ControllerListen string
	// BootstrapAdmin, "user:password", gives that user SCRAM-SHA-256 and
	// SCRAM-SHA-512 credentials once the metadata has none for it: the
	// first user of a new cluster (sluice serve --bootstrap-admin).
	BootstrapAdmin string
	Logger         *slog.Logger
	// HTTPBestEffort makes a failure to bind sluice.http.listen a warning
	// rather than an error: sluice serve's default address, which another
	// process may hold.
	HTTPBestEffort bool
	// ReloadSettings, if set, reads Settings again (sluice serve's
	// --config-file and -c flags) for the admin API's config reload
	// (admin_api.go); file names what it read.
	ReloadSettings func() (file string, settings map[string]string, err error)
	// SchemaRegistryListen is the schema registry's REST listener
	// (issue 16); empty turns the registry off on this node.
	SchemaRegistryListen string
	// SchemaRegistryBestEffort makes a failure to bind it a warning:
	// sluice serve's default address, which another process may hold.
	SchemaRegistryBestEffort bool
	// LogFS is the filesystem of the partition logs; nil is the operating
	// system's (or, in a binary built with the faultfs tag, the fault
	// injector SLUICE_FAULTFS names: package faultfs). For fault tests.
	LogFS log.FS
}

// Node is a running Sluice process.
type Node struct {
	cfg    Config
	logger *slog.Logger
	// lns are the Kafka listeners, in the order of specs.
	lns      []net.Listener
	specs    []listenerSpec
	cluster  *cluster.Node
	replicas *replica.Manager
	groups   *group.Coordinator
	txns     *txn.Coordinator
	broker   *broker.Broker
	server   *server.Server
	// obs is the HTTP admin listener and its metrics (http.go); nil
	// when sluice.http.listen is empty.
	obs *observability
	// registry is the schema registry (schemaregistry.go); nil when off.
	registry *registryNode

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error

	// ledMu guards led: the leader epoch of each coordinator partition
	// this broker leads (partitionLed), so that a load that ends after
	// its partition was resigned is undone.
	ledMu sync.Mutex
	led   map[ledPartition]int32
}

// ledPartition names a partition of a coordinator's internal topic.
type ledPartition struct {
	topic     string
	partition int32
}

// Start opens the data directory, joins (or bootstraps) the metadata
// quorum and starts serving Kafka clients; the partitions are recovered
// and opened in the background meanwhile.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("node", cfg.NodeID) // every line of this node names it
	settings, overrides, err := splitListenerSettings(withNodeID(cfg.Settings, cfg.NodeID))
	if err != nil {
		return nil, err
	}
	static, err := config.NewBroker(settings)
	if err != nil {
		return nil, err
	}
	ls := &listenerSettings{static: static, override: overrides}
	specs, interName, err := parseListeners(ls, cfg.Listen, cfg.Advertise)
	if err != nil {
		return nil, err
	}
	// Partitions live in log.dirs when it (or log.dir) is set, else in
	// the data directory, which always holds the cluster metadata.
	logDirs := []string{cfg.DataDir}
	if _, ok := cfg.Settings["log.dirs"]; ok {
		logDirs = static.LogDirs()
	} else if _, ok := cfg.Settings["log.dir"]; ok {
		logDirs = static.LogDirs()
	}
	if logDirs, err = cleanLogDirs(logDirs); err != nil {
		return nil, err
	}
	for _, dir := range append([]string{cfg.DataDir}, logDirs...) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create data directory %s: %w", dir, err)
		}
	}
	logFS, err := partitionFS(cfg, logDirs)
	if err != nil {
		return nil, err
	}
	newLogDirs, allLogDirsNew, err := markLogDirs(logFS, cfg.NodeID, logDirs)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, logger: cfg.Logger, specs: specs}
	if err := n.startHTTP(ls); err != nil { // http.go
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			n.stopHTTP(context.Background())
			n.stopSchemaRegistry(context.Background())
		}
	}()
	if err := n.listenSchemaRegistry(); err != nil { // schemaregistry.go
		return nil, err
	}
	listeners := make([]server.Listener, len(specs))
	var interSpec listenerSpec
	for i, spec := range specs {
		if listeners[i], err = n.securityFor(ctx, ls, spec); err != nil {
			return nil, err
		}
		if spec.name == interName {
			interSpec = spec
		}
	}
	peerOpts, err := interBrokerOpts(ls, interSpec)
	if err != nil {
		return nil, err
	}
	raftServerTLS, raftClientTLS, err := controllerTLS(ls, cfg.Logger)
	if err != nil {
		return nil, err
	}
	closeListeners := func() {
		for _, l := range n.lns {
			l.Close()
		}
	}
	for _, spec := range specs {
		l, err := net.Listen("tcp", spec.bind)
		if err != nil {
			closeListeners()
			return nil, fmt.Errorf("listener %s: listen on %s: %w", spec.name, spec.bind, err)
		}
		n.lns = append(n.lns, l)
	}
	eps, err := endpoints(specs, n.lns)
	if err != nil {
		closeListeners()
		return nil, err
	}
	var host string
	var port int32
	var interAddr net.Addr
	for i, ep := range eps {
		if ep.Name == interName {
			host, port, interAddr = ep.Host, ep.Port, n.lns[i].Addr()
		}
	}
	ln := n.lns[0]
	voters, err := parseVoters(static.String("controller.quorum.voters"))
	if err != nil {
		closeListeners()
		return nil, err
	}
	raftListen, err := raftAddr(cfg.ControllerListen, voters, cfg.NodeID)
	if err != nil {
		closeListeners()
		return nil, err
	}
	var imbalanceCheck time.Duration
	if static.Bool("auto.leader.rebalance.enable") {
		imbalanceCheck = time.Duration(static.Int64("leader.imbalance.check.interval.seconds")) * time.Second
	}
	n.cluster, err = cluster.Open(ctx, cluster.Config{
		NodeID:                cfg.NodeID,
		Dir:                   filepath.Join(cfg.DataDir, "__cluster_metadata"),
		Host:                  host,
		Port:                  port,
		Endpoints:             eps,
		Rack:                  static.String("broker.rack"),
		Logger:                cfg.Logger.With("component", "cluster"),
		Voters:                voters,
		RaftAddr:              raftListen,
		ServerTLS:             raftServerTLS,
		ClientTLS:             raftClientTLS,
		SessionTimeout:        ms(static.Int64("broker.session.timeout.ms")),
		HeartbeatInterval:     ms(static.Int64("broker.heartbeat.interval.ms")),
		LeaderImbalanceCheck:  imbalanceCheck,
		NewLogDirs:            newLogDirs,
		LostLogs:              allLogDirsNew,
		UncleanLeaderElection: static.Bool("unclean.leader.election.enable"),
	})
	if err != nil {
		closeListeners()
		return nil, fmt.Errorf("open cluster metadata: %w", err)
	}
	if cfg.BootstrapAdmin != "" {
		if err := n.bootstrapAdmin(ctx, cfg.BootstrapAdmin); err != nil {
			n.cluster.Close()
			closeListeners()
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	brokerConfig := func(img *cluster.Image) *config.Broker { return broker.EffectiveConfig(static, img, cfg.NodeID) }
	n.replicas = replica.NewManager(replica.Config{
		NodeID:       cfg.NodeID,
		LogDirs:      logDirs,
		Logger:       cfg.Logger.With("component", "replica"),
		BrokerConfig: brokerConfig,
		Files:        log.NewFileCache(fileCacheLimit()),
		OnLeader:     func(p *replica.Partition) { n.partitionLed(runCtx, p) },
		OnResign:     n.partitionResigned,
		Propose:      n.cluster.Propose,
		BrokerEpoch:  n.cluster.BrokerEpoch,
		PeerOpts:     peerOpts,
		FS:           logFS,
		OnDirOffline: func(dir string) { n.logDirFailed(runCtx, dir) },
	})
	if err := n.replicas.Settle(); err != nil {
		cancel()
		n.replicas.Close() // waits for what a directory failing in Settle started
		n.cluster.Close()
		closeListeners()
		return nil, err
	}
	n.groups = group.New(group.Config{
		Partitions:                int32(static.Int64("offsets.topic.num.partitions")),
		Log:                       broker.InternalLog{Replicas: n.replicas, Topic: group.OffsetsTopic},
		Logger:                    cfg.Logger.With("component", "group"),
		MinSessionTimeout:         ms(static.Int64("group.min.session.timeout.ms")),
		MaxSessionTimeout:         ms(static.Int64("group.max.session.timeout.ms")),
		InitialRebalanceDelay:     ms(static.Int64("group.initial.rebalance.delay.ms")),
		OffsetsRetention:          time.Duration(static.Int64("offsets.retention.minutes")) * time.Minute,
		RetentionCheck:            ms(static.Int64("offsets.retention.check.interval.ms")),
		MaxGroupSize:              int(static.Int64("group.max.size")),
		OffsetMetadataMaxSize:     int(static.Int64("offset.metadata.max.bytes")),
		CommitTimeout:             ms(static.Int64("offsets.commit.timeout.ms")),
		MaxMetadataBytes:          1 << 20,
		ConsumerSessionTimeout:    ms(static.Int64("group.consumer.session.timeout.ms")),
		ConsumerHeartbeatInterval: ms(static.Int64("group.consumer.heartbeat.interval.ms")),
		Topics:                    n.topics,
	})
	// The coordinators and the broker exist before the partitions are
	// opened: opening a partition this broker leads loads a coordinator's
	// state (partitionLed), which may write transaction markers at once.
	producerIDs := txn.NewProducerIDs(n.allocateProducerIDs).WithFloor(func() int64 { return n.cluster.Image().ProducerIDFloor })
	markers := &lateMarkers{}
	n.txns = txn.New(txn.Config{
		Partitions:         int32(static.Int64("transaction.state.log.num.partitions")),
		Log:                broker.InternalLog{Replicas: n.replicas, Topic: txn.StateTopic},
		Markers:            markers,
		ProducerIDs:        producerIDs,
		GroupPartition:     n.groups.PartitionFor,
		PartitionExists:    n.partitionExists,
		SessionExpiry:      n.cluster.SessionExpiry,
		Logger:             cfg.Logger.With("component", "txn"),
		MaxTimeout:         ms(static.Int64("transaction.max.timeout.ms")),
		IDExpiration:       ms(static.Int64("transactional.id.expiration.ms")),
		AbortTimedOutEvery: ms(static.Int64("transaction.abort.timed.out.transaction.cleanup.interval.ms")),
		RemoveExpiredEvery: ms(static.Int64("transaction.remove.expired.transaction.cleanup.interval.ms")),
	})
	// One audit log, rate-limited as a whole, for authentication failures
	// (server) and authorization denials (broker).
	audit := auth.NewAudit(cfg.Logger.With("component", "audit"), 0)
	b := broker.New(broker.Config{
		Audit:     audit,
		NodeID:    cfg.NodeID,
		Static:    static,
		Cluster:   n.cluster,
		Replicas:  n.replicas,
		Producers: producerIDs,
		Groups:    n.groups,
		Txns:      n.txns,
		Logger:    cfg.Logger.With("component", "broker"),
		PeerOpts:  peerOpts,
		// issue 13: one budget for decompressing produced batches.
		Decompression: quota.NewBudget(decompressionBudget(static)),
		SchemaIDs:     schemaIDs{n}, // schemaregistry.go
	})
	n.broker = b
	markers.m = broker.NewMarkers(b)
	n.startSchemaRegistry(runCtx, interAddr, host, len(voters), peerOpts)
	if err := n.replicas.RemoveOrphans(n.cluster.Image()); err != nil {
		n.logger.Warn("remove partitions of deleted topics", "err", err)
	}
	// The partitions open in the background, several at a time; the
	// listener serves once they are open, or after startupOpenWait while
	// they go on opening (a produce for one still opening waits for it;
	// other requests get NOT_LEADER_OR_FOLLOWER, which clients retry).
	opened := make(chan struct{})
	n.wg.Add(1)
	go func(img *cluster.Image) {
		defer n.wg.Done()
		defer close(opened)
		start := time.Now()
		if err := n.replicas.Reconcile(img); err != nil {
			n.logger.Warn("some partitions did not open", "err", err)
		}
		n.logger.Info("partitions opened", "count", len(n.replicas.Partitions()), "took", time.Since(start).Round(time.Millisecond))
	}(n.cluster.Image())

	// issue 13: connection limits (limits.go), applied as they change.
	conns := quota.NewConnections(connectionLimits(broker.EffectiveConfig(static, n.cluster.Image(), cfg.NodeID), n.logger))
	protected := ""
	if len(specs) > 1 {
		protected = interName // as Kafka: exempt only beside other listeners
	}
	n.server = server.New(server.Config{
		MaxRequestSize:    int32(static.Int64("socket.request.max.bytes")),
		MaxQueuedBytes:    static.Int64("queued.max.request.bytes"),
		IdleTimeout:       time.Duration(static.Int64("connections.max.idle.ms")) * time.Millisecond,
		Logger:            cfg.Logger.With("component", "server"),
		Audit:             audit,
		FailedAuthDelay:   ms(static.Int64("connection.failed.authentication.delay.ms")),
		Connections:       conns,
		ProtectedListener: protected,
		ArrayLimits:       b,
	}, n.instrument(b))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watchConnectionLimits(runCtx, static, conns)
	}()

	n.wg.Add(6)
	go func() {
		defer n.wg.Done()
		n.watchMetadata(runCtx)
	}()
	go func() {
		defer n.wg.Done()
		n.watchDeletedTopics(runCtx)
	}()
	go func() {
		defer n.wg.Done()
		n.groups.Run(runCtx)
	}()
	go func() {
		defer n.wg.Done()
		n.txns.Run(runCtx)
	}()
	go func() {
		defer n.wg.Done()
		n.replicas.Run(runCtx, n.cluster)
	}()
	go func() {
		defer n.wg.Done()
		wait := time.NewTimer(startupOpenWait)
		select {
		case <-opened:
		case <-wait.C:
			n.logger.Info("serving while partitions open")
		case <-runCtx.Done():
		}
		wait.Stop()
		var serving sync.WaitGroup
		for i, l := range n.lns {
			serving.Add(1)
			go func() {
				defer serving.Done()
				err := n.server.ServeListener(runCtx, l, listeners[i])
				if errors.Is(err, net.ErrClosed) {
					l.Close() // stopped before it served
					return
				}
				if err != nil {
					n.setErr(err)
					n.logger.Error("listener stopped", "listener", listeners[i].Name, "err", err)
				}
			}()
		}
		serving.Wait()
	}()
	for i, ep := range eps {
		n.logger.Info("sluice listener", "name", ep.Name, "protocol", ep.Protocol, "listen", n.lns[i].Addr().String(), "advertise", net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), "inter_broker", ep.Name == interName)
	}
	n.logger.Info("sluice broker started", "listen", ln.Addr().String(), "advertise", net.JoinHostPort(host, strconv.Itoa(int(port))), "node_id", cfg.NodeID, "data_dir", cfg.DataDir)
	n.observeNode(static, opened)
	started = true
	return n, nil
}

func withNodeID(settings map[string]string, id int32) map[string]string {
	out := make(map[string]string, len(settings)+1)
	for k, v := range settings {
		out[k] = v
	}
	out["node.id"] = strconv.Itoa(int(id))
	return out
}

func advertised(advertise string, addr net.Addr) (string, int32, error) {
	if advertise == "" {
		advertise = addr.String()
	}
	host, portStr, err := net.SplitHostPort(advertise)
	if err != nil {
		return "", 0, fmt.Errorf("advertised address %q: %w", advertise, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("advertised address %q: bad port", advertise)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return host, int32(port), nil
}

// allocateProducerIDs reserves a block of producer IDs through the
// metadata log. Calls are serialised by txn.ProducerIDs, so the block this
// broker finds in the image after the proposal is the one it reserved.
func (n *Node) allocateProducerIDs(ctx context.Context, count int64) (int64, error) {
	if err := n.cluster.Propose(ctx, cluster.AllocateProducerIDs{BrokerID: n.cfg.NodeID, Count: count}); err != nil {
		return 0, err
	}
	return n.cluster.Image().ProducerIDBlocks[n.cfg.NodeID], nil
}

// fileCacheLimit is how many segment files the partitions keep open at
// most when idle: maxIdleFiles, or half of the process's descriptor limit
// (which Go raises to the hard limit at start) when that is lower, leaving
// the rest to connections, the metadata log and files in use. Files in use
// or with writes not yet fsynced stay open beyond it; an idle one is
// reopened on its next read, which costs an open(2).
func fileCacheLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return maxIdleFiles
	}
	return min(max(int(rl.Cur/2), 256), maxIdleFiles)
}

// startupOpenWait is how long a starting broker waits for its partitions
// to open before it serves anyway.
const startupOpenWait = time.Second

// maxIdleFiles bounds the idle segment files kept open, whatever the
// descriptor limit: thousands of idle partitions must not hold thousands
// of descriptors.
const maxIdleFiles = 1024

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// partitionLed loads a coordinator's state from a partition of its
// internal topic that this broker now leads: the coordinator of a group is
// the leader of its __consumer_offsets partition, the coordinator of a
// transactional ID the leader of its __transaction_state partition (whose
// leader epoch is the coordinator epoch).
func (n *Node) partitionLed(ctx context.Context, p *replica.Partition) {
	var load func() error
	switch p.Topic {
	case group.OffsetsTopic:
		load = func() error { return n.groups.Load(ctx, p.Index) }
	case txn.StateTopic:
		epoch := p.LeaderEpoch()
		load = func() error { return n.txns.Load(ctx, p.Index, epoch) }
	case schemaregistry.Topic:
		n.schemaRegistryLed()
		return
	default:
		return
	}
	key, epoch := ledPartition{p.Topic, p.Index}, p.LeaderEpoch()
	n.ledMu.Lock()
	if n.led == nil {
		n.led = make(map[ledPartition]int32)
	}
	n.led[key] = epoch
	n.ledMu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		// A load that fails (a read error) is tried again while this
		// broker still leads the partition at that epoch: until it
		// loads, the coordinator answers NOT_COORDINATOR or
		// COORDINATOR_LOAD_IN_PROGRESS for its groups or transactional
		// IDs, and no leader change may come to end that.
		for backoff := loadRetryMin; ; backoff = min(2*backoff, loadRetryMax) {
			err := load()
			if err == nil || ctx.Err() != nil {
				break
			}
			n.ledMu.Lock()
			e, still := n.led[key]
			n.ledMu.Unlock()
			if !still || e != epoch {
				break
			}
			n.logger.Error("load coordinator state; trying again", "topic", p.Topic, "partition", p.Index, "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		// A resignation that came before the load registered the
		// partition found nothing to unload: unload it now. One that
		// comes later unloads it itself.
		n.ledMu.Lock()
		_, still := n.led[key]
		n.ledMu.Unlock()
		if !still {
			n.unloadCoordinator(key)
		}
	}()
}

// A failed coordinator load is tried again after loadRetryMin, then after
// twice as long each time, up to loadRetryMax.
const (
	loadRetryMin = 500 * time.Millisecond
	loadRetryMax = 30 * time.Second
)

// partitionResigned unloads a coordinator's state of a partition this
// broker stopped leading.
func (n *Node) partitionResigned(p *replica.Partition) {
	key := ledPartition{p.Topic, p.Index}
	n.ledMu.Lock()
	delete(n.led, key)
	n.ledMu.Unlock()
	n.unloadCoordinator(key)
}

// unloadCoordinator drops the coordinator state of an internal partition.
func (n *Node) unloadCoordinator(key ledPartition) {
	switch key.topic {
	case group.OffsetsTopic:
		n.groups.Unload(key.partition)
	case txn.StateTopic:
		n.txns.Unload(key.partition)
	}
}

// lateMarkers hands the transaction coordinator the broker's marker
// writer, which exists only once the broker does.
type lateMarkers struct{ m *broker.Markers }

func (l *lateMarkers) Write(ctx context.Context, r txn.MarkerRequest) error { return l.m.Write(ctx, r) }

// partitionExists reports whether the cluster has a partition, for
// AddPartitionsToTxn.
func (n *Node) partitionExists(topic string, partition int32) bool {
	t := n.cluster.Image().Topics.Value(topic)
	return t != nil && partition >= 0 && int(partition) < len(t.Partitions)
}

// topics lists the cluster's topics for server-side group assignment.
func (n *Node) topics() []group.TopicInfo {
	img := n.cluster.Image()
	out := make([]group.TopicInfo, 0, img.Topics.Len())
	for _, t := range img.Topics.All() {
		out = append(out, group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions))})
	}
	return out
}

// watchMetadata stops serving when the metadata state machine halts on a
// command this node does not understand (cluster.ErrHalted): its view of
// the cluster no longer follows the others', so it must not answer
// clients from it. The owner sees Failed and shuts the node down.
func (n *Node) watchMetadata(ctx context.Context) {
	select {
	case <-n.cluster.Halted():
		err := n.cluster.Err()
		n.setErr(err)
		n.logger.Error("stopping: the metadata log holds a command this version of Sluice does not understand; upgrade this node", "err", err)
		n.cancel()
	case <-ctx.Done():
	}
}

// Failed is closed when the node stops serving on its own: its metadata
// state machine halted (Err says why). The owner should call Shutdown.
func (n *Node) Failed() <-chan struct{} { return n.cluster.Halted() }

// Err returns why the node failed, or nil.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	if n.err == nil {
		return n.cluster.Err()
	}
	return n.err
}

func (n *Node) setErr(err error) {
	n.errMu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.errMu.Unlock()
}

// Addr is the address the first Kafka listener is bound to.
func (n *Node) Addr() string { return n.lns[0].Addr().String() }

// ListenerAddr is the address the named listener is bound to, or "".
func (n *Node) ListenerAddr(name string) string {
	for i, spec := range n.specs {
		if strings.EqualFold(spec.name, name) {
			return n.lns[i].Addr().String()
		}
	}
	return ""
}

// Shutdown stops accepting requests, answers those in flight, then syncs
// and closes every log and the metadata node.
func (n *Node) Shutdown(ctx context.Context) error {
	n.markStopping()
	n.stopSchemaRegistry(ctx)
	n.controlledShutdown(ctx)
	err := n.server.Shutdown(ctx)
	n.cancel()
	n.wg.Wait()
	n.broker.Close()
	if cerr := n.replicas.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if cerr := n.cluster.Close(); cerr != nil && err == nil {
		err = cerr
	}
	n.stopHTTP(ctx)
	n.logger.Info("sluice broker stopped")
	return err
}

// controlledShutdown hands leadership of this broker's partitions to other
// in-sync replicas before the listener stops, so clients move over without
// a window with no leader. A broker alone in its cluster has nobody to hand
// to. One that knows no controller still asks: the controller may have
// just stopped and handed its Raft leadership over, and a broker that
// skipped its shutdown then would stay in every ISR it is in. It gives up
// after controlledShutdownTimeout (the quorum stopped first) and stops
// anyway.
func (n *Node) controlledShutdown(ctx context.Context) {
	if !otherLiveBroker(n.cluster.Image(), n.cfg.NodeID) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, controlledShutdownTimeout)
	defer cancel()
	start := time.Now()
	if err := n.cluster.ControlledShutdown(ctx); err != nil {
		n.logger.Warn("controlled shutdown did not complete; stopping anyway", "err", err)
		return
	}
	n.logger.Info("controlled shutdown: leadership moved away", "took", time.Since(start).Round(time.Millisecond))
}

// controlledShutdownTimeout bounds the wait for the controller to commit
// the shutdown, which takes milliseconds with a quorum: more means there
// is none (it is being lost or re-elected), and the broker stops anyway.
const controlledShutdownTimeout = 3 * time.Second

// otherLiveBroker reports whether a broker other than self could take over
// leaderships: registered, unfenced and not shutting down itself. The last
// broker of a cluster stopping one by one has nobody to hand to, and no
// quorum to commit its shutdown with either.
func otherLiveBroker(img *cluster.Image, self int32) bool {
	for id, b := range img.Brokers {
		if id != self && !b.Fenced && !b.ShuttingDown {
			return true
		}
	}
	return false
}
