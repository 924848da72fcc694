package mqtt

import (
	"hazgate/config"
	"hazgate/protocols"
)

func init() {
	protocols.Register("mqtt", func(env protocols.Env, dev config.Device) (protocols.Device, error) {
		return New(env, dev)
	})
}
