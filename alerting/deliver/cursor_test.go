package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileCursor(t *testing.T) {
	dir := t.TempDir()
	c := NewFileCursor(filepath.Join(dir, "northbound.seq"))
	if seq, err := c.Load(); err != nil || seq != 0 {
		t.Fatalf("fresh cursor = %d, %v", seq, err)
	}
	for _, seq := range []int64{7, 42} {
		if err := c.Save(seq); err != nil {
			t.Fatal(err)
		}
	}
	if seq, err := NewFileCursor(filepath.Join(dir, "northbound.seq")).Load(); err != nil || seq != 42 {
		t.Errorf("reloaded cursor = %d, %v", seq, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "northbound.seq.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.seq"), []byte("forty"), 0o600)
	if _, err := NewFileCursor(filepath.Join(dir, "bad.seq")).Load(); err == nil || !strings.Contains(err.Error(), "bad.seq") {
		t.Errorf("corrupt cursor: %v", err)
	}
}
