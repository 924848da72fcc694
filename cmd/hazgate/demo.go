package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"hazgate/alerting/hazard"
	"hazgate/config"
	"hazgate/sim"
)

//go:embed demo.yaml
var demoConfig []byte

// demoHazardFor is the demo's persistence for a silent gas detector to be
// a 重大隐患, in scenario time: the standard's day would show a newcomer no
// hazard at all. The demo only, and the console says so (http.notice).
const demoHazardFor = time.Minute

// demoHazards is the built-in hazard rule set with gas-detector-down's
// persistence shortened to demoHazardFor, played speed times faster.
func demoHazards(speed float64) ([]config.HazardRule, string) {
	rules := hazard.DefaultRules()
	for i := range rules {
		if rules[i].Name == "gas-detector-down" {
			rules[i].For = time.Duration(float64(demoHazardFor) / speed)
		}
	}
	return rules, fmt.Sprintf("演示: 重大隐患判定时长缩短为 %d 分钟（标准为 1 天），仅用于演示", int(demoHazardFor/time.Minute))
}

// cmdDemo runs the real gateway against a simulated gas-detection controller
// on loopback, playing a scenario: one detector climbs through both alarm
// levels and recovers, another goes silent long enough to be a 重大隐患
// under the demo's shortened persistence.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "API address (loopback: the demo has no tokens)")
	dataDir := fs.String("data-dir", "", "where the demo keeps its alarm store (default: a new temporary directory)")
	speed := fs.Float64("speed", 1, "play the scenario this many times faster")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, *debug)

	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "hazgate-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dataDir = dir
	}

	ctrl, err := sim.NewGasController("127.0.0.1:0", 8)
	if err != nil {
		return fmt.Errorf("simulated controller: %w", err)
	}
	if err := ctrl.Start(); err != nil {
		return fmt.Errorf("simulated controller: %w", err)
	}
	defer ctrl.Close()

	vars := map[string]string{"DEMO_MODBUS": ctrl.Addr(), "DEMO_DATA_DIR": *dataDir, "DEMO_LISTEN": *listen}
	cfg, err := config.Parse("demo.yaml", demoConfig, func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	cfg.File = "" // embedded: nothing to re-read on SIGHUP
	cfg.HazardRules, cfg.HTTP.Notice = demoHazards(*speed)
	g, err := newGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `hazgate demo: 8 simulated gas detectors at modbus %s, alarm store in %s
  console          http://%[3]s/
  latest readings  http://%[3]s/api/v1/points/latest
  open alarms      http://%[3]s/api/v1/alarms
Scenario: GT-103 climbs past level 1 (25 %%LEL) and level 2 (50 %%LEL) within the first minute, then recovers;
GT-106 goes silent at 30 s (comm_loss) and comes back at %[4]s, a 重大隐患 (gas-detector-down) after its first minute.
%[5]s
Ctrl-C stops.
`, ctrl.Addr(), *dataDir, g.server.Addr(), 30*time.Second+sim.DemoSilentFor, cfg.HTTP.Notice)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := sim.Play(ctx, ctrl, sim.DemoSteps(), *speed); err != nil && ctx.Err() == nil {
			log.Error("scenario stopped", "err", err)
		}
	}()
	return g.run(ctx)
}
