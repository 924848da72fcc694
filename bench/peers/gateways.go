package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	telegrafVersion = "v1.34.0"
	telegrafModule  = "github.com/influxdata/telegraf"
	// Only the plugins the benchmark uses, Telegraf's custom build; a custom
	// build has no parser it is not told of, and mqtt_consumer needs json_v2.
	telegrafTags = "custom,inputs.mqtt_consumer,inputs.modbus,outputs.influxdb_v2,outputs.discard,parsers.json_v2"
	// The limit every tag's rule has: the readings stay below it, probes
	// and flood messages go above it.
	limit = 100.0
)

// spec is what one gateway run reads and where it writes.
type spec struct {
	run    int    // run number: client ids and file names
	db     string // InfluxDB database (bucket db/autogen)
	influx string // InfluxDB URL
	broker string // MQTT broker URL; empty: no MQTT device
	qos    int
	topics int  // tags t0000.. the MQTT subscription creates (rules for each)
	alarms bool // probe and flood tags and their rules (hazgate only)
	flood  int  // flood tags f0000..
	// probeSeverity is the probe rule's; the flood rules' are medium.
	probeSeverity string
	httpPort      int      // hazgate's API; 0: default
	modbus        []string // simulated devices' host:port
	regs          int      // holding registers 0..regs-1 read from each
	interval      time.Duration
}

func tagName(i int) string   { return fmt.Sprintf("t%04d", i) }
func floodName(i int) string { return fmt.Sprintf("f%04d", i) }
func regTag(d, r int) string { return fmt.Sprintf("m%02dr%02d", d, r) }

// gateway is hazgate or Telegraf: how to start one for a spec and how to
// count register reads it stored.
type gateway struct {
	name  string
	start func(dir string, s spec) (*child, error)
	// modbusQuery counts the register values stored; where is empty or
	// a time range ("time >= ... AND time < ...").
	modbusQuery func(where string) string
}

// hazgateYAML is a site with one MQTT device subscribed to bench/+ or the
// simulated Modbus devices, a threshold rule of its own for every tag, and
// InfluxDB writing.
func hazgateYAML(dir string, s spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site: {id: bench, name: bench/peers}\ndata_dir: %s\n", filepath.Join(dir, fmt.Sprintf("data-%d", s.run))) // a fresh journal and tag memory each run
	if s.httpPort != 0 {
		fmt.Fprintf(&b, "http: {listen: \"127.0.0.1:%d\"}\n", s.httpPort)
	} else {
		fmt.Fprintf(&b, "http: {listen: \"127.0.0.1:%d\"}\n", freePort())
	}
	fmt.Fprintf(&b, "influxdb: {url: %q, token: \"${INFLUX_TOKEN}\", org: \"\", bucket: %q, batch_size: 5000, flush_interval: 1s}\n", s.influx, s.db+"/autogen")
	b.WriteString("devices:\n")
	if s.broker != "" {
		fmt.Fprintf(&b, "  - id: broker\n    protocol: mqtt\n    url: %s\n    client_id: hazgate-bench-%d\n    clean_session: true\n    qos: %d\n", s.broker, s.run, s.qos)
		b.WriteString("    subscriptions:\n      - {topic: bench/+, format: json, tag: \"{1}\", kind: pipe_pressure, unit: MPa, value: v, time: ts}\n")
	}
	for d, addr := range s.modbus {
		fmt.Fprintf(&b, "  - id: m%02d\n    protocol: modbus\n    url: tcp://%s\n    unit_id: 1\n    interval: %s\n    timeout: 500ms\n    tags:\n", d, addr, s.interval)
		for r := range s.regs {
			fmt.Fprintf(&b, "      - {id: %s, kind: pipe_pressure, unit: MPa, register: {table: holding, address: %d}}\n", regTag(d, r), r)
		}
	}
	b.WriteString("rules:\n")
	rule := func(tag, extra string) {
		fmt.Fprintf(&b, "  - {name: hi-%s, match: {tag: %s}, above: %g%s}\n", tag, tag, limit, extra)
	}
	for i := range s.topics {
		rule(tagName(i), "")
	}
	for d := range s.modbus {
		for r := range s.regs {
			rule(regTag(d, r), "")
		}
	}
	if s.alarms {
		// The probe and the flood tags cross their limit again and again on
		// purpose: without chattering detection each crossing is announced.
		rule("probe", fmt.Sprintf(", severity: %s, chatter: {count: 0}", s.probeSeverity))
		for i := range s.flood {
			rule(floodName(i), ", severity: medium, chatter: {count: 0}")
		}
	}
	return b.String()
}

// startHazgate runs bin on each spec's config; with profiles set, each
// run writes its CPU profile there as hazgate-N.prof and its heap at the
// heap's peak as hazgate-N.heap; with traces set, each alarm-latency run
// writes its execution trace there as hazgate-N.trace.
func startHazgate(bin, profiles, traces string) func(dir string, s spec) (*child, error) {
	return func(dir string, s spec) (*child, error) {
		conf := filepath.Join(dir, fmt.Sprintf("hazgate-%d.yaml", s.run))
		if err := os.WriteFile(conf, []byte(hazgateYAML(dir, s)), 0o600); err != nil {
			return nil, err
		}
		args := []string{"run", "-config", conf}
		if profiles != "" {
			args = append(args, "-cpuprofile", filepath.Join(profiles, fmt.Sprintf("hazgate-%d.prof", s.run)),
				"-memprofile", filepath.Join(profiles, fmt.Sprintf("hazgate-%d.heap", s.run)))
		}
		if traces != "" && s.alarms {
			args = append(args, "-trace", filepath.Join(traces, fmt.Sprintf("hazgate-%d.trace", s.run)))
		}
		return startChild("hazgate", filepath.Join(dir, fmt.Sprintf("hazgate-%d.log", s.run)),
			[]string{"INFLUX_TOKEN=user:pass"}, bin, args...)
	}
}

// telegrafTOML is the same work for Telegraf: mqtt_consumer with json_v2
// and the topic's last level as tag "tag" into measurement "reading", or
// one modbus input per device; influxdb_v2 to the same InfluxDB. Batch size
// and flush interval are hazgate's (5000, 1 s); max_undelivered_messages is
// raised above the batch size so a batch can fill (at the default 1000 the
// consumer would wait for the flush interval).
func telegrafTOML(s spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[agent]
  interval = %q
  round_interval = true
  collection_jitter = "0s"
  flush_interval = "1s"
  flush_jitter = "0s"
  metric_batch_size = 5000
  metric_buffer_limit = 100000
  omit_hostname = true
  quiet = true

[[outputs.influxdb_v2]]
  urls = [%q]
  token = "user:pass"
  organization = ""
  bucket = %q
`, s.interval, s.influx, s.db+"/autogen")
	if s.broker != "" {
		fmt.Fprintf(&b, `
[[inputs.mqtt_consumer]]
  servers = [%q]
  topics = ["bench/+"]
  qos = %d
  client_id = "telegraf-bench-%d"
  persistent_session = false
  max_undelivered_messages = 10000
  topic_tag = ""
  name_override = "reading"
  data_format = "json_v2"
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "bench/+"
    tags = "_/tag"
  [[inputs.mqtt_consumer.json_v2]]
    timestamp_path = "ts"
    timestamp_format = "unix_ms"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "v"
      rename = "value"
      type = "float"
`, s.broker, s.qos, s.run)
	}
	for d, addr := range s.modbus {
		fmt.Fprintf(&b, `
[[inputs.modbus]]
  name = "m%02d"
  interval = %q
  controller = "tcp://%s"
  slave_id = 1
  timeout = "500ms"
  configuration_type = "register"
  holding_registers = [
`, d, s.interval, addr)
		for r := range s.regs {
			fmt.Fprintf(&b, "    { name = \"r%02d\", byte_order = \"AB\", data_type = \"UINT16\", scale = 1.0, address = [%d] },\n", r, r)
		}
		b.WriteString("  ]\n")
	}
	return b.String()
}

func startTelegraf(bin string) func(dir string, s spec) (*child, error) {
	return func(dir string, s spec) (*child, error) {
		conf := filepath.Join(dir, fmt.Sprintf("telegraf-%d.conf", s.run))
		if err := os.WriteFile(conf, []byte(telegrafTOML(s)), 0o600); err != nil {
			return nil, err
		}
		return startChild("telegraf", filepath.Join(dir, fmt.Sprintf("telegraf-%d.log", s.run)), nil, bin, "--config", conf)
	}
}

// buildHazgate builds cmd/hazgate once into bench/out (ignored by git).
func buildHazgate(root string) string {
	bin := filepath.Join(root, "bench", "out", "hazgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hazgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fatalf("go build ./cmd/hazgate: %v\n%s", err, out)
	}
	return bin
}

// moduleRoot is hazgate's module directory.
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		fatalf("run from inside the hazgate module: go env GOMOD: %v %s", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// telegrafBinary returns a Telegraf built from its module source with only
// the benchmark's plugins, cached across runs, and how long building took
// (0 when cached).
func telegrafBinary(given string) (string, time.Duration, error) {
	if given != "" {
		return given, 0, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", 0, err
	}
	// Named by version and plugin list, so a changed list builds anew.
	sum := sha256.Sum256([]byte(telegrafTags))
	bin := filepath.Join(cache, "hazgate-bench", fmt.Sprintf("telegraf-%s-%x", strings.TrimPrefix(telegrafVersion, "v"), sum[:4]))
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, 0, nil
	}
	t0 := time.Now()
	tmp, err := os.MkdirTemp("", "hazgate-bench-telegraf-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(tmp)
	// Outside any module, so hazgate's go.mod stays as it is.
	dl := exec.Command("go", "mod", "download", "-json", telegrafModule+"@"+telegrafVersion)
	dl.Dir = tmp
	dl.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := dl.Output()
	if err != nil {
		return "", 0, fmt.Errorf("go mod download %s@%s: %w\n%s", telegrafModule, telegrafVersion, err, out)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", 0, fmt.Errorf("go mod download: no source directory: %v %s %s", err, m.Error, out)
	}
	// The module cache is read-only; the build may update go.sum.
	src := filepath.Join(tmp, "src")
	for _, args := range [][]string{{"cp", "-r", m.Dir, src}, {"chmod", "-R", "u+w", tmp}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return "", 0, fmt.Errorf("%v: %w\n%s", args, err, out)
		}
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o750); err != nil {
		return "", 0, err
	}
	build := exec.Command("go", "build", "-tags", telegrafTags,
		"-ldflags", "-X "+telegrafModule+"/internal.Version="+strings.TrimPrefix(telegrafVersion, "v"),
		"-o", bin+".tmp", "./cmd/telegraf")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	build.Stdout, build.Stderr = &stderr, &stderr
	fmt.Printf("building Telegraf %s (%s) ...\n", telegrafVersion, telegrafTags)
	if err := build.Run(); err != nil {
		return "", 0, fmt.Errorf("go build telegraf: %w\n%s", err, stderr.String())
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return "", 0, err
	}
	return bin, time.Since(t0), nil
}
