package console

import (
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
