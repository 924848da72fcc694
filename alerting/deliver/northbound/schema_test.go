package northbound

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
)

// schemaFile is the contract's JSON Schema, the one written-down form of
// what this package sends.
const schemaFile = "../../../docs/northbound.schema.json"

// topicSchema names the $defs entry each topic's messages must satisfy.
var topicSchema = map[string]string{
	TopicStatus:     "Status",
	TopicAlarm:      "AlarmMessage",
	TopicHazard:     "HazardMessage",
	TopicSummary:    "Summary",
	TopicReading:    "ReadingMessage",
	TopicCommand:    "Command",
	TopicCommandAck: "CommandAck",
}

// contractSchemas compiles each message's definition from the schema file.
func contractSchemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // date-time is checked, not just annotated
	const url = "file:///northbound.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*jsonschema.Schema)
	for _, def := range topicSchema {
		s, err := c.Compile(url + "#/$defs/" + def)
		if err != nil {
			t.Fatalf("%s: $defs/%s: %v", schemaFile, def, err)
		}
		out[def] = s
	}
	return out
}

// validate checks one payload against a message definition.
func validate(schemas map[string]*jsonschema.Schema, def string, payload []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return schemas[def].Validate(inst)
}

// TestSchemaCompiles: the schema file is a draft 2020-12 schema with a
// definition for every topic; a hub's messages (which this package does
// not send yet) encoded from the Go types satisfy theirs.
func TestSchemaCompiles(t *testing.T) {
	schemas := contractSchemas(t)
	now := time.Now()
	deadline := now.Add(72 * time.Hour)
	for def, msg := range map[string]any{
		"Command":    Command{V: ContractVersion, ID: "hub-1-42", Site: "s1", Time: now, Type: "supervise", Hazard: 3, By: "应急管理局", Note: "限期整改", Deadline: &deadline},
		"CommandAck": CommandAck{V: ContractVersion, ID: "hub-1-42", Site: "s1", Time: now, OK: true, HazardSeq: 17},
	} {
		b, _ := json.Marshal(msg)
		if err := validate(schemas, def, b); err != nil {
			t.Errorf("%s %s: %v", def, b, err)
		}
	}
}

// TestSchemaRejects: the validator catches what a broken publisher could
// send; each case starts from a valid message and breaks one thing.
func TestSchemaRejects(t *testing.T) {
	schemas := contractSchemas(t)
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	alarm := AlarmMessage{V: ContractVersion, Site: "s1", Event: alerting.Event{Seq: 12, Type: alerting.EventRaised, Time: now,
		Alarm: alerting.Alarm{ID: 4, Site: "s1", Tag: "GT-101", Rule: "gas-hh", Level: alerting.LevelHH, Class: "gas", Severity: alerting.SeverityCritical,
			State: alerting.ActiveUnacked, Active: true, Value: 52, Peak: 52, Count: 1, RaisedAt: now}}}
	status := Status{V: ContractVersion, Site: "s1", State: SiteOffline, Reason: "lost", Time: now, Devices: 1, Tags: 3, AlarmSeq: 12}
	summary := Summary{V: ContractVersion, Site: "s1", Time: now, AlarmSeq: 12, Open: map[string]int{"critical": 1}, Unacked: 1}
	hz := HazardMessage{V: ContractVersion, Site: "s1", Event: hazard.Event{Seq: 1, Type: hazard.EventCreated, Time: now, AlarmIDs: []int64{4},
		Hazard: hazard.Hazard{ID: 1, Number: "S1-20261203-0001", Site: "s1", Status: hazard.Open, FoundAt: now, Deadline: now.Add(time.Hour), AlarmIDs: []int64{4}, UpdatedAt: now}}}

	cases := []struct {
		name, def string
		msg       any
		edit      func(m map[string]any)
		want      string // in the validator's error
	}{
		{"alarm without v", "AlarmMessage", alarm, func(m map[string]any) { delete(m, "v") }, "v"},
		{"alarm of another version", "AlarmMessage", alarm, func(m map[string]any) { m["v"] = 2 }, "/v"},
		{"alarm seq as a string", "AlarmMessage", alarm, func(m map[string]any) { m["seq"] = "12" }, "/seq"},
		{"alarm without site", "AlarmMessage", alarm, func(m map[string]any) { delete(m, "site") }, "site"},
		{"alarm of an unknown severity", "AlarmMessage", alarm, func(m map[string]any) { m["alarm"].(map[string]any)["severity"] = "urgent" }, "/alarm/severity"},
		{"alarm with an undocumented field", "AlarmMessage", alarm, func(m map[string]any) { m["extra"] = true }, "extra"},
		{"status offline without a reason", "Status", status, func(m map[string]any) { delete(m, "reason") }, "reason"},
		{"status online with a reason", "Status", status, func(m map[string]any) { m["state"] = "online" }, "/reason"},
		{"status time not RFC 3339", "Status", status, func(m map[string]any) { m["time"] = "yesterday" }, "/time"},
		{"summary count negative", "Summary", summary, func(m map[string]any) { m["unacked"] = -1 }, "/unacked"},
		{"summary of an unknown severity", "Summary", summary, func(m map[string]any) { m["open"].(map[string]any)["urgent"] = 1 }, "urgent"},
		{"hazard without its record", "HazardMessage", hz, func(m map[string]any) { delete(m, "hazard") }, "hazard"},
		{"hazard status unknown", "HazardMessage", hz, func(m map[string]any) { m["hazard"].(map[string]any)["status"] = "fixed" }, "/hazard/status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := json.Marshal(c.msg)
			if err := validate(schemas, c.def, b); err != nil {
				t.Fatalf("the valid message fails: %v\n%s", err, b)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			b, _ = json.Marshal(m)
			err := validate(schemas, c.def, b)
			if err == nil {
				t.Fatalf("accepted %s", b)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not point at %q: %v", c.want, err)
			}
		})
	}
}

// TestSchemaDocExamples: every example in docs/northbound.md, marked with
// the definition it shows, satisfies the schema.
func TestSchemaDocExamples(t *testing.T) {
	schemas := contractSchemas(t)
	doc, err := os.ReadFile("../../../docs/northbound.md")
	if err != nil {
		t.Fatal(err)
	}
	const mark = "<!-- schema: "
	seen := map[string]int{}
	rest := string(doc)
	for {
		i := strings.Index(rest, mark)
		if i < 0 {
			break
		}
		rest = rest[i+len(mark):]
		def, after, _ := strings.Cut(rest, " -->\n```json\n")
		body, _, ok := strings.Cut(after, "\n```")
		if !ok || schemas[def] == nil {
			t.Fatalf("docs/northbound.md: a %q mark not followed by a json block of a known definition", def)
		}
		if err := validate(schemas, def, []byte(body)); err != nil {
			t.Errorf("docs/northbound.md example of %s: %v\n%s", def, err, body)
		}
		seen[def]++
	}
	for _, def := range topicSchema {
		if seen[def] == 0 {
			t.Errorf("docs/northbound.md has no example of %s", def)
		}
	}
}
