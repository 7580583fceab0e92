package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The admin API (docs/admin-api.md): JSON under /v1/ for what the Kafka
// protocol has no verb for. Reads are GETs; changes are POSTs with a JSON
// body, and a body that does not parse, or names a field the endpoint does
// not know, is refused with 400 before anything changes.

// Admin is what the admin API asks of the node.
type Admin interface {
	// Status is GET /v1/broker.
	Status() BrokerStatus
	// LogDirs is GET /v1/log-dirs.
	LogDirs() []LogDir
	// Replicas is GET /v1/replicas: the partitions hosted here, those of
	// topic only when it is not empty.
	Replicas(topic string) []Replica
	// Maintenance is GET /v1/maintenance.
	Maintenance() MaintenanceStatus
	// SetMaintenance starts (on) or ends maintenance: leadership moved
	// away from this broker, which keeps serving as a follower.
	SetMaintenance(ctx context.Context, on bool) (MaintenanceStatus, error)
	// ReloadConfig reads the settings file again and applies the changed
	// dynamic settings.
	ReloadConfig(ctx context.Context) (ReloadResult, error)
}

// BrokerStatus is GET /v1/broker.
type BrokerStatus struct {
	NodeID       int32      `json:"node_id"`
	ClusterID    string     `json:"cluster_id"`
	Version      string     `json:"version"`
	Commit       string     `json:"commit,omitempty"`
	GoVersion    string     `json:"go_version"`
	Listeners    []Listener `json:"listeners"`
	HTTPAddress  string     `json:"http_address"`
	Ready        bool       `json:"ready"`
	ControllerID int32      `json:"controller_id"`
	IsController bool       `json:"is_controller"`
	Fenced       bool       `json:"fenced"`
	Maintenance  bool       `json:"maintenance"`
	Partitions   int        `json:"partitions"`
	Leaders      int        `json:"leaders"`
	// CommandLevel is the level metadata commands are written at: the
	// lowest software level of the registered brokers. Features of a
	// newer level wait until every registered broker runs it.
	CommandLevel  int       `json:"metadata_command_level"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
}

// Listener is one Kafka listener of the broker.
type Listener struct {
	Name             string `json:"name"`
	SecurityProtocol string `json:"security_protocol"`
	Address          string `json:"address"`
	Advertised       string `json:"advertised"`
}

// LogDir is one log directory (log.dirs) in GET /v1/log-dirs.
type LogDir struct {
	Path        string `json:"path"`
	Online      bool   `json:"online"`
	Error       string `json:"error,omitempty"`
	Partitions  int    `json:"partitions"`
	SizeBytes   int64  `json:"size_bytes"`
	TotalBytes  int64  `json:"total_bytes"`
	UsableBytes int64  `json:"usable_bytes"`
}

// Replica is one partition hosted on this broker in GET /v1/replicas,
// as this replica sees it: its role, and its own high watermark and
// offsets (a follower's, not its leader's).
type Replica struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	Leader           bool   `json:"leader"`
	LeaderEpoch      int32  `json:"leader_epoch"`
	HighWatermark    int64  `json:"high_watermark"`
	LastStableOffset int64  `json:"last_stable_offset"`
	LogStartOffset   int64  `json:"log_start_offset"`
	LogEndOffset     int64  `json:"log_end_offset"`
	LogDir           string `json:"log_dir"`
}

// MaintenanceStatus is GET and POST /v1/maintenance.
type MaintenanceStatus struct {
	Maintenance bool `json:"maintenance"`
	// Leaders are the partitions this broker leads now.
	Leaders int `json:"leaders"`
	// Leaderless are the partitions hosted here left without a leader
	// (no other in-sync replica could take over).
	Leaderless int `json:"leaderless"`
}

// ReloadResult is POST /v1/config/reload.
type ReloadResult struct {
	File string `json:"file"`
	// Applied are the dynamic settings that changed, now in effect as
	// this broker's dynamic config; a null value removed an earlier
	// reload's.
	Applied map[string]*string `json:"applied"`
	// RestartRequired are settings that changed but take effect only at
	// start-up.
	RestartRequired []string `json:"restart_required"`
	// Unchanged counts the settings read that were already in effect.
	Unchanged int `json:"unchanged"`
}

// Error is an error with the HTTP status the admin API answers it with.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with status.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// maxBody bounds an admin request's body.
const maxBody = 64 << 10

// adminTimeout bounds a change: moving leadership waits for the metadata
// quorum.
const adminTimeout = 30 * time.Second

// adminMethods are the methods of an admin path, for 405 answers.
func adminMethods(path string) string {
	switch path {
	case "/v1/broker", "/v1/log-dirs", "/v1/replicas":
		return "GET"
	case "/v1/maintenance":
		return "GET, POST"
	case "/v1/config/reload":
		return "POST"
	}
	return ""
}

func registerAdmin(mux *http.ServeMux, a Admin) {
	mux.HandleFunc("GET /v1/broker", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.Status())
	})
	mux.HandleFunc("GET /v1/log-dirs", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"log_dirs": a.LogDirs()})
	})
	mux.HandleFunc("GET /v1/replicas", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"replicas": a.Replicas(r.URL.Query().Get("topic"))})
	})
	mux.HandleFunc("GET /v1/maintenance", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.Maintenance())
	})
	mux.HandleFunc("POST /v1/maintenance", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Enabled *bool `json:"enabled"`
		}
		if err := decodeBody(r, &body); err != nil {
			writeError(w, err)
			return
		}
		if body.Enabled == nil {
			writeError(w, Errorf(http.StatusBadRequest, `want {"enabled": true} or {"enabled": false}`))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		st, err := a.SetMaintenance(ctx, *body.Enabled)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/config/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := decodeBody(r, &struct{}{}); err != nil {
			writeError(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		res, err := a.ReloadConfig(ctx)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := adminMethods(r.URL.Path); allow != "" {
			w.Header().Set("Allow", allow)
			writeError(w, Errorf(http.StatusMethodNotAllowed, "%s %s: allowed: %s", r.Method, r.URL.Path, allow))
			return
		}
		writeError(w, Errorf(http.StatusNotFound, "no admin endpoint %s (see docs/admin-api.md)", r.URL.Path))
	})
}

// decodeBody decodes a JSON object body into v; an empty body is an empty
// object.
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return Errorf(http.StatusRequestEntityTooLarge, "request body: %v", err)
	}
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, "request body: %v", err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "request body: more than one JSON value")
	}
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var e *Error
	if errors.As(err, &e) {
		status = e.Status
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
