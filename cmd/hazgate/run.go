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
	for _, w := range []struct {
		path, what string
		start      func(io.Writer) error
		stop       func()
	}{
		{*cpuProfile, "cpu profile", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{*traceFile, "trace", trace.Start, trace.Stop},
	} {
		if w.path == "" {
			continue
		}
		stop, err := writeUntilStop(w.path, w.what, w.start, w.stop)
		if err != nil {
			return err
		}
		defer stop()
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

// writeUntilStop creates path and has start write to it (a CPU profile, an
// execution trace); the func returned stops it and closes the file.
func writeUntilStop(path, what string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return func() {
		stop()
		f.Close()
	}, nil
}
