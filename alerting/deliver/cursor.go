package deliver

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"hazgate/collector"
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

// Save replaces the cursor file with seq, so the new value survives a
// power cut whole.
func (c *FileCursor) Save(seq int64) error {
	if err := collector.ReplaceFile(c.path, []byte(strconv.FormatInt(seq, 10)+"\n")); err != nil {
		return fmt.Errorf("cursor %s: %w", c.path, err)
	}
	return nil
}
