package config

// MQTTDevice holds the keys only MQTT devices have.
type MQTTDevice struct{}
