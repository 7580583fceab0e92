package node

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-io/sluice/internal/buildinfo"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/httpapi"
)

// adminAPI is the node's side of the HTTP admin API (httpapi.Admin,
// docs/admin-api.md).
type adminAPI struct {
	n       *Node
	started time.Time
	// base is what the settings were at start, read as a reload reads
	// them; a reload compares with it.
	base map[string]string
	// reloaded are the dynamic settings a config reload set as this
	// broker's dynamic config, so that a later reload can take back those
	// no longer in the file (and only those). Guarded by the reload
	// itself: one at a time (reloadMu).
	reloadMu sync.Mutex
	reloaded map[string]string
}

func newAdminAPI(n *Node) *adminAPI {
	a := &adminAPI{n: n, started: time.Now(), base: n.cfg.Settings}
	if n.cfg.ReloadSettings != nil {
		if _, s, err := n.cfg.ReloadSettings(); err == nil {
			a.base = s
		}
	}
	return a
}

func (a *adminAPI) Status() httpapi.BrokerStatus {
	n := a.n
	bi := buildinfo.Get()
	st := httpapi.BrokerStatus{
		NodeID: n.cfg.NodeID, Version: bi.Version, Commit: bi.Commit, GoVersion: bi.GoVersion,
		HTTPAddress: n.HTTPAddr(), ControllerID: -1, StartedAt: a.started,
		UptimeSeconds: int64(time.Since(a.started).Seconds()), Listeners: []httpapi.Listener{},
	}
	st.Ready = n.readiness().Ready
	if !n.obs.wired.Load() {
		return st // starting: nothing else is there to read
	}
	for i, spec := range n.specs {
		l := httpapi.Listener{Name: spec.name, SecurityProtocol: spec.protocol, Address: n.lns[i].Addr().String()}
		l.Advertised = spec.advertise
		if l.Advertised == "" {
			l.Advertised = l.Address
		}
		st.Listeners = append(st.Listeners, l)
	}
	img := n.cluster.Image()
	st.ClusterID, st.ControllerID = img.ClusterID, img.ControllerID
	st.IsController = img.ControllerID == n.cfg.NodeID
	if b, ok := img.Brokers[n.cfg.NodeID]; ok {
		st.Fenced, st.Maintenance = b.Fenced, b.ShuttingDown
	}
	st.Partitions, st.Leaders, _ = a.leadership(img)
	st.CommandLevel = int(img.CommandLevel())
	return st
}

// leadership counts the partitions hosted here, those the metadata says
// this broker leads, and those it says have no leader. The metadata,
// not the partitions' roles: a role follows the metadata a moment later.
func (a *adminAPI) leadership(img *cluster.Image) (hosted, leaders, leaderless int) {
	for _, p := range a.n.replicas.Partitions() {
		hosted++
		t := img.Topics.Value(p.Topic)
		if t == nil || int(p.Index) >= len(t.Partitions) {
			continue
		}
		switch t.Partitions[p.Index].Leader {
		case a.n.cfg.NodeID:
			leaders++
		case -1:
			leaderless++
		}
	}
	return hosted, leaders, leaderless
}

func (a *adminAPI) LogDirs() []httpapi.LogDir {
	n := a.n
	dirs := []httpapi.LogDir{}
	if !n.obs.wired.Load() {
		return dirs
	}
	parts := n.replicas.Partitions()
	for _, root := range n.replicas.LogDirs() {
		d := httpapi.LogDir{Path: root, Online: true}
		if abs, err := filepath.Abs(root); err == nil {
			d.Path = abs
		}
		if err := n.replicas.LogDirOffline(root); err != nil {
			d.Online, d.Error = false, err.Error()
		}
		var fs syscall.Statfs_t
		if err := syscall.Statfs(root, &fs); err == nil {
			d.TotalBytes, d.UsableBytes = int64(fs.Blocks)*fs.Bsize, int64(fs.Bavail)*fs.Bsize
		} else if d.Error == "" {
			d.Error = err.Error()
		}
		for _, p := range parts {
			if p.Dir() == filepath.Clean(root) {
				d.Partitions++
				d.SizeBytes += p.Log().Size()
			}
		}
		dirs = append(dirs, d)
	}
	return dirs
}

func (a *adminAPI) Replicas(topic string) []httpapi.Replica {
	out := []httpapi.Replica{}
	if !a.n.obs.wired.Load() {
		return out
	}
	for _, p := range a.n.replicas.Partitions() {
		if topic != "" && p.Topic != topic {
			continue
		}
		r := httpapi.Replica{
			Topic: p.Topic, Partition: p.Index, Leader: p.IsLeader(), LeaderEpoch: p.LeaderEpoch(),
			HighWatermark: p.HighWatermark(), LastStableOffset: p.LastStableOffset(),
			LogStartOffset: p.LogStartOffset(), LogEndOffset: p.LogEndOffset(), LogDir: p.Dir(),
		}
		if abs, err := filepath.Abs(r.LogDir); err == nil {
			r.LogDir = abs
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y httpapi.Replica) int {
		if c := strings.Compare(x.Topic, y.Topic); c != 0 {
			return c
		}
		return int(x.Partition - y.Partition)
	})
	return out
}

func (a *adminAPI) Maintenance() httpapi.MaintenanceStatus {
	n := a.n
	var st httpapi.MaintenanceStatus
	if !n.obs.wired.Load() {
		return st
	}
	img := n.cluster.Image()
	st.Maintenance = img.Brokers[n.cfg.NodeID].ShuttingDown
	_, st.Leaders, st.Leaderless = a.leadership(img)
	return st
}

// SetMaintenance starts maintenance with a controlled shutdown that does
// not stop the broker: its leaderships move to other in-sync replicas and
// it leaves every ISR, then keeps serving as a follower. It ends it by
// registering again, as a broker does when it restarts.
func (a *adminAPI) SetMaintenance(ctx context.Context, on bool) (httpapi.MaintenanceStatus, error) {
	n := a.n
	if !n.obs.wired.Load() {
		return httpapi.MaintenanceStatus{}, httpapi.Errorf(http.StatusServiceUnavailable, "the broker is starting")
	}
	img := n.cluster.Image()
	cur := img.Brokers[n.cfg.NodeID]
	switch {
	case on && !cur.ShuttingDown:
		if !otherLiveBroker(img, n.cfg.NodeID) {
			return a.Maintenance(), httpapi.Errorf(http.StatusConflict, "no other live broker could take over this broker's leaderships")
		}
		start := time.Now()
		if err := n.cluster.ControlledShutdown(ctx); err != nil {
			return a.Maintenance(), httpapi.Errorf(http.StatusServiceUnavailable, "move leadership away: %v", err)
		}
		n.logger.Info("maintenance started: leadership moved away", "took", time.Since(start).Round(time.Millisecond))
	case !on && cur.ShuttingDown:
		if err := n.cluster.EndControlledShutdown(ctx); err != nil {
			return a.Maintenance(), httpapi.Errorf(http.StatusServiceUnavailable, "end maintenance: %v", err)
		}
		n.logger.Info("maintenance ended")
	}
	return a.Maintenance(), nil
}

// ReloadConfig reads the settings again (Config.ReloadSettings: the
// --config-file and -c flags of sluice serve) and compares each with what
// the same reading gave when this broker started. A changed dynamic setting becomes this
// broker's dynamic config, as kafka-configs --entity-type brokers
// --entity-name <id> --alter would set it; a changed read-only one is
// reported as needing a restart. A setting an earlier reload set that the
// file no longer changes is removed again. Nothing is applied when any
// value is invalid or the file cannot be read.
func (a *adminAPI) ReloadConfig(ctx context.Context) (httpapi.ReloadResult, error) {
	n := a.n
	res := httpapi.ReloadResult{Applied: map[string]*string{}, RestartRequired: []string{}}
	if n.cfg.ReloadSettings == nil {
		return res, httpapi.Errorf(http.StatusConflict, "this broker was started without a settings file to reload (sluice serve --config-file)")
	}
	if !n.obs.wired.Load() {
		return res, httpapi.Errorf(http.StatusServiceUnavailable, "the broker is starting")
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	file, settings, err := n.cfg.ReloadSettings()
	res.File = file
	if err != nil {
		return res, httpapi.Errorf(http.StatusBadRequest, "read settings: %v", err)
	}
	table := config.BrokerTable()
	var invalid []error
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		v := settings[k]
		def, known := table.Lookup(k)
		old, had := a.base[k]
		prev, reloadedBefore := a.reloaded[k]
		switch {
		case !known && !startsWith(k, listenerPrefix, mirrorSettingPrefix):
			// A name the broker does not know makes it refuse to start.
			invalid = append(invalid, table.Validate(k, v))
		case !known:
			if strings.HasPrefix(k, listenerPrefix) {
				if _, _, err := splitListenerSettings(map[string]string{k: v}); err != nil {
					invalid = append(invalid, err)
					continue
				}
			}
			if !had || old != v {
				res.RestartRequired = append(res.RestartRequired, k) // listener.name.*, node-level settings
			} else {
				res.Unchanged++
			}
		case had && old == v && !reloadedBefore:
			res.Unchanged++
		case !def.Dynamic:
			res.RestartRequired = append(res.RestartRequired, k)
		case reloadedBefore && prev == v:
			res.Unchanged++
		default:
			if err := table.Validate(k, v); err != nil {
				invalid = append(invalid, err)
				continue
			}
			if had && old == v {
				res.Applied[k] = nil // back to the value it started with
			} else {
				res.Applied[k] = &v
			}
		}
	}
	for k := range a.reloaded {
		if _, ok := settings[k]; !ok {
			res.Applied[k] = nil
		}
	}
	if len(invalid) > 0 {
		return res, httpapi.Errorf(http.StatusBadRequest, "nothing applied: %v", errors.Join(invalid...))
	}
	if len(res.Applied) > 0 {
		cmd := cluster.AlterConfigs{ResourceType: 4, Name: strconv.Itoa(int(n.cfg.NodeID)), Set: res.Applied}
		if err := n.cluster.Propose(ctx, cmd); err != nil {
			return res, httpapi.Errorf(http.StatusServiceUnavailable, "apply settings: %v", err)
		}
		if a.reloaded == nil {
			a.reloaded = map[string]string{}
		}
		for k, v := range res.Applied {
			if v == nil {
				delete(a.reloaded, k)
			} else {
				a.reloaded[k] = *v
			}
		}
		n.logger.Info("settings reloaded", "file", file, "applied", len(res.Applied), "restart_required", res.RestartRequired)
	}
	return res, nil
}

// mirrorSettingPrefix starts the settings sluice serve takes out for its
// mirror (cmd/sluice/mirror.go) before they reach the broker.
const mirrorSettingPrefix = "sluice.mirror."

// startsWith reports whether s starts with any of the prefixes.
func startsWith(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
