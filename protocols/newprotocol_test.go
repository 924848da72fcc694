package protocols_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
)

// A protocol is one folder: this file alone registers "counter" (its device
// keys, their defaults and checks, and its device factory), and a site file
// using it decodes, validates at FILE:LINE:COL and runs, with no change to
// config, protocols or the gateway.

type counterConfig struct {
	Step  float64       `yaml:"step" default:"1" doc:"Added at every tick."`
	Every time.Duration `yaml:"every" default:"10ms" doc:"Tick period."`
}

type counter struct {
	tag  collector.Tag
	cfg  counterConfig
	emit protocols.Emitter
}

func (c *counter) Tags() []collector.Tag { return []collector.Tag{c.tag} }

func (c *counter) Run(ctx context.Context) error {
	v := 0.0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.Every):
		}
		v += c.cfg.Step
		if err := c.emit.Emit(ctx, []collector.Sample{{Tag: c.tag.ID, Value: v, Time: time.Now()}}); err != nil {
			return err
		}
	}
}

func init() {
	protocols.Register("counter", protocols.Protocol{
		Config: config.Protocol{
			Device: func() any { return new(counterConfig) },
			Check: func(c *config.Checker, dev *config.Device) {
				if dev.Block.(*counterConfig).Step == 0 {
					c.Errorf("step", "counter device %q: step must not be 0", dev.ID)
				}
			},
		},
		New: func(env protocols.Env, dev config.Device) (protocols.Device, error) {
			return &counter{tag: protocols.DeclaredTag(env.Site, dev, config.Tag{ID: dev.ID + ".n"}), cfg: *dev.Block.(*counterConfig), emit: env.Emit}, nil
		},
	})
}

const counterSite = `site: {id: s1}
devices:
  - id: c1
    protocol: counter
    step: 2.5
`

func TestANewProtocolIsOneFolder(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse("site.yaml", []byte(counterSite), none)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Devices[0].Block.(*counterConfig); c.Step != 2.5 || c.Every != 10*time.Millisecond {
		t.Fatalf("block %+v: want step 2.5 and the default every", c)
	}

	_, err = config.Parse("site.yaml", []byte(strings.Replace(counterSite, "2.5", "0", 1)), none)
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Error() != `site.yaml:5:11: counter device "c1": step must not be 0` {
		t.Errorf("check: %v", err)
	}
	_, err = config.Parse("site.yaml", []byte(counterSite+"    stepp: 1\n"), none)
	if err == nil || !strings.Contains(err.Error(), `site.yaml:6:5: unknown key "stepp" in devices[0] (did you mean "step"?)`) {
		t.Errorf("unknown key: %v", err)
	}

	latest := collector.NewLatest()
	pipe := collector.NewPipeline(latest)
	reg := collector.NewRegistry()
	d, err := protocols.New(protocols.Env{Site: cfg.Site.ID, Emit: pipe, Tags: reg}, cfg.Devices[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range d.Tags() {
		if err := reg.Add(tag); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pipe.Run(ctx)
	go d.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, ok := latest.Get("c1.n"); ok && s.Value >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sample of c1.n reached 5 within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
