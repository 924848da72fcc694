package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"

	"hazgate/config"
)

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "hazgate.yaml", "config file")
	debug := fs.Bool("debug", false, "log at debug level")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until the gateway stops (for bench/peers; go tool pprof reads it)")
	traceFile := fs.String("trace", "", "write an execution trace to this file until the gateway stops (scheduling, blocking, GC; go tool trace reads it)")
	heapProfile := fs.String("memprofile", "", "write a heap profile to this file at each new peak of the heap (for bench/peers' peak RSS; go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile %s: %w", *cpuProfile, err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return fmt.Errorf("trace %s: %w", *traceFile, err)
		}
		defer func() {
			trace.Stop()
			f.Close()
		}()
	}
	if *heapProfile != "" {
		if err := profileHeapPeaks(ctx, *heapProfile); err != nil {
			return err
		}
	}
	log := newLogger(stderr, *debug)
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	g, err := newGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	return g.run(ctx)
}
