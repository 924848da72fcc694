package modbus

import (
	"hazgate/config"
	"hazgate/protocols"
)

func init() {
	protocols.Register("modbus", protocols.Protocol{
		Config: config.Protocol{
			Device: func() any { return new(Config) },
			Tag:    func() any { return new(TagConfig) },
			Check:  checkConfig,
		},
		New: func(env protocols.Env, dev config.Device) (protocols.Device, error) {
			return New(env.Site, dev, env.Emit, env.Log)
		},
		// Devices sharing a URL must agree on the connection's settings.
		Check: func(devs []config.Device) error {
			_, err := Plan(devs)
			return err
		},
	})
}
