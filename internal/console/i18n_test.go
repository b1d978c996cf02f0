package console

import (
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"maps"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestCatalogsHaveTheSameKeys: a string in one language and not the other
// would show as its key.
func TestCatalogsHaveTheSameKeys(t *testing.T) {
	en, zh := catalogs["en"], catalogs["zh-CN"]
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%q is in en and not in zh-CN", k)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%q is in zh-CN and not in en", k)
		}
	}
	if len(slices.Collect(maps.Keys(en))) < 50 {
		t.Errorf("en has %d strings: a catalog did not load", len(en))
	}
}

func TestLocaleFromCookieThenAcceptLanguage(t *testing.T) {
	for _, c := range []struct{ accept, cookie, want string }{
		{"", "", "en"},
		{"zh-CN,zh;q=0.9,en;q=0.8", "", "zh-CN"},
		{"zh", "", "zh-CN"},
		{"fr-FR", "", "en"},
		{"zh-CN", "en", "en"},
		{"en-US", "zh-CN", "zh-CN"},
		{"", "xx", "en"},
	} {
		r := httptest.NewRequest("GET", "/console/queue", nil)
		r.Header.Set("Accept-Language", c.accept)
		if c.cookie != "" {
			r.Header.Set("Cookie", langCookie+"="+c.cookie)
		}
		if got := langOf(r); got != c.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", c.accept, c.cookie, got, c.want)
		}
	}
}

// A case's amount is shown in major units with its currency's decimals.
func TestAmount(t *testing.T) {
	for _, c := range []struct {
		m    *riskv1.Money
		want string
	}{
		{nil, ""},
		{&riskv1.Money{AmountMinor: 20000, Currency: "CNY"}, "CNY 200.00"},
		{&riskv1.Money{AmountMinor: 10000005, Currency: "CNY"}, "CNY 100000.05"},
		{&riskv1.Money{AmountMinor: 0, Currency: "USD"}, "USD 0.00"},
		{&riskv1.Money{AmountMinor: 5000, Currency: "JPY"}, "JPY 5000"},
		{&riskv1.Money{AmountMinor: 1234, Currency: "KWD"}, "KWD 1.234"},
	} {
		if got := amount(c.m); got != c.want {
			t.Errorf("amount(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}
