package forward_test

import (
	"context"
	"log"
	"path/filepath"

	"hazgate/collector"
	"hazgate/protocols/gb26875/forward"
)

// The gateway's wiring: the outbox in data_dir, the source as one more
// consumer of the pipeline, the link (link.go) reading the outbox.
func ExampleNewSource() {
	dataDir := "/var/lib/hazgate"
	outbox, err := forward.OpenSpooled(forward.SpooledOptions{Dir: filepath.Join(dataDir, "forward")})
	if err != nil {
		log.Fatal(err)
	}
	defer outbox.Close()
	registry := collector.NewRegistry()
	source, err := forward.NewSource(forward.SourceOptions{
		Select: forward.Select{Kinds: []string{"fire_panel"}},
		Points: []forward.PointMap{{Tag: "FP1.loop1.*", SysType: 1, SysAddr: 1, CompType: 42, Zone: 1}},
		Gas:    true, // combustible_gas at 25 %LEL and above goes as a fire state
		Tags:   registry,
		Out:    outbox,
	})
	if err != nil {
		log.Fatal(err)
	}
	pipeline := collector.NewPipeline(collector.NewLatest(), source)
	go pipeline.Run(context.Background())
	// /metrics: outbox.Metrics() and source.Metrics(); the link takes
	// outbox as its Outbox.
}
