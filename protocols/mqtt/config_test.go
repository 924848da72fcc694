package mqtt

import (
	"hazgate/config/configtest"
	"reflect"
	"strings"
	"testing"
	"time"

	"hazgate/config"
)

// mqttBase is the example device.
const mqttBase = `site: {id: s}
devices:
  - id: iot-1
    protocol: mqtt
    url: tcp://127.0.0.1:1883
    client_id: hazgate-cz01
    username: ${MQTT_USER}
    password: ${MQTT_PASS}
    subscriptions:
      - topic: hydrant/+/pressure
        format: json
        tag: "HYD-{1}"
        kind: hydrant_pressure
        unit: MPa
        value: pressure
        time: ts
      - topic: fas/+/event
        format: fire_panel
        tag: "{1}.L{loop}.P{point}"
`

var mqttEnv = map[string]string{"MQTT_USER": "gw", "MQTT_PASS": "pw"}

func TestMQTTExample(t *testing.T) {
	cfg, err := config.Parse("m.yaml", []byte(mqttBase+"northbound: {url: \"ssl://hub:8883\", password: \"${MQTT_PASS}\", tls: {ca: ca.pem}}\n"), configtest.Env(mqttEnv))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Devices[0].Block.(*Config)
	if d.ClientID != "hazgate-cz01" || d.Username != "gw" || d.Password != "pw" || d.CleanSession || d.QoS != 1 || d.KeepAlive != 30*time.Second {
		t.Errorf("device = %+v", d)
	}
	s := d.Subscriptions[0]
	if s.Topic != "hydrant/+/pressure" || s.Format != "json" || s.Tag != "HYD-{1}" || s.Value != "pressure" || s.Time != "ts" || s.QoS != nil {
		t.Errorf("subscription = %+v", s)
	}
	if f := d.Subscriptions[1].Format; f != "fire_panel" {
		t.Errorf("format = %q", f)
	}
	nb := cfg.Northbound
	if nb == nil || nb.TopicPrefix != "hazgate" || nb.QoS != 1 || nb.Timeout != 10*time.Second || nb.Password != "pw" || nb.TLS.CA != "ca.pem" {
		t.Errorf("northbound = %+v", nb)
	}
}

func TestMQTTProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad scheme", strings.Replace(mqttBase, "tcp://", "http://", 1), []string{`5:10: devices[0].url: bad URL "http://127.0.0.1:1883": scheme must be one of`}},
		{"no host", strings.Replace(mqttBase, "tcp://127.0.0.1:1883", "tcp://", 1), []string{`5:10: devices[0].url: bad URL "tcp://": no host`}},
		{"tls on tcp", mqttBase + "    tls: {ca: ca.pem}\n", []string{`20:10: devices[0].tls is set but url "tcp://127.0.0.1:1883" is not a TLS transport`}},
		{"qos 3", strings.Replace(mqttBase, "    client_id:", "    qos: 3\n    client_id:", 1), []string{`6:10: devices[0].qos: qos must be 0, 1 or 2, not 3`}},
		{"sub qos 5", strings.Replace(mqttBase, "        format: json\n", "        format: json\n        qos: 5\n", 1), []string{`12:14: devices[0].subscriptions[0].qos: qos must be 0, 1 or 2`}},
		{"short keepalive", strings.Replace(mqttBase, "    client_id:", "    keepalive: 500ms\n    client_id:", 1), []string{`6:16: device "iot-1": keepalive 500ms`}},
		{"unknown format", strings.Replace(mqttBase, "format: json", "format: xml", 1), []string{`11:17: devices[0].subscriptions[0].format: unknown format "xml"`}},
		{"bad filter", strings.Replace(mqttBase, "hydrant/+/pressure", "hydrant/#/pressure", 1), []string{`10:16: device "iot-1": topic filter "hydrant/#/pressure": # must be a whole level and the last one`}},
		{"partial plus", strings.Replace(mqttBase, "hydrant/+/pressure", "hydrant/a+/pressure", 1), []string{`+ must be a whole level`}},
		{"level out of range", strings.Replace(mqttBase, "HYD-{1}", "HYD-{3}", 1), []string{`12:14: device "iot-1": tag template uses topic level {3} but "hydrant/+/pressure" has levels 0 to 2`}},
		{"unclosed template", strings.Replace(mqttBase, "HYD-{1}", "HYD-{1", 1), []string{`12:14: device "iot-1": tag template: unclosed {`}},
		{"bad value path", strings.Replace(mqttBase, "value: pressure", "value: a..b", 1), []string{`15:16: device "iot-1": value: field path "a..b": empty member name`}},
		{"bad index", strings.Replace(mqttBase, "time: ts", "time: \"r[x]\"", 1), []string{`16:15: device "iot-1": time: field path "r[x]": index "x"`}},
		{"no tag", strings.Replace(mqttBase, "        tag: \"HYD-{1}\"\n", "", 1), []string{`10:9: device "iot-1": subscription "hydrant/+/pressure" needs a tag template`}},
		{"no subscriptions", "site: {id: s}\ndevices:\n  - {id: m, protocol: mqtt, url: \"tcp://h:1883\"}\n", []string{`3:5: mqtt device "m": needs at least one entry in subscriptions`}},
		{"sparkplug topic", mqttBase + "      - {topic: plant/#, format: sparkplug}\n", []string{`20:17: device "iot-1": sparkplug topic "plant/#" must start with spBv1.0/`}},
		{"value on number", mqttBase + "      - {topic: \"t/+\", format: number, tag: \"T{1}\", value: v}\n", []string{`20:60: device "iot-1": value is a field path for json and fire_panel payloads, not number`}},
		{"field on number", mqttBase + "      - {topic: \"t/+\", format: number, tag: \"T{x}\"}\n", []string{`20:45: device "iot-1": tag template field {x}: number payloads have no fields`}},
		{"state on json", mqttBase + "      - {topic: \"t/+\", tag: \"T{1}\", state: kind}\n", []string{`20:44: device "iot-1": state is for fire_panel payloads`}},
		{"register on mqtt tag", mqttBase + "    tags:\n      - {id: X, register: {table: input}}\n", []string{`21:17: unknown key "register" in devices[0].tags[0]`}},
		{"northbound qos 0", mqttBase + "northbound: {url: \"tcp://h:1883\", qos: 0}\n", []string{`20:40: northbound.qos must be 1 or 2`}},
		{"northbound prefix", mqttBase + "northbound: {url: \"tcp://h:1883\", topic_prefix: \"a/#\"}\n", []string{`20:49: northbound.topic_prefix "a/#"`}},
		{"northbound url", mqttBase + "northbound: {url: \"h:1883\"}\n", []string{`20:19: northbound.url: bad URL "h:1883"`}},
		{"northbound missing url", mqttBase + "northbound: {qos: 1}\n", []string{`20:13: missing required key "url" in northbound`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configtest.Problems(t, "c.yaml", tt.yaml, mqttEnv, tt.want...)
		})
	}
}

func TestParseFieldPath(t *testing.T) {
	tests := []struct {
		in   string
		want []PathStep
		err  string
	}{
		{"a", []PathStep{{Key: "a"}}, ""},
		{"a.b[0].c", []PathStep{{Key: "a"}, {Key: "b"}, {Index: 0}, {Key: "c"}}, ""},
		{"[2][1]", []PathStep{{Index: 2}, {Index: 1}}, ""},
		{"数据.压力", []PathStep{{Key: "数据"}, {Key: "压力"}}, ""},
		{".", nil, ""},
		{"", nil, "empty field path"},
		{"a.", nil, "empty member name"},
		{".a", nil, "empty member name"},
		{"a[1", nil, "unclosed ["},
		{"a[-1]", nil, "is not a number"},
		{"a]", nil, "] without ["},
		{"a[0]b", nil, "want . or [ after ]"},
	}
	for _, tt := range tests {
		got, err := ParseFieldPath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseFieldPath(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFieldPath(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTemplate(t *testing.T) {
	got, err := ParseTemplate("{1}.L{loop}.P{a.b[0]}")
	want := []TemplatePart{{Level: 1}, {Text: ".L", Level: -1}, {Level: -1, Field: "loop"}, {Text: ".P", Level: -1}, {Level: -1, Field: "a.b[0]"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseTemplate = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"{", "}", "a{}", "{a{b}}", "x}{1}", "{a..b}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) accepted", bad)
		}
	}
}
