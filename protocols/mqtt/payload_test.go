package mqtt

import (
	"errors"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
)

var recv = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func mustSub(t testing.TB, s Subscription) *subscription {
	t.Helper()
	if s.Format == "" {
		s.Format = "json"
	}
	sub, err := compileSubscription(s, 1)
	if err != nil {
		t.Fatalf("compileSubscription(%+v): %v", s, err)
	}
	return sub
}

func decodeOne(sub *subscription, topic, payload string) ([]reading, error) {
	return sub.decode(topic, strings.Split(topic, "/"), []byte(payload), recv)
}

func reasonOf(err error) string {
	var pe *payloadError
	if errors.As(err, &pe) {
		return pe.reason
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// got is a reading in a comparable form.
type got struct {
	tag   string
	value float64
	time  time.Time
}

func flatten(rs []reading) []got {
	var out []got
	for _, r := range rs {
		out = append(out, got{r.tag, r.value, r.time})
	}
	return out
}

func TestDecodePayloads(t *testing.T) {
	ms := time.UnixMilli(1732250000123)
	tests := []struct {
		name    string
		sub     Subscription
		topic   string
		payload string
		want    []got
		reason  string // of the error, if any
	}{
		{"json field and level", Subscription{Topic: "hydrant/+/pressure", Tag: "HYD-{1}", Value: "pressure"},
			"hydrant/7/pressure", `{"pressure":0.32}`, []got{{"HYD-7", 0.32, recv}}, ""},
		{"json ms time", Subscription{Topic: "h/+", Tag: "H{1}", Value: "p", Time: "ts"},
			"h/1", `{"p":1,"ts":1732250000123}`, []got{{"H1", 1, ms}}, ""},
		{"json s time", Subscription{Topic: "h/+", Tag: "H{1}", Value: "p", Time: "ts"},
			"h/1", `{"p":1,"ts":1732250000.5}`, []got{{"H1", 1, time.Unix(1732250000, 5e8)}}, ""},
		{"json rfc3339 time", Subscription{Topic: "h/+", Tag: "H{1}", Value: "p", Time: "ts"},
			"h/1", `{"p":1,"ts":"2024-11-22T04:33:20.123Z"}`, []got{{"H1", 1, ms.UTC()}}, ""},
		{"json missing time uses receipt", Subscription{Topic: "h/+", Tag: "H{1}", Value: "p", Time: "ts"},
			"h/1", `{"p":2}`, []got{{"H1", 2, recv}}, ""},
		{"json nested path", Subscription{Topic: "box/+", Tag: "{1}.{data.id}", Value: "data.ch[1].v"},
			"box/B1", `{"data":{"id":"T3","ch":[{"v":1},{"v":2.5}]}}`, []got{{"B1.T3", 2.5, recv}}, ""},
		{"json bool value", Subscription{Topic: "s", Tag: "S", Value: "on"}, "s", `{"on":true}`, []got{{"S", 1, recv}}, ""},
		{"json default value path", Subscription{Topic: "s", Tag: "S"}, "s", `{"value":4}`, []got{{"S", 4, recv}}, ""},
		{"json array of readings", Subscription{Topic: "hyd/+", Tag: "{dev}-{ch}", Value: "p", Time: "t", Array: "readings"},
			"hyd/x", `{"dev":"HYD","readings":[{"ch":1,"p":0.3,"t":1732250000123},{"ch":2,"p":0.4}]}`,
			[]got{{"HYD-1", 0.3, ms}, {"HYD-2", 0.4, recv}}, ""},
		{"json root array", Subscription{Topic: "a", Tag: "A{id}", Array: "."}, "a", `[{"id":1,"value":5},{"id":2,"value":6}]`,
			[]got{{"A1", 5, recv}, {"A2", 6, recv}}, ""},
		{"array element bad, others kept", Subscription{Topic: "a", Tag: "A{id}", Array: "."}, "a", `[{"id":1,"value":"x"},{"id":2,"value":6}]`,
			[]got{{"A2", 6, recv}}, ReasonWrongType},
		{"not json", Subscription{Topic: "s", Tag: "S"}, "s", `pressure=1`, nil, ReasonNotJSON},
		{"missing value", Subscription{Topic: "s", Tag: "S", Value: "p"}, "s", `{"q":1}`, nil, ReasonMissingField},
		{"string value", Subscription{Topic: "s", Tag: "S", Value: "p"}, "s", `{"p":"1.2"}`, nil, ReasonWrongType},
		{"null value", Subscription{Topic: "s", Tag: "S", Value: "p"}, "s", `{"p":null}`, nil, ReasonWrongType},
		{"bad time", Subscription{Topic: "s", Tag: "S", Value: "p", Time: "ts"}, "s", `{"p":1,"ts":"yesterday"}`, nil, ReasonBadTime},
		{"negative time", Subscription{Topic: "s", Tag: "S", Value: "p", Time: "ts"}, "s", `{"p":1,"ts":-5}`, nil, ReasonBadTime},
		{"missing template field", Subscription{Topic: "s", Tag: "S{id}"}, "s", `{"value":1}`, nil, ReasonMissingField},
		{"array missing", Subscription{Topic: "s", Tag: "S", Array: "r"}, "s", `{"value":1}`, nil, ReasonMissingField},
		{"array not array", Subscription{Topic: "s", Tag: "S", Array: "r"}, "s", `{"r":{}}`, nil, ReasonWrongType},
		{"control char in tag", Subscription{Topic: "s", Tag: "S{id}"}, "s", `{"id":"a\nb","value":1}`, nil, ReasonBadTag},
		{"number", Subscription{Topic: "p/+", Format: "number", Tag: "P{1}"}, "p/9", " 12.5\n", []got{{"P9", 12.5, recv}}, ""},
		{"number refused", Subscription{Topic: "p/+", Format: "number", Tag: "P{1}"}, "p/9", "NaN", nil, ReasonNotNumber},
		{"number text", Subscription{Topic: "p/+", Format: "number", Tag: "P{1}"}, "p/9", "on", nil, ReasonNotNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := decodeOne(mustSub(t, tt.sub), tt.topic, tt.payload)
			if r := reasonOf(err); r != tt.reason {
				t.Errorf("error %v (reason %q), want reason %q", err, r, tt.reason)
			}
			g := flatten(rs)
			if len(g) != len(tt.want) {
				t.Fatalf("readings = %+v, want %+v", g, tt.want)
			}
			for i := range g {
				if g[i].tag != tt.want[i].tag || g[i].value != tt.want[i].value || !g[i].time.Equal(tt.want[i].time) {
					t.Errorf("reading %d = %+v, want %+v", i, g[i], tt.want[i])
				}
			}
		})
	}
}

func TestTemplateMetadata(t *testing.T) {
	sub := mustSub(t, Subscription{Topic: "hyd/+/p", Tag: "HYD-{1}", Name: "消火栓{1}", Area: "{zone}"})
	rs, err := decodeOne(sub, "hyd/12/p", `{"value":0.3,"zone":"罐区A"}`)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	if rs[0].name != "消火栓12" || rs[0].area != "罐区A" {
		t.Errorf("name %q area %q", rs[0].name, rs[0].area)
	}
	// A hole in metadata keeps the reading.
	rs, err = decodeOne(sub, "hyd/13/p", `{"value":0.3}`)
	if err != nil || len(rs) != 1 || rs[0].area != "" {
		t.Errorf("%+v %v", rs, err)
	}
}

func TestFirePanel(t *testing.T) {
	sub := mustSub(t, Subscription{Topic: "fas/+/event", Format: "fire_panel", Tag: "{1}.L{loop}.P{point}"})
	step := func(payload string) []got {
		t.Helper()
		rs, err := decodeOne(sub, "fas/FAS-1/event", payload)
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		return flatten(rs)
	}
	ts := time.UnixMilli(1732250000000)
	g := step(`{"loop":1,"point":23,"type":"fire","active":true,"ts":1732250000000}`)
	if len(g) != 1 || g[0] != (got{"FAS-1.L1.P23.fire", 1, ts}) {
		t.Fatalf("fire = %+v", g)
	}
	rs, _ := decodeOne(sub, "fas/FAS-1/event", `{"loop":1,"point":23,"type":"故障","active":1}`)
	if len(rs) != 1 || rs[0].tag != "FAS-1.L1.P23.fault" || len(rs[0].family) != 6 || rs[0].family[2] != "FAS-1.L1.P23.supervisory" {
		t.Fatalf("fault = %+v", rs)
	}
	if g := step(`{"loop":1,"point":23,"type":"fault","active":false}`); g[0].value != 0 {
		t.Errorf("fault cleared = %+v", g)
	}
	step(`{"loop":2,"point":1,"type":"屏蔽"}`) // no active flag: the state occurred
	// Reset returns every active state on the panel to 0.
	g = step(`{"type":"reset","ts":1732250001000}`)
	want := map[string]bool{"FAS-1.L1.P23.fire": true, "FAS-1.L2.P1.disabled": true}
	if len(g) != len(want) {
		t.Fatalf("reset = %+v, want %v at 0", g, want)
	}
	for _, r := range g {
		if !want[r.tag] || r.value != 0 || !r.time.Equal(time.UnixMilli(1732250001000)) {
			t.Errorf("reset reading %+v", r)
		}
	}
	if g := step(`{"type":"reset"}`); len(g) != 0 {
		t.Errorf("second reset = %+v", g)
	}
	for payload, reason := range map[string]string{
		`{"loop":1,"point":2,"type":"smoke"}`:               ReasonUnknownState,
		`{"loop":1,"point":2}`:                              ReasonMissingField,
		`{"loop":1,"point":2,"type":3}`:                     ReasonWrongType,
		`{"loop":1,"type":"fire"}`:                          ReasonMissingField,
		`{"loop":1,"point":2,"type":"fire","active":"yes"}`: ReasonWrongType,
	} {
		if _, err := decodeOne(sub, "fas/FAS-1/event", payload); reasonOf(err) != reason {
			t.Errorf("%s: err %v, want %s", payload, err, reason)
		}
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[float64]time.Time{
		1732250000:          time.Unix(1732250000, 0),
		1732250000123:       time.UnixMilli(1732250000123),
		1732250000123456:    time.UnixMicro(1732250000123456),
		1732250000123456000: time.Unix(0, 1732250000123456000),
	} {
		got, err := parseTime(in)
		if err != nil || got.Sub(want).Abs() > time.Microsecond {
			t.Errorf("parseTime(%v) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/+/c", "a/b/c/d", false},
		{"a/#", "a/b/c", true},
		{"a/#", "a", true},
		{"#", "x/y", true},
		{"a/b", "a/b", true},
		{"a/b", "a", false},
	}
	for _, tt := range tests {
		s := mustSub(t, Subscription{Topic: tt.filter, Tag: "X"})
		if got := s.matches(strings.Split(tt.topic, "/")); got != tt.want {
			t.Errorf("%s matches %s = %v", tt.filter, tt.topic, got)
		}
	}
}

func TestBadPayloadLogLimit(t *testing.T) {
	var b badPayloads
	now := time.Now()
	if log, _ := b.add(ReasonNotJSON, now); !log {
		t.Error("first refusal not logged")
	}
	for i := 1; i < 5; i++ {
		if log, _ := b.add(ReasonWrongType, now.Add(time.Duration(i)*time.Second)); log {
			t.Errorf("refusal %d logged within a minute", i)
		}
	}
	log, suppressed := b.add(ReasonNotJSON, now.Add(time.Minute))
	if !log || suppressed != 4 {
		t.Errorf("after a minute: log %v suppressed %d, want true 4", log, suppressed)
	}
	c := b.counts()
	if c[ReasonNotJSON] != 2 || c[ReasonWrongType] != 4 {
		t.Errorf("counts = %v", c)
	}
}

func TestExcerpt(t *testing.T) {
	if got := excerpt([]byte("ok\x00")); got != `"ok\x00"` {
		t.Errorf("excerpt = %s", got)
	}
	if got := excerpt([]byte(strings.Repeat("x", 100))); !strings.HasSuffix(got, `"...`) || len(got) != excerptLen+5 {
		t.Errorf("long excerpt = %s", got)
	}
}

func TestBadQualityIsZero(t *testing.T) {
	r := badQuality("T", recv, collector.ReasonCommLoss)
	if r.value != 0 || r.quality != collector.Bad {
		t.Errorf("%+v", r)
	}
}
