package mqtt

import (
	"hazgate/config"
	"hazgate/protocols"
)

func init() {
	config.RegisterProtocol("mqtt", config.Protocol{Device: func() any { return new(Config) }, Check: checkConfig})
	protocols.Register("mqtt", func(env protocols.Env, dev config.Device) (protocols.Device, error) {
		return New(env, dev)
	})
}
