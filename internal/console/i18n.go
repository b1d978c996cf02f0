package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"google.golang.org/protobuf/types/known/timestamppb"
)

//go:embed messages/*.json
var messageFS embed.FS

// catalogs are the UI's strings by locale: every string a page shows is
// in both (TestCatalogsHaveTheSameKeys).
var catalogs = loadCatalogs("en", "zh-CN")

func loadCatalogs(langs ...string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, l := range langs {
		b, err := messageFS.ReadFile("messages/" + l + ".json")
		if err != nil {
			panic(err) // embedded: a missing file is a build mistake
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("messages/%s.json: %v", l, err))
		}
		out[l] = m
	}
	return out
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})

// langOf is the user's locale: the switch's cookie, else the browser's
// Accept-Language, else English.
func langOf(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil {
		if _, ok := catalogs[ck.Value]; ok {
			return ck.Value
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if _, i, _ := matcher.Match(tags...); i == 1 {
		return "zh-CN"
	}
	return "en"
}

// tr is a UI string; a key missing from the catalog shows as itself, so
// the gap is visible rather than blank.
func tr(lang, key string) string {
	if s, ok := catalogs[lang][key]; ok {
		return s
	}
	return key
}

// enumKey is an enum value's catalog key: "CASE_RESOLUTION_CONFIRMED_FRAUD"
// is "enum_CASE_RESOLUTION_CONFIRMED_FRAUD".
// A value missing from the catalogs (a newer enum) shows by its name.
func enumKey(lang string, v fmt.Stringer) string {
	if s, ok := catalogs[lang]["enum_"+v.String()]; ok {
		return s
	}
	return v.String()
}

var funcs = template.FuncMap{
	"t":    tr,
	"enum": enumKey,
	"time": func(lang string, ts *timestamppb.Timestamp) string {
		if ts == nil {
			return "—"
		}
		loc := time.UTC
		if lang == "zh-CN" {
			loc = time.FixedZone("CST", 8*3600) // the desk's own clock
		}
		return ts.AsTime().In(loc).Format("2006-01-02 15:04:05 MST")
	},
	"rfc3339": func(ts *timestamppb.Timestamp) string { return ts.AsTime().UTC().Format(time.RFC3339) },
	"left": func(lang string, ts *timestamppb.Timestamp, now time.Time) string {
		d := ts.AsTime().Sub(now).Round(time.Second)
		if d < 0 {
			return tr(lang, "overdue")
		}
		return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
	},
	"top": func(rs []*riskv1.Reason, n int) []*riskv1.Reason {
		var out []*riskv1.Reason
		for _, r := range rs {
			if !r.GetShadow() && len(out) < n {
				out = append(out, r)
			}
		}
		return out
	},
	"amount": amount,
	"signal": signalValue,
	"claimed": func(c *riskv1.Case, now time.Time) bool {
		return c.GetHolder() != "" && c.GetClaimedUntil().AsTime().After(now)
	},
	"open": func(c *riskv1.Case) bool { return c.GetState() != riskv1.CaseState_CASE_STATE_RESOLVED },
}

// amount is a case's amount in its currency's major units ("CNY
// 2000.00", "JPY 5000"), with the decimals ISO 4217 gives it; "" for none.
func amount(m *riskv1.Money) string {
	if m == nil {
		return ""
	}
	scale := 2
	if u, err := currency.ParseISO(m.GetCurrency()); err == nil {
		scale, _ = currency.Standard.Rounding(u)
	}
	minor := m.GetAmountMinor()
	if scale == 0 {
		return m.GetCurrency() + " " + strconv.FormatInt(minor, 10)
	}
	div := int64(1)
	for range scale {
		div *= 10
	}
	return fmt.Sprintf("%s %d.%0*d", m.GetCurrency(), minor/div, scale, minor%div)
}

func signalValue(s *riskv1.Signal) string {
	switch v := s.GetValue().(type) {
	case *riskv1.Signal_BoolValue:
		return strconv.FormatBool(v.BoolValue)
	case *riskv1.Signal_IntValue:
		return strconv.FormatInt(v.IntValue, 10)
	case *riskv1.Signal_DoubleValue:
		return strconv.FormatFloat(v.DoubleValue, 'g', 6, 64)
	case *riskv1.Signal_StringValue:
		return v.StringValue
	case *riskv1.Signal_TimeValue:
		return v.TimeValue.AsTime().UTC().Format(time.RFC3339)
	}
	return ""
}
