package config

// MQTTDevice holds the keys only MQTT devices have.
type MQTTDevice struct{}

// Northbound is the upstream MQTT broker events are published to.
type Northbound struct {
	URL string `yaml:"url" required:"true" doc:"Broker URL: tcp://, ssl:// or ws://."`
}
