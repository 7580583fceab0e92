package faultfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

// Op is a kind of filesystem operation a Rule applies to; Ops combine
// with |.
type Op uint16

// The operations an Injector can fault.
const (
	OpWrite    Op = 1 << iota // File.Write and File.WriteAt
	OpSync                    // File.Sync (fsync, fdatasync)
	OpSyncDir                 // FS.SyncDir
	OpSyncFS                  // syncfs(2) of a whole filesystem
	OpRead                    // File.Read and File.ReadAt
	OpOpen                    // FS.OpenFile
	OpRename                  // FS.Rename
	OpRemove                  // FS.Remove and FS.RemoveAll
	OpTruncate                // File.Truncate
	OpMkdir                   // FS.MkdirAll

	// OpAnySync is every kind of fsync.
	OpAnySync = OpSync | OpSyncDir | OpSyncFS
)

var opNames = map[string]Op{
	"write": OpWrite, "sync": OpAnySync, "fsync": OpSync, "syncdir": OpSyncDir, "syncfs": OpSyncFS,
	"read": OpRead, "open": OpOpen, "rename": OpRename, "remove": OpRemove, "truncate": OpTruncate,
	"mkdir": OpMkdir,
}

// Rule says which operations fail and how. The zero values of the
// optional fields mean: every path, from the first matching operation on,
// forever.
type Rule struct {
	Ops Op
	// Path, when set, must occur in the operation's path (for a rename,
	// in either name).
	Path string
	// Err is what the operation returns; nil with Delay alone only slows
	// it down.
	Err error
	// Short makes a write store the first half of its bytes before it
	// returns Err (io.ErrShortWrite when Err is nil).
	Short bool
	// Delay is waited before the operation runs (or fails).
	Delay time.Duration
	// After lets this many matching operations pass first.
	After int
	// Times stops the rule after it fired this many times; 0 is never.
	Times int
}

type rule struct {
	Rule
	seen, fired int
}

// Injector is a log.FS that passes every operation to another, except
// those a rule faults. It is safe for concurrent use; rules may be added
// and removed while the filesystem is in use.
type Injector struct {
	inner log.FS

	mu    sync.Mutex
	rules []*rule
	hits  map[Op]int // faults fired, by operation

	// reload, when set, reads the rules again when their source changed
	// (the control file of a process built with the faultfs tag).
	reload func()
}

// NewInjector wraps inner (nil: the operating system's filesystem).
func NewInjector(inner log.FS) *Injector {
	if inner == nil {
		inner = log.OSFS{}
	}
	return &Injector{inner: inner, hits: map[Op]int{}}
}

// Inject adds a rule; the returned function removes it.
func (in *Injector) Inject(r Rule) (remove func()) {
	rr := &rule{Rule: r}
	in.mu.Lock()
	in.rules = append(in.rules, rr)
	in.mu.Unlock()
	return func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		for i, x := range in.rules {
			if x == rr {
				in.rules = append(in.rules[:i], in.rules[i+1:]...)
				return
			}
		}
	}
}

// SetRules replaces every rule.
func (in *Injector) SetRules(rules []Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = in.rules[:0]
	for _, r := range rules {
		in.rules = append(in.rules, &rule{Rule: r})
	}
}

// Hits is how many faults fired on operations of kind op.
func (in *Injector) Hits(op Op) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for k, v := range in.hits {
		if k&op != 0 {
			n += v
		}
	}
	return n
}

// check applies the rules to one operation: it waits the delays of the
// matching rules and returns the fault of the first that fires.
func (in *Injector) check(op Op, paths ...string) (err error, short bool) {
	if in.reload != nil {
		in.reload()
	}
	var delay time.Duration
	in.mu.Lock()
	for _, r := range in.rules {
		if r.Ops&op == 0 || !matches(r.Path, paths) {
			continue
		}
		r.seen++
		if r.seen <= r.After || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		r.fired++
		delay += r.Delay
		if r.Err != nil || r.Short {
			in.hits[op]++
			err, short = r.Err, r.Short
			break
		}
	}
	in.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // the slow disk being simulated
	}
	if err != nil {
		err = &os.PathError{Op: opString(op), Path: paths[0], Err: err}
	}
	return err, short
}

func matches(sub string, paths []string) bool {
	if sub == "" {
		return true
	}
	for _, p := range paths {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

func opString(op Op) string {
	for name, o := range opNames {
		if o == op {
			return name
		}
	}
	return "op"
}

// OpenFile opens a file whose operations are faulted too.
func (in *Injector) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	if err, _ := in.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := in.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectedFile{File: f, in: in}, nil
}

// Remove removes a file or an empty directory.
func (in *Injector) Remove(name string) error {
	if err, _ := in.check(OpRemove, name); err != nil {
		return err
	}
	return in.inner.Remove(name)
}

// RemoveAll removes a path and everything below it.
func (in *Injector) RemoveAll(name string) error {
	if err, _ := in.check(OpRemove, name); err != nil {
		return err
	}
	return in.inner.RemoveAll(name)
}

// Rename renames a file.
func (in *Injector) Rename(oldname, newname string) error {
	if err, _ := in.check(OpRename, oldname, newname); err != nil {
		return err
	}
	return in.inner.Rename(oldname, newname)
}

// MkdirAll creates a directory and its parents.
func (in *Injector) MkdirAll(name string, perm os.FileMode) error {
	if err, _ := in.check(OpMkdir, name); err != nil {
		return err
	}
	return in.inner.MkdirAll(name, perm)
}

// ReadDir lists a directory.
func (in *Injector) ReadDir(name string) ([]os.DirEntry, error) {
	if err, _ := in.check(OpRead, name); err != nil {
		return nil, err
	}
	return in.inner.ReadDir(name)
}

// Stat describes a file.
func (in *Injector) Stat(name string) (os.FileInfo, error) { return in.inner.Stat(name) }

// SyncDir fsyncs a directory.
func (in *Injector) SyncDir(name string) error {
	if err, _ := in.check(OpSyncDir, name); err != nil {
		return err
	}
	return in.inner.SyncDir(name)
}

// SyncFS syncs the filesystem holding dir (log.FSSyncer), when the inner
// filesystem can; otherwise it fsyncs dir.
func (in *Injector) SyncFS(dir string) error {
	if err, _ := in.check(OpSyncFS, dir); err != nil {
		return err
	}
	if s, ok := in.inner.(log.FSSyncer); ok {
		return s.SyncFS(dir)
	}
	return in.inner.SyncDir(dir)
}

type injectedFile struct {
	log.File
	in *Injector
}

func (f *injectedFile) Write(p []byte) (int, error) {
	if err, short := f.in.check(OpWrite, f.Name()); err != nil || short {
		return f.fail(p, err, short, func(b []byte) (int, error) { return f.File.Write(b) })
	}
	return f.File.Write(p)
}

func (f *injectedFile) WriteAt(p []byte, off int64) (int, error) {
	if err, short := f.in.check(OpWrite, f.Name()); err != nil || short {
		return f.fail(p, err, short, func(b []byte) (int, error) { return f.File.WriteAt(b, off) })
	}
	return f.File.WriteAt(p, off)
}

// fail ends a faulted write: a short one stores the first half of p.
func (f *injectedFile) fail(p []byte, err error, short bool, write func([]byte) (int, error)) (int, error) {
	if !short {
		return 0, err
	}
	if err == nil {
		err = io.ErrShortWrite
	}
	n, werr := write(p[:len(p)/2])
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (f *injectedFile) Read(p []byte) (int, error) {
	if err, _ := f.in.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *injectedFile) ReadAt(p []byte, off int64) (int, error) {
	if err, _ := f.in.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *injectedFile) Sync() error {
	if err, _ := f.in.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *injectedFile) Truncate(size int64) error {
	if err, _ := f.in.check(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// Errors a rule may name in its text form.
var errNames = map[string]error{
	"EIO": syscall.EIO, "ENOSPC": syscall.ENOSPC, "EROFS": syscall.EROFS, "EDQUOT": syscall.EDQUOT,
}

// ParseRule reads a rule from one line of text: the operation names (see
// Op; several joined by ","), then any of
//
//	EIO | ENOSPC | EROFS | EDQUOT   the error returned
//	short                          a short write
//	path=SUBSTRING                 only paths containing it
//	delay=DURATION                 wait first (time.ParseDuration)
//	after=N  times=N               as in Rule
//
// separated by spaces, e.g. "sync EIO path=/orders-0/ after=10 times=1".
func ParseRule(line string) (Rule, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return Rule{}, errors.New("faultfs: empty rule")
	}
	var r Rule
	for _, name := range strings.Split(fields[0], ",") {
		op, ok := opNames[name]
		if !ok {
			return Rule{}, fmt.Errorf("faultfs: rule %q: unknown operation %q", line, name)
		}
		r.Ops |= op
	}
	for _, f := range fields[1:] {
		key, val, hasVal := strings.Cut(f, "=")
		var err error
		switch {
		case !hasVal && errNames[key] != nil:
			r.Err = errNames[key]
		case !hasVal && key == "short":
			r.Short = true
		case key == "path" && hasVal:
			r.Path = val
		case key == "delay" && hasVal:
			r.Delay, err = time.ParseDuration(val)
		case key == "after" && hasVal:
			r.After, err = strconv.Atoi(val)
		case key == "times" && hasVal:
			r.Times, err = strconv.Atoi(val)
		default:
			err = errors.New("unknown")
		}
		if err != nil {
			return Rule{}, fmt.Errorf("faultfs: rule %q: bad field %q: %v", line, f, err)
		}
	}
	if r.Err == nil && !r.Short && r.Delay == 0 {
		return Rule{}, fmt.Errorf("faultfs: rule %q does nothing: give an error, short or delay", line)
	}
	return r, nil
}

// ParseRules reads one rule per line; blank lines and lines starting with
// # are skipped.
func ParseRules(text string) ([]Rule, error) {
	var out []Rule
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRule(line)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
