package log

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint files are small text files in Kafka's checkpoint format: a
// version line, then the payload. They are replaced atomically (temp file,
// fsync, rename, directory fsync), so a reader sees the old or the new
// content, never a mix; a file that does not parse is corruption.

const (
	recoveryPointFile  = "recovery-point"
	logStartOffsetFile = "log-start-offset"
	epochCheckpoint    = "leader-epoch-checkpoint"
	tmpSuffix          = ".tmp"

	// maxCheckpointBytes bounds what is read of a checkpoint file before
	// parsing: an epoch checkpoint with a million entries fits.
	maxCheckpointBytes = 32 << 20
)

// errNoCheckpoint reports a checkpoint file that does not exist.
var errNoCheckpoint = errors.New("log: no checkpoint")

// writeFileAtomic replaces dir/name with data: write dir/name.tmp, fsync it,
// rename it over dir/name and fsync dir.
func writeFileAtomic(fsys FS, dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// ReadSmallFile reads a whole file of at most limit bytes; a larger one is
// ErrCorruption. A missing file is errNoCheckpoint, which also matches
// fs.ErrNotExist. Other packages read the small files they keep with
// WriteFileAtomic with it.
func ReadSmallFile(fsys FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", errNoCheckpoint, err)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrCorruption, path, st.Size(), limit)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, st.Size()), b); err != nil {
		return nil, err
	}
	return b, nil
}

// formatOffsetCheckpoint renders a single-offset checkpoint: "0\n<offset>\n".
func formatOffsetCheckpoint(offset int64) []byte {
	return []byte("0\n" + strconv.FormatInt(offset, 10) + "\n")
}

// parseOffsetCheckpoint parses what formatOffsetCheckpoint writes.
func parseOffsetCheckpoint(b []byte) (int64, error) {
	lines, err := checkpointLines(b, 2)
	if err != nil {
		return 0, err
	}
	off, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("bad offset %q", lines[1])
	}
	return off, nil
}

// formatEpochCheckpoint renders Kafka's leader-epoch-checkpoint: version 0,
// the entry count, then one "epoch startOffset" line per entry.
func formatEpochCheckpoint(entries []epochEntry) []byte {
	var b bytes.Buffer
	b.WriteString("0\n")
	b.WriteString(strconv.Itoa(len(entries)))
	b.WriteByte('\n')
	for _, e := range entries {
		b.WriteString(strconv.FormatInt(int64(e.epoch), 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(e.startOffset, 10))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseEpochCheckpoint parses what formatEpochCheckpoint writes. Epochs and
// start offsets must both increase strictly, as the cache keeps them.
func parseEpochCheckpoint(b []byte) ([]epochEntry, error) {
	head, err := checkpointLines(b, -1)
	if err != nil {
		return nil, err
	}
	if len(head) < 2 {
		return nil, fmt.Errorf("missing entry count")
	}
	n, err := strconv.Atoi(head[1])
	if err != nil || n < 0 || n != len(head)-2 {
		return nil, fmt.Errorf("entry count %q does not match %d lines", head[1], len(head)-2)
	}
	entries := make([]epochEntry, 0, n)
	for i, line := range head[2:] {
		epochStr, offStr, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not \"epoch offset\"", i+3, line)
		}
		epoch, err1 := strconv.ParseInt(epochStr, 10, 32)
		off, err2 := strconv.ParseInt(offStr, 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || off < 0 {
			return nil, fmt.Errorf("line %d: bad entry %q", i+3, line)
		}
		if k := len(entries); k > 0 && (int32(epoch) <= entries[k-1].epoch || off < entries[k-1].startOffset) {
			return nil, fmt.Errorf("line %d: entry %q does not follow %d %d", i+3, line, entries[k-1].epoch, entries[k-1].startOffset)
		}
		entries = append(entries, epochEntry{epoch: int32(epoch), startOffset: off})
	}
	return entries, nil
}

// checkpointLines splits a checkpoint into lines, checks the version line
// and, when want >= 0, the number of lines. Every line ends with '\n'.
func checkpointLines(b []byte, want int) ([]string, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("checkpoint does not end with a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if lines[0] != "0" {
		return nil, fmt.Errorf("unknown checkpoint version %q", lines[0])
	}
	if want >= 0 && len(lines) != want {
		return nil, fmt.Errorf("checkpoint has %d lines, want %d", len(lines), want)
	}
	return lines, nil
}

// readOffsetCheckpoint reads a single-offset checkpoint. A missing file is
// errNoCheckpoint; one that does not parse is ErrCorruption.
func readOffsetCheckpoint(fsys FS, dir, name string) (int64, error) {
	path := filepath.Join(dir, name)
	b, err := ReadSmallFile(fsys, path, 1<<10)
	if err != nil {
		return 0, err
	}
	off, err := parseOffsetCheckpoint(b)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrCorruption, path, err)
	}
	return off, nil
}

// WriteFileAtomic replaces dir/name with data on fsys: whole or absent
// after a crash (a fsynced temporary file renamed over it, then dir
// fsynced). Other packages keep their small files in log directories with
// it, through the same filesystem as the logs.
func WriteFileAtomic(fsys FS, dir, name string, data []byte) error {
	return writeFileAtomic(fsys, dir, name, data)
}
