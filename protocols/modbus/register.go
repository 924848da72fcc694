package modbus

import (
	"hazgate/config"
	"hazgate/protocols"
)

func init() {
	config.RegisterProtocol("modbus", config.Protocol{
		Device: func() any { return new(Config) },
		Tag:    func() any { return new(TagConfig) },
		Check:  checkConfig,
	})
	protocols.Register("modbus", func(env protocols.Env, dev config.Device) (protocols.Device, error) {
		return New(env.Site, dev, env.Emit, env.Log)
	})
	protocols.RegisterCheck("modbus", func(devs []config.Device) error {
		_, err := Plan(devs)
		return err
	})
}
