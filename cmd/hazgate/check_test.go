package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPlan(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.yaml", `site: {id: s}
devices:
  - id: gds-1
    protocol: modbus
    url: rtu:///dev/ttyS1
    unit_id: 1
    tags:
      - {id: GT-1, register: {table: input, address: 0}}
      - {id: GT-2, register: {table: input, address: 1}}
      - {id: GT-1-ST, register: {table: holding, address: 100, states: {0: ok, 1: fault}}}
  - id: pt-1
    protocol: modbus
    url: rtu:///dev/ttyS1
    unit_id: 2
    tags:
      - {id: PT-1, register: {table: input, address: 5, raw: [4000, 20000], range: [0, 1.6]}}
`)
	var out, errb bytes.Buffer
	if code := mainArgs([]string{"check", "-config", ok, "-plan"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"gds-1 (rtu:///dev/ttyS1 unit 1, every 1s): 3 tags in 2 requests",
		"holding    100+1    GT-1-ST",
		"input        0+2    GT-1 GT-2",
		"pt-1 (rtu:///dev/ttyS1 unit 2, every 1s): 1 tags in 1 requests",
		"total: 3 requests per cycle for 4 tags of 2 devices on 1 connections",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Two devices on one serial port with different speeds cannot share it.
	bad := write("bad.yaml", strings.Replace(string(must(os.ReadFile(ok))), "    unit_id: 2\n", "    unit_id: 2\n    speed: 19200\n", 1))
	out.Reset()
	errb.Reset()
	if code := mainArgs([]string{"check", "-config", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, out.String())
	}
	if !strings.Contains(errb.String(), "device pt-1: url rtu:///dev/ttyS1 is shared with device gds-1, but they differ in serial settings") {
		t.Errorf("stderr: %s", errb.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
