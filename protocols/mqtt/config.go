package mqtt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hazgate/config"
)

// formatNames are the payload formats a subscription can decode (formats),
// in the order messages list them.
var formatNames = []string{"json", "number", "sparkplug", "fire_panel"}

// SparkplugPrefix starts every Sparkplug B topic.
const SparkplugPrefix = "spBv1.0/"

// Config is the keys only MQTT devices have, flat under the device in
// YAML. An MQTT device is one broker connection; its subscriptions turn
// topics into tags.
type Config struct {
	ClientID string `yaml:"client_id" doc:"MQTT client id; keep it stable so the broker keeps the session. Default hazgate-{site}-{device id}."`
	Username string `yaml:"username" doc:"Broker user name."`
	Password string `yaml:"password" secret:"true" doc:"Broker password; write ${ENV_NAME}, never the value."`
	// KeepAlive also bounds how long a dead connection goes unnoticed.
	KeepAlive time.Duration `yaml:"keepalive" default:"30s" doc:"MQTT keepalive; 0 turns pings off."`
	// CleanSession off makes the broker queue QoS 1 messages while the
	// gateway is away, so a restart loses nothing the broker accepted.
	CleanSession  bool           `yaml:"clean_session" doc:"Start a fresh session on every connect, dropping what the broker queued. Default false."`
	QoS           uint8          `yaml:"qos" default:"1" doc:"QoS of subscriptions that set none: 0, 1 or 2."`
	Subscriptions []Subscription `yaml:"subscriptions" doc:"Topics to subscribe to and how their payloads become tags."`
}

// Subscription maps the messages of one topic filter to tags.
type Subscription struct {
	Topic  string `yaml:"topic" required:"true" doc:"Topic filter, for example hydrant/+/pressure or spBv1.0/plant/#."`
	Format string `yaml:"format" default:"json" doc:"Payload format: json, number, sparkplug or fire_panel."`
	QoS    *uint8 `yaml:"qos" doc:"Subscription QoS: 0, 1 or 2. Default the device's qos."`
	// Tag and the metadata templates are filled per message, so one
	// subscription serves thousands of points created on first sight.
	Tag  string `yaml:"tag" doc:"Tag id template: {N} is topic level N (0-based), {field.path} a payload field; for sparkplug {group}, {node}, {device}, {metric} (default {node}.{metric} or {node}.{device}.{metric}); fire_panel appends .fire, .fault, .supervisory, .disabled, .start, .feedback."`
	Name string `yaml:"name" doc:"Display name template, like tag."`
	Kind string `yaml:"kind" doc:"Kind of the tags created, for example hydrant_pressure. Default fire_panel for fire_panel."`
	Unit string `yaml:"unit" doc:"Engineering unit of the tags created, for example MPa."`
	Area string `yaml:"area" doc:"Area template, like tag."`
	// Field paths below apply to json and fire_panel payloads.
	Value string `yaml:"value" doc:"Field path of the value, for example pressure or data.readings[0].v. Default value; active for fire_panel."`
	Time  string `yaml:"time" doc:"Field path of the reading time: epoch seconds or milliseconds, or RFC 3339. Default ts for fire_panel; without it, the time of receipt."`
	Array string `yaml:"array" doc:"Field path of an array of readings (. for a payload that is an array); value, time and tag then apply to each element, falling back to the whole payload for tag fields."`
	State string `yaml:"state" doc:"fire_panel: field path of the event type (fire, fault, supervisory, disabled, start, feedback, reset or 火警, 故障, 监管, 屏蔽, 启动, 反馈, 复位). Default type."`
}

// PathStep is one step of a field path: a member name, or an array index
// when Key is empty.
type PathStep struct {
	Key   string
	Index int
}

// ParseFieldPath parses a payload field path such as a.b[0].c; "." is the
// value itself.
func ParseFieldPath(s string) ([]PathStep, error) {
	if s == "." {
		return nil, nil
	}
	if s == "" {
		return nil, errors.New("empty field path")
	}
	var steps []PathStep
	for i := 0; i < len(s); {
		switch s[i] {
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("field path %q: unclosed [", s)
			}
			n, err := strconv.Atoi(s[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("field path %q: index %q is not a number from 0", s, s[i+1:i+end])
			}
			steps = append(steps, PathStep{Index: n})
			i += end + 1
			if i < len(s) && s[i] != '.' && s[i] != '[' {
				return nil, fmt.Errorf("field path %q: want . or [ after ]", s)
			}
		case '.':
			if i == 0 || i == len(s)-1 || s[i+1] == '.' || s[i+1] == '[' {
				return nil, fmt.Errorf("field path %q: empty member name", s)
			}
			i++
		case ']':
			return nil, fmt.Errorf("field path %q: ] without [", s)
		default:
			end := strings.IndexAny(s[i:], ".[]")
			if end < 0 {
				end = len(s) - i
			}
			steps = append(steps, PathStep{Key: s[i : i+end]})
			i += end
		}
	}
	return steps, nil
}

// TemplatePart is a piece of a tag template: literal text, a topic level
// ({2}) or a named field ({loop}, {data.id}, {metric}).
type TemplatePart struct {
	Text  string // literal text when Level < 0 and Field is empty
	Level int    // topic level, or -1
	Field string // field path or format-defined name, or ""
}

// ParseTemplate splits a template such as "{1}.L{loop}.P{point}" into parts.
func ParseTemplate(s string) ([]TemplatePart, error) {
	var parts []TemplatePart
	for len(s) > 0 {
		open := strings.IndexByte(s, '{')
		if closeAt := strings.IndexByte(s, '}'); closeAt >= 0 && (open < 0 || closeAt < open) {
			return nil, fmt.Errorf("} without { in %q", s)
		}
		if open < 0 {
			parts = append(parts, TemplatePart{Text: s, Level: -1})
			break
		}
		if open > 0 {
			parts = append(parts, TemplatePart{Text: s[:open], Level: -1})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed { in %q", s)
		}
		name := s[open+1 : open+end]
		switch n, err := strconv.Atoi(name); {
		case name == "":
			return nil, fmt.Errorf("empty {} in %q", s)
		case strings.ContainsRune(name, '{'):
			return nil, fmt.Errorf("nested { in %q", s)
		case err == nil && n >= 0:
			parts = append(parts, TemplatePart{Level: n})
		default:
			if _, err := ParseFieldPath(name); err != nil {
				return nil, err
			}
			parts = append(parts, TemplatePart{Level: -1, Field: name})
		}
		s = s[open+end+1:]
	}
	return parts, nil
}

// CheckTopicFilter reports a topic filter MQTT would refuse.
func CheckTopicFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if strings.ContainsRune(f, 0) {
		return errors.New("topic filter contains a NUL character")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: # must be a whole level and the last one", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: + must be a whole level", f)
		}
	}
	return nil
}

func checkQoS(c *config.Checker, key string, q uint8) {
	if q > 2 {
		c.Errorf(key, "%s: qos must be 0, 1 or 2, not %d", c.Path(key), q)
	}
}

// checkConfig checks an mqtt device: broker URL, session keys and every
// subscription's topic, format, templates and field paths.
func checkConfig(c *config.Checker, dev *config.Device) {
	if dev.URL == "" {
		c.Errorf("", "missing required key %q in %s", "url", c.Path(""))
		return
	}
	cfg := dev.Block.(*Config)
	c.Broker(dev.URL, dev.TLS)
	checkQoS(c, "qos", cfg.QoS)
	if cfg.KeepAlive > 0 && cfg.KeepAlive < time.Second {
		c.Errorf("keepalive", "device %q: keepalive %v: MQTT counts it in whole seconds; use 0 or at least 1s", dev.ID, cfg.KeepAlive)
	}
	if len(cfg.Subscriptions) == 0 {
		c.Errorf("", "mqtt device %q: needs at least one entry in subscriptions", dev.ID)
	}
	for j := range cfg.Subscriptions {
		checkSubscription(c, dev, &cfg.Subscriptions[j], fmt.Sprintf("subscriptions[%d]", j))
	}
}

func checkSubscription(c *config.Checker, dev *config.Device, s *Subscription, p string) {
	c.Enum(p+".format", "format", s.Format, formatNames)
	if s.QoS != nil {
		checkQoS(c, p+".qos", *s.QoS)
	}
	if err := CheckTopicFilter(s.Topic); err != nil {
		c.Errorf(p+".topic", "device %q: %v", dev.ID, err)
		return
	}
	levels := strings.Split(s.Topic, "/")
	open := levels[len(levels)-1] == "#"
	if s.Format == "sparkplug" && !strings.HasPrefix(s.Topic, SparkplugPrefix) {
		c.Errorf(p+".topic", "device %q: sparkplug topic %q must start with %s", dev.ID, s.Topic, SparkplugPrefix)
	}
	if s.Tag == "" && s.Format != "sparkplug" {
		c.Errorf(p, "device %q: subscription %q needs a tag template", dev.ID, s.Topic)
	}
	for _, k := range []struct{ key, val string }{{"tag", s.Tag}, {"name", s.Name}, {"area", s.Area}} {
		parts, err := ParseTemplate(k.val)
		if err != nil {
			c.Errorf(p+"."+k.key, "device %q: %s template: %v", dev.ID, k.key, err)
			continue
		}
		for _, part := range parts {
			if part.Level >= len(levels) && !open {
				c.Errorf(p+"."+k.key, "device %q: %s template uses topic level {%d} but %q has levels 0 to %d", dev.ID, k.key, part.Level, s.Topic, len(levels)-1)
			}
			if part.Field != "" && s.Format == "number" {
				c.Errorf(p+"."+k.key, "device %q: %s template field {%s}: number payloads have no fields", dev.ID, k.key, part.Field)
			}
		}
	}
	fields := []struct{ key, val string }{{"value", s.Value}, {"time", s.Time}, {"array", s.Array}, {"state", s.State}}
	for _, f := range fields {
		if f.val == "" {
			continue
		}
		if s.Format == "number" || s.Format == "sparkplug" {
			c.Errorf(p+"."+f.key, "device %q: %s is a field path for json and fire_panel payloads, not %s", dev.ID, f.key, s.Format)
			continue
		}
		if f.key == "state" && s.Format != "fire_panel" {
			c.Errorf(p+".state", "device %q: state is for fire_panel payloads", dev.ID)
			continue
		}
		if _, err := ParseFieldPath(f.val); err != nil {
			c.Errorf(p+"."+f.key, "device %q: %s: %v", dev.ID, f.key, err)
		}
	}
}
