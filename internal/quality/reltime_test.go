package quality_test

import (
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/quality"
)

func TestParseRelative(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"now", 0, ""},
		{"now-200d", -200 * 24 * time.Hour, ""},
		{"now-3h", -3 * time.Hour, ""},
		{"now-3h30m", -(3*time.Hour + 30*time.Minute), ""},
		{"now+90s", 90 * time.Second, ""},
		{"now-1d2h3m4s", -(26*time.Hour + 3*time.Minute + 4*time.Second), ""},
		{"now-", 0, "offset missing"},
		{"now 3h", 0, "want now, now-<offset>"},
		{"now-3", 0, "has no unit"},
		{"now-h", 0, "expected a number"},
		{"now-3w", 0, "unknown, repeated or out of order"},
		{"now-3m2h", 0, "out of order"},
		{"now-3h3h", 0, "repeated"},
		{"now-99999999999999999999d", 0, "too large"},
		{"now-40000d", 0, "too large"},
		{"later", 0, "must start with"},
	} {
		got, err := quality.ParseRelative(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseRelative(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseRelative(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseRelative: no input panics, an accepted offset stays within 100
// years, and what FormatRelative writes parses back to the same offset.
func FuzzParseRelative(f *testing.F) {
	for _, s := range []string{"now", "now-200d", "now+3h30m", "now-1d2h3m4s", "now-", "now-9999999999d", "nowx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := quality.ParseRelative(s)
		if err != nil {
			return
		}
		if d > 100*366*24*time.Hour || d < -100*366*24*time.Hour {
			t.Fatalf("%q: offset %v beyond 100 years", s, d)
		}
		back, err := quality.ParseRelative(quality.FormatRelative(d))
		if err != nil || back != d {
			t.Fatalf("%q: %v formats as %q, which parses as %v, %v", s, d, quality.FormatRelative(d), back, err)
		}
	})
}

func TestParseErrorsNameFileAndCase(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"", "x.yaml: empty file"},
		{"family: f\ncases: []\n", "x.yaml: no cases"},
		{"cases: [{name: a}]\n", "x.yaml: family is missing"},
		{"family: f\nbogus: 1\n", "field bogus not found"},
		{"family: f\ncases:\n- {name: a, label: maybe, check: seller, request: {}}\n", `x.yaml: case "a": label "maybe"`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: sellers, request: {}}\n", `x.yaml: case "a": check "sellers"`},
		{"family: f\ncases:\n- {name: A b, label: fraud, check: seller, request: {}}\n", `x.yaml: case "A b": name must be`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: refund}\n", `x.yaml: case "a": request is missing`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: refund, request: {nope: 1}}\n", `x.yaml: case "a": request: unknown field "nope"`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: gift_card_purchase, request: {accountCreatedAt: now-3x}}\n", `x.yaml: case "a": request: accountCreatedAt: relative time "now-3x"`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: refund, request: {}, history: [{check: refund, request: {}, report: STOLEN}]}\n", `x.yaml: case "a": history[0].report "STOLEN"`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: refund, request: {}, history: [{record: [{occurredAt: now}]}]}\n", `x.yaml: case "a": history[0].record[0]: eventId is missing`},
		{"family: f\ncases:\n- {name: a, label: fraud, check: refund, request: {}}\n- {name: a, label: fraud, check: refund, request: {}}\n", `x.yaml: case "a": name used twice`},
	} {
		_, err := quality.Parse("x.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

// FuzzParse: a corpus file is read from disk, so no content may panic the
// loader, and every error names the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte("family: f\ncases:\n- {name: a, label: fraud, check: refund, request: {orderId: o, amountPaid: {amountMinor: 5, currency: CNY}}}\n"))
	f.Add([]byte("family: f\ncases:\n- name: b\n  label: genuine\n  check: gift_card_purchase\n  history: [{record: [{eventId: e, occurredAt: now-3d}]}]\n  request: {accountCreatedAt: now-200d}\n"))
	f.Add([]byte("family: f\ncases: [{name: c, label: fraud, check: seller, request: {a: [now, now-1h, {b: now+1s}]}}]\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cases, err := quality.Parse("fuzz.yaml", doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, c := range cases {
			if _, _, err := c.Build(time.Now()); err != nil {
				t.Fatalf("%s parsed but does not build: %v", c.Name, err)
			}
		}
	})
}
