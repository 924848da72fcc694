package forward

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"hazgate/collector"
)

// FileNumber is a NumberStore in a small file, replaced whole on each
// save, so a crash leaves the old number or the new one.
type FileNumber struct{ Path string }

// Load returns the saved number, 0 when there is none yet.
func (f FileNumber) Load() (int64, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number; delete the file to start from 0", f.Path, b)
	}
	return n, nil
}

// Save replaces the file with n.
func (f FileNumber) Save(n int64) error {
	if err := collector.ReplaceFile(f.Path, []byte(strconv.FormatInt(n, 10)+"\n")); err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	return nil
}
