package selfalarm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

type recorder struct {
	got [][]collector.Sample
	err error
}

func (r *recorder) Emit(_ context.Context, s []collector.Sample) error {
	r.got = append(r.got, s)
	return r.err
}

func TestSpoolOverflowed(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	r := &recorder{}
	SpoolOverflowed(r, log, 1234)
	if len(r.got) != 1 || len(r.got[0]) != 2 {
		t.Fatalf("emitted %v, want one batch of two samples", r.got)
	}
	raise, clear := r.got[0][0], r.got[0][1]
	if raise.Tag != SpoolOverflowTag || raise.Value != 1234 || clear.Tag != SpoolOverflowTag || clear.Value != 0 {
		t.Errorf("samples %+v %+v, want the dropped count then 0 on %s", raise, clear, SpoolOverflowTag)
	}
	if !clear.Time.After(raise.Time) {
		t.Errorf("the clearing sample (%s) shares or precedes the raise's time (%s)", clear.Time, raise.Time)
	}

	r.err = errors.New("pipeline busy")
	SpoolOverflowed(r, log, 7)
	if !strings.Contains(buf.String(), "spool_overflow alarm not raised") {
		t.Errorf("a refused emit was not logged:\n%s", buf.String())
	}
}

// TestRulesMatchTags: every self rule matches one of the self tags, and its
// name is one config reserves, so a site's rules cannot shadow it.
func TestRulesMatchTags(t *testing.T) {
	tags := map[string]bool{}
	cfg := &config.Config{Site: config.Site{ID: "s1"}, Forward: &config.Forward{AlarmAfter: 30 * time.Second}}
	selfTags, rules := For(cfg)
	for _, tg := range selfTags {
		tags[tg.ID] = true
	}
	if len(rules) != 2 {
		t.Fatalf("rules %+v, want the spool's and the forwarding link's", rules)
	}
	for _, r := range rules {
		if !tags[r.Match.Tag] {
			t.Errorf("rule %s matches tag %q, which is not a self tag", r.Name, r.Match.Tag)
		}
		if _, err := config.Parse("x.yaml", []byte("site: {id: s}\nrules: [{name: "+r.Name+", above: 1}]\n"), func(string) (string, bool) { return "", false }); err == nil {
			t.Errorf("rule %s is not reserved in config", r.Name)
		}
	}
}
