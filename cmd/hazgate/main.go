// Command hazgate is the monitoring gateway: it reads gas detectors, fire
// panels and pressure sensors, stores readings, raises alarms and serves them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/modbus"
)

// Set by the linker: -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

const usage = `hazgate: monitoring gateway for hazardous sites

Usage:
  hazgate run   -config FILE    run the gateway
  hazgate check -config FILE    validate a config file and exit; -plan prints the Modbus reads per poll
  hazgate demo  [-listen ADDR]  simulated gas detectors, the real pipeline, API on loopback
  hazgate version               print version, commit and build date
`

func main() {
	os.Exit(mainArgs(os.Args[1:], os.Stdout, os.Stderr))
}

// mainArgs runs a sub-command and returns the process exit code, so tests
// can drive the command without a subprocess.
func mainArgs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "hazgate %s (commit %s, built %s)\n", version, commit, date)
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hazgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "hazgate %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "hazgate.yaml", "config file to validate")
	showPlan := fs.Bool("plan", false, "print the Modbus requests of every device's poll cycle")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// What only a protocol knows across its devices (Modbus devices sharing
	// a URL must agree on the connection's settings), as `run` checks it.
	if err := protocols.CheckDevices(cfg.Devices); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 1
	}
	tags := 0
	for _, d := range cfg.Devices {
		tags += len(d.Tags)
	}
	fmt.Fprintf(stdout, "%s: ok: site %s, %d devices, %d tags, %d rules\n", *path, cfg.Site.ID, len(cfg.Devices), tags, len(cfg.Rules))
	if *showPlan {
		plans, err := modbus.Plan(cfg.Devices)
		if err != nil { // checked above
			fmt.Fprintf(stderr, "%s: %v\n", *path, err)
			return 1
		}
		printPlan(stdout, plans)
	}
	return 0
}

// printPlan lists each Modbus device's reads per poll cycle and the totals.
func printPlan(w io.Writer, plans []modbus.DevicePlan) {
	if len(plans) == 0 {
		fmt.Fprintln(w, "modbus plan: no modbus devices")
		return
	}
	fmt.Fprintln(w, "modbus plan: requests per poll cycle")
	reqs, tags := 0, 0
	urls := map[string]bool{}
	for _, p := range plans {
		fmt.Fprintf(w, "  %s (%s unit %d, every %v): %d tags in %d requests\n", p.Device, config.RedactURL(p.URL), p.Unit, p.Interval, p.Tags, len(p.Reads))
		for _, r := range p.Reads {
			fmt.Fprintf(w, "    %-8s %5d+%-4d %s\n", r.Table, r.Address, r.Quantity, strings.Join(r.Tags, " "))
		}
		reqs += len(p.Reads)
		tags += p.Tags
		urls[p.URL] = true
	}
	fmt.Fprintf(w, "  total: %d requests per cycle for %d tags of %d devices on %d connections\n", reqs, tags, len(plans), len(urls))
}

func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
