package faultfs

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

// controlCheckEvery is how often at most an Injector reading a control
// file looks at it for changes.
const controlCheckEvery = 20 * time.Millisecond

// FromControlFile returns an Injector over inner whose rules are the lines
// of the file at path (ParseRules), read again whenever the file changes;
// a missing file means no rule. A file that does not parse keeps the
// previous rules and is logged.
func FromControlFile(inner log.FS, path string, logger *slog.Logger) (*Injector, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := NewInjector(inner)
	c := &controlFile{path: path, in: in, logger: logger}
	if err := c.load(); err != nil {
		return nil, err
	}
	in.reload = c.maybeLoad
	return in, nil
}

type controlFile struct {
	path   string
	in     *Injector
	logger *slog.Logger

	checked atomic.Int64 // unix nanos of the last look

	mu      sync.Mutex
	modTime time.Time
	size    int64
}

func (c *controlFile) maybeLoad() {
	now := time.Now().UnixNano()
	last := c.checked.Load()
	if now-last < int64(controlCheckEvery) || !c.checked.CompareAndSwap(last, now) {
		return
	}
	if err := c.load(); err != nil {
		c.logger.Error("fault control file ignored", "file", c.path, "err", err)
	}
}

// load reads the file when its size or modification time changed.
func (c *controlFile) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.path)
	if os.IsNotExist(err) {
		if !c.modTime.IsZero() {
			c.in.SetRules(nil)
			c.modTime, c.size = time.Time{}, 0
		}
		return nil
	}
	if err != nil {
		return err
	}
	if st.ModTime().Equal(c.modTime) && st.Size() == c.size {
		return nil
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return err
	}
	rules, err := ParseRules(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	c.in.SetRules(rules)
	c.modTime, c.size = st.ModTime(), st.Size()
	c.logger.Warn("fault injection rules loaded", "file", c.path, "rules", len(rules))
	return nil
}
