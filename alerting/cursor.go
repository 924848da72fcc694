package alerting

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A delivery subscriber (northbound MQTT, the InfluxDB alarm feed, webhooks)
// saves the journal seq it last delivered and resumes from it after a
// restart, the way Alertmanager's nflog keeps a restart from resending.

// FileCursor keeps the cursor in a small file, replaced atomically, so a
// crash leaves either the old seq or the new one.
type FileCursor struct{ path string }

// NewFileCursor keeps the cursor at path, for example
// {data_dir}/northbound.seq.
func NewFileCursor(path string) *FileCursor { return &FileCursor{path: path} }

// Load returns the saved seq, 0 when there is none yet (publish the whole journal).
func (c *FileCursor) Load() (int64, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cursor %s: %w", c.path, err)
	}
	seq, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("cursor %s: %q is not a journal seq; delete the file to publish from the beginning", c.path, b)
	}
	return seq, nil
}

// Save writes seq to a temporary file, syncs it, renames it over the cursor
// and syncs the directory, so the new name survives a power cut.
func (c *FileCursor) Save(seq int64) error {
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("cursor %s: %w", c.path, err)
	}
	_, err = f.WriteString(strconv.FormatInt(seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err != nil {
		return fmt.Errorf("cursor %s: %w", c.path, err)
	}
	dir, err := os.Open(filepath.Dir(c.path))
	if err != nil {
		return fmt.Errorf("cursor %s: %w", c.path, err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("cursor %s: sync directory: %w", c.path, err)
	}
	return nil
}
