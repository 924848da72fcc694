package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/config"
)

// HubOptions are paho's options for a regulator's hub reading the sites'
// northbound topics, with the collector's reconnects and TLS. The session
// is kept (clean_session false), so what the sites publish while the hub
// reconnects waits at the broker; the hub acknowledges each message only
// once it is stored.
func HubOptions(cfg config.Hub, clientID string) (*paho.ClientOptions, error) {
	o, err := broker{
		url: cfg.URL, clientID: clientID, username: cfg.Username, password: cfg.Password,
		keepAlive: cfg.KeepAlive, connectTimeout: minConnectTimeout,
		cleanSession: false, tls: cfg.TLS,
		statusTopic: cfg.TopicPrefix + "/_hub/" + clientID + "/status", // not a site: {prefix}/+/status does not match it
	}.options()
	if err != nil {
		return nil, err
	}
	return o.SetAutoAckDisabled(true), nil
}
