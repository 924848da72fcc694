package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazgate/sim/testenv"
)

// TestRunWritesProfiles: -cpuprofile, -trace and -memprofile each leave a
// file of their kind once the gateway stops, and a path that cannot be
// created is an error naming it before anything starts.
func TestRunWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hazgate.yaml")
	yaml := fmt.Sprintf("site: {id: s1, name: profiles}\ndata_dir: %s\nhttp: {listen: \"127.0.0.1:0\"}\ndevices: []\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{ // flag → the file's first bytes
		"-cpuprofile": "\x1f\x8b", // gzipped protobuf
		"-memprofile": "\x1f\x8b", // the same
		"-trace":      "go 1.",    // the trace header
	}
	args := []string{"-config", conf}
	for flag := range files {
		args = append(args, flag, filepath.Join(dir, strings.TrimPrefix(flag, "-")))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- cmdRun(ctx, args, &stderr) }()
	testenv.WaitFor(t, 10*time.Second, "hazgate running", func() bool { return strings.Contains(stderr.String(), "hazgate running") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for flag, magic := range files {
		b, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(flag, "-")))
		if err != nil || !bytes.HasPrefix(b, []byte(magic)) {
			t.Errorf("%s: %d bytes starting %q, err %v; want %q first", flag, len(b), b[:min(len(b), 8)], err, magic)
		}
	}

	bad := filepath.Join(dir, "no-such-dir", "trace")
	err := cmdRun(context.Background(), []string{"-config", conf, "-trace", bad}, &stderr)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("an uncreatable trace file: %v, want an error naming %s", err, bad)
	}
}
