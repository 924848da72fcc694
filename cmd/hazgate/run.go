package main

import (
	"context"
	"flag"
	"io"

	"hazgate/config"
)

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "hazgate.yaml", "config file")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
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
