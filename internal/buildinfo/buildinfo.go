// Package buildinfo says which build of Sluice is running: its version,
// the commit it was built from, when, and with which Go. `sluice version`,
// the /readyz answer and the sluice_build_info metric read it.
//
// The version comes from the module version Go stamps into the binary
// (`go install github.com/sluice-io/sluice/cmd/sluice@v1.2.3`, or a
// pseudo-version derived from the VCS tag for a build in a checkout); a
// release build may set it instead with
//
//	go build -ldflags "-X github.com/sluice-io/sluice/internal/buildinfo.version=v1.2.3" ./cmd/sluice
//
// The commit and its time come from the VCS stamp of `go build` (vcs.revision,
// vcs.time, vcs.modified); a build outside a checkout has none.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version is set at link time by release builds (-ldflags -X); it is never
// written at run time.
var version string

// SoftwareName is what Sluice calls itself where Kafka has a software name
// field (KIP-511's client software name is the client's; this is the
// broker's counterpart in logs and /readyz).
const SoftwareName = "sluice"

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Time      string `json:"build_time,omitempty"` // the commit's time, RFC 3339
	Modified  bool   `json:"modified,omitempty"`   // built from a checkout with local changes
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns this binary's build information.
func Get() Info {
	info := Info{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "unknown"
		}
		return info
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "devel"
	}
	return info
}

// String is the one-line form: "sluice v1.2.3 (commit abc1234, 2026-12-06T01:58:47Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	s := SoftwareName + " " + i.Version + " ("
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if i.Modified {
			c += "+dirty"
		}
		s += "commit " + c + ", "
	}
	if i.Time != "" {
		s += i.Time + ", "
	}
	return s + i.GoVersion + " " + i.Platform + ")"
}
