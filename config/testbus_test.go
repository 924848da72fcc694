package config

import "fmt"

// testbus is a protocol registered from this test file alone: config's own
// tests need no real protocol, and a new protocol needs no change to config
// to have its keys decoded, defaulted, checked and documented.

type testBusDevice struct {
	UnitID uint8 `yaml:"unit_id" default:"1" doc:"Unit id."`
}

type testBusTag struct {
	Register *testBusRegister `yaml:"register" doc:"Where the value is."`
}

type testBusRegister struct {
	Table   string  `yaml:"table" required:"true" doc:"Table."`
	Address uint16  `yaml:"address" doc:"Address."`
	Scale   float64 `yaml:"scale" default:"1" doc:"Scale."`
}

func init() {
	RegisterProtocol("testbus", Protocol{
		Device: func() any { return new(testBusDevice) },
		Tag:    func() any { return new(testBusTag) },
		Check: func(c *Checker, dev *Device) {
			if dev.URL == "" {
				c.Errorf("", "missing required key %q in %s", "url", c.Path(""))
				return
			}
			c.URL("url", dev.URL, []string{"tcp"}, true)
			for j, t := range dev.Tags {
				if tb, _ := t.Block.(*testBusTag); tb == nil || tb.Register == nil {
					c.Errorf(fmt.Sprintf("tags[%d]", j), "tag %q: missing register", t.ID)
				}
			}
		},
	})
}
