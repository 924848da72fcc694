package mqtt

import (
	"hazgate/config"
	"hazgate/protocols"
)

func init() {
	protocols.Register("mqtt", protocols.Protocol{
		Config: config.Protocol{Device: func() any { return new(Config) }, Check: checkConfig},
		New:    func(env protocols.Env, dev config.Device) (protocols.Device, error) { return New(env, dev) },
	})
}
