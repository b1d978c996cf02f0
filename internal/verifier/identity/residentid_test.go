package identity

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
)

// withCheck appends the GB 11643 check character to a 17-digit body. It is an
// independent formulation of ISO 7064 MOD 11-2 (weights computed as
// 2^(n-1) mod 11 from the right, check = (12 - sum mod 11) mod 11), so tests
// built with it do not just repeat the production table.
func withCheck(body string) string {
	if len(body) != 17 {
		panic("withCheck: body must be 17 digits")
	}
	sum, w := 0, 1
	for i := 16; i >= 0; i-- {
		w = w * 2 % 11
		sum += int(body[i]-'0') * w
	}
	c := (12 - sum%11) % 11
	if c == 10 {
		return body + "X"
	}
	return body + strconv.Itoa(c)
}

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// refNow is a fixed clock for tests: results must not depend on the real date.
var refNow = time.Date(2025, time.June, 15, 12, 0, 0, 0, time.UTC)

func TestWithCheckMatchesPublishedExamples(t *testing.T) {
	// Hand computation for the GB 11643-1999 example 11010519491231002X:
	// sum = 167, 167 mod 11 = 2 -> 'X'. For 440524188001010014: sum = 195,
	// 195 mod 11 = 8 -> '4'.
	for _, want := range []string{"11010519491231002X", "440524188001010014"} {
		if got := withCheck(want[:17]); got != want {
			t.Errorf("withCheck(%s) = %s, want %s", want[:17], got, want)
		}
	}
}

func TestCheckCharacter(t *testing.T) {
	for _, body := range []string{"11010519491231002", "44052418800101001", "83000019900101003", "00000000000000000", "99999999999999999"} {
		c, ok := CheckCharacter(body)
		if want := withCheck(body); !ok || body+string(c) != want {
			t.Errorf("CheckCharacter(%s) = %c, %v; want %s", body, c, ok, want[17:])
		}
	}
	for _, body := range []string{"", "1101051949123100", "110105194912310021", "1101051949123100X", "１１０１０５１９４９１２３１００２"} {
		if _, ok := CheckCharacter(body); ok {
			t.Errorf("CheckCharacter(%q) ok, want not", body)
		}
	}
}

func TestParseResidentIDValid(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		number  string
		region  string
		rname   string
		current bool
		birth   time.Time
		sex     Sex
		permit  string
	}{
		{
			name: "GB 11643-1999 standard example", in: "11010519491231002X",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "lower-case x", in: "11010519491231002x",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "full-width digits and X", in: "１１０１０５１９４９１２３１００２Ｘ",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "full-width lower-case x", in: "１１０１０５１９４９１２３１００２ｘ",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "surrounding ASCII and ideographic spaces", in: " \t11010519491231002X\u3000\n",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "grouped with spaces", in: "110105 19491231 002X",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "grouped with hyphens", in: "110105-19491231-002x",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name:   "full-width, grouped with full-width hyphens and ideographic spaces",
			in:     "１１０１０５－１９４９１２３１\u3000００２ｘ",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "zero-width space and no-break space pasted in", in: "\u200b110105\u00a019491231002X\ufeff",
			number: "11010519491231002X", region: "110105", rname: "朝阳区", current: true,
			birth: date(1949, 12, 31), sex: SexFemale,
		},
		{
			name: "male, odd digit 17", in: withCheck("44030319800101001"),
			number: withCheck("44030319800101001"), region: "440303", rname: "罗湖区", current: true,
			birth: date(1980, 1, 1), sex: SexMale,
		},
		{
			name: "abolished code 110103 (崇文区, merged 2010) still valid", in: withCheck("11010319800101002"),
			number: withCheck("11010319800101002"), region: "110103", rname: "崇文区", current: false,
			birth: date(1980, 1, 1), sex: SexFemale,
		},
		{
			name: "Taiwan residents' residence permit 830000", in: withCheck("83000019900101003"),
			number: withCheck("83000019900101003"), region: "830000", rname: "台湾居民居住证", current: true,
			birth: date(1990, 1, 1), sex: SexMale, permit: "TW",
		},
		{
			name: "Hong Kong residence permit 810000", in: withCheck("81000019900101004"),
			number: withCheck("81000019900101004"), region: "810000", rname: "香港特别行政区", current: true,
			birth: date(1990, 1, 1), sex: SexFemale, permit: "HK",
		},
		{
			name: "Macao residence permit 820000", in: withCheck("82000019900101005"),
			number: withCheck("82000019900101005"), region: "820000", rname: "澳门特别行政区", current: true,
			birth: date(1990, 1, 1), sex: SexMale, permit: "MO",
		},
		{
			name: "29 February in a leap year", in: withCheck("11010520000229001"),
			number: withCheck("11010520000229001"), region: "110105", rname: "朝阳区", current: true,
			birth: date(2000, 2, 29), sex: SexMale,
		},
		{
			name: "earliest accepted birth date", in: withCheck("11010519000101001"),
			number: withCheck("11010519000101001"), region: "110105", rname: "朝阳区", current: true,
			birth: date(1900, 1, 1), sex: SexMale,
		},
		{
			name: "born today", in: withCheck("11010520250615002"),
			number: withCheck("11010520250615002"), region: "110105", rname: "朝阳区", current: true,
			birth: date(2025, 6, 15), sex: SexFemale,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResidentID(tt.in, refNow)
			if err != nil {
				t.Fatalf("ParseResidentID: unexpected error %v", err)
			}
			if got.Number != tt.number || got.Region != tt.region || got.RegionName != tt.rname ||
				got.RegionCurrent != tt.current || !got.BirthDate.Equal(tt.birth) || got.Sex != tt.sex ||
				got.Sequence != tt.number[14:17] || got.Permit != tt.permit {
				t.Errorf("got %+v (number %s), want number %s region %s %s current %v birth %s sex %v",
					got, got.Number, tt.number, tt.region, tt.rname, tt.current, tt.birth.Format(time.DateOnly), tt.sex)
			}
		})
	}
}

func TestParseResidentIDErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  error
		field string
	}{
		{"empty", "", ErrLength, "number"},
		{"17 digits", "11010519491231002", ErrLength, "number"},
		{"19 characters", "11010519491231002X0", ErrLength, "number"},
		{"old 15-digit format", "110105491231002", ErrLength, "number"},
		{"space in place of a digit", "110105 9491231002X", ErrLength, "number"},
		{"hyphen in place of a digit", "110105-9491231002X", ErrLength, "number"},
		{"dot separators", "110105.19491231.002X", ErrLength, "number"},
		{"slash in place of a digit", "110105/9491231002X", ErrCharset, "number"},
		{"underscore in place of a digit", "110105_9491231002X", ErrCharset, "number"},
		{"ideographic zero", "11010519491231〇02X", ErrCharset, "number"},
		{"letter in body", "1101051949123100AX", ErrCharset, "number"},
		{"X not last", "1101051949123100X2", ErrCharset, "number"},
		{"other letter as check", "11010519491231002Y", ErrCharset, "number"},
		{"full-width symbol", "11010519491231002＃", ErrCharset, "number"},
		{"invalid UTF-8", "11010519491231002\xff", ErrCharset, "number"},
		{"wrong check character", "110105194912310021", ErrChecksum, "check character"},
		{"transposed digits", "11010519491321002X", ErrChecksum, "check character"},
		{"unknown region 990105", withCheck("99010519491231002"), ErrRegion, "region"},
		{"region 000000", withCheck("00000019491231002"), ErrRegion, "region"},
		{"unknown county 110199", withCheck("11019919491231002"), ErrRegion, "region"},
		{"province code 110000", withCheck("11000019491231002"), ErrRegion, "region"},
		{"prefecture code 440300 (深圳市)", withCheck("44030019800101002"), ErrRegion, "region"},
		// 440524188001010014 is widely cited as a valid example; its check
		// character and region (潮阳县, 1983-1993) are correct, which is why
		// it reaches the birth-date check, but 1880 is before our floor.
		{"cited example born 1880", "440524188001010014", ErrBirthDate, "birth date"},
		{"30 February", withCheck("11010520000230001"), ErrBirthDate, "birth date"},
		{"29 February 1900 (not a leap year)", withCheck("11010519000229001"), ErrBirthDate, "birth date"},
		{"29 February 2001", withCheck("11010520010229001"), ErrBirthDate, "birth date"},
		{"month 13", withCheck("11010519801301001"), ErrBirthDate, "birth date"},
		{"month 00", withCheck("11010519800001001"), ErrBirthDate, "birth date"},
		{"day 00", withCheck("11010519800100001"), ErrBirthDate, "birth date"},
		{"31 April", withCheck("11010519800431001"), ErrBirthDate, "birth date"},
		{"31 December 1899", withCheck("11010518991231001"), ErrBirthDate, "birth date"},
		{"tomorrow", withCheck("11010520250616001"), ErrBirthDate, "birth date"},
		{"far future", withCheck("11010530000101001"), ErrBirthDate, "birth date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResidentID(tt.in, refNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not *DocumentError", err)
			}
			if de.Document != DocResidentID || de.Field != tt.field {
				t.Errorf("DocumentError{%q, %q}, want {%q, %q}", de.Document, de.Field, DocResidentID, tt.field)
			}
			assertNoLeak(t, err, tt.in)
		})
	}
}

// assertNoLeak fails if the error text contains any six consecutive
// characters of the (trimmed, ASCII-folded) input: error strings reach logs
// and must not carry personal data.
func assertNoLeak(t *testing.T, err error, input string) {
	t.Helper()
	msg := err.Error()
	in := []rune(strings.TrimSpace(input))
	for i := 0; i+6 <= len(in); i++ {
		w := string(in[i : i+6])
		if strings.Contains(msg, w) {
			t.Fatalf("error text %q contains input fragment %q", msg, w)
		}
		if folded := pseudonym.DocumentNumber(w); len(folded) >= 4 && strings.Contains(strings.ToUpper(msg), folded) {
			t.Fatalf("error text %q contains folded input fragment %q", msg, folded)
		}
	}
}

func TestFutureDependsOnCallersCalendarDay(t *testing.T) {
	id := withCheck("11010520250616001") // born 2025-06-16
	// 2025-06-15 16:30 UTC is already 2025-06-16 00:30 at UTC+8.
	now := time.Date(2025, 6, 15, 16, 30, 0, 0, time.UTC)
	if _, err := ParseResidentID(id, now); !errors.Is(err, ErrBirthDate) {
		t.Errorf("UTC clock: err = %v, want ErrBirthDate", err)
	}
	if _, err := ParseResidentID(id, now.In(time.FixedZone("CST", 8*3600))); err != nil {
		t.Errorf("UTC+8 clock: unexpected error %v", err)
	}
}

func TestAgeAndUnderage(t *testing.T) {
	id, err := ParseResidentID(withCheck("11010520070615002"), refNow) // born 2007-06-15
	if err != nil {
		t.Fatal(err)
	}
	leap, err := ParseResidentID(withCheck("11010520040229002"), refNow) // born 2004-02-29
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		id       ResidentID
		now      time.Time
		age      int
		underage bool
	}{
		{"day before 18th birthday", id, date(2025, 6, 14), 17, true},
		{"last second before 18th birthday", id, time.Date(2025, 6, 14, 23, 59, 59, 0, time.UTC), 17, true},
		{"on 18th birthday", id, date(2025, 6, 15), 18, false},
		{"day after 18th birthday", id, date(2025, 6, 16), 18, false},
		{"month before", id, date(2025, 5, 15), 17, true},
		{"birthday by caller's zone", id, time.Date(2025, 6, 14, 16, 0, 0, 0, time.UTC).In(time.FixedZone("CST", 8*3600)), 18, false},
		{"before birth", id, date(2000, 1, 1), 0, true},
		{"on birth day", id, date(2007, 6, 15), 0, true},
		{"29 Feb: 28 Feb of common year", leap, date(2022, 2, 28), 17, true},
		{"29 Feb: 1 Mar of common year", leap, date(2022, 3, 1), 18, false},
		{"29 Feb: 28 Feb of leap year", leap, date(2024, 2, 28), 19, false},
		{"29 Feb: 29 Feb of leap year", leap, date(2024, 2, 29), 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.Age(tt.now); got != tt.age {
				t.Errorf("Age = %d, want %d", got, tt.age)
			}
			if got := tt.id.Underage(tt.now); got != tt.underage {
				t.Errorf("Underage = %v, want %v", got, tt.underage)
			}
		})
	}
}

func TestResidentIDDoesNotPrintNumber(t *testing.T) {
	id, err := ParseResidentID("11010519491231002X", refNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id.Masked(), "110105********002X"; got != want {
		t.Errorf("Masked = %q, want %q", got, want)
	}
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%v", id), fmt.Sprintf("%+v", id), fmt.Sprintf("%s", id)} {
		if strings.Contains(s, "19491231") {
			t.Errorf("fmt output %q contains the birth date", s)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("check", "id", id)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("check", "id", id)
	if strings.Contains(buf.String(), "19491231") {
		t.Errorf("slog output contains the birth date: %s", buf.String())
	}
	if (ResidentID{}).Masked() != "" {
		t.Error("zero ResidentID should mask to empty")
	}
}

func TestSexString(t *testing.T) {
	for s, want := range map[Sex]string{SexMale: "male", SexFemale: "female", SexUnspecified: "unspecified", Sex(9): "unspecified"} {
		if got := s.String(); got != want {
			t.Errorf("Sex(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestRegionTable(t *testing.T) {
	lines := strings.Count(strings.TrimRight(gbt2260CSV, "\n"), "\n") // minus header
	if got := len(regionTable()); got != lines || got < 6000 {
		t.Fatalf("the table holds %d codes, want %d data lines (and at least 6000)", got, lines)
	}
	current := 0
	for _, r := range regionTable() {
		if r.Current() {
			current++
		}
		if r.Since < 1980 || (r.Until != 0 && r.Until < r.Since) {
			t.Errorf("%s: implausible years %d-%d", r.Code, r.Since, r.Until)
		}
	}
	// About 2,850 county-level plus 333 prefecture-level and 34 province-level
	// divisions are in use today, and about 290 cities with districts have
	// an xxxx01 summary code.
	if current < 3300 {
		t.Errorf("only %d current codes; the table looks truncated", current)
	}
	sources := map[string]int{}
	for _, r := range regionTable() {
		sources[r.Source]++
	}
	if sources["areacodes"] < 6400 || sources["mca"] < 300 || sources["derived"] < 250 || sources["mca+derived"] < 1 {
		t.Errorf("codes per source %v: a source looks missing", sources)
	}

	provinces := []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
		"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
	for _, p := range provinces {
		if !KnownProvince(p) {
			t.Errorf("KnownProvince(%q) = false", p)
		}
	}
	for _, p := range []string{"10", "16", "20", "66", "70", "83", "99", "00", "1", "110", "ab"} {
		if KnownProvince(p) {
			t.Errorf("KnownProvince(%q) = true", p)
		}
	}

	lookups := []struct {
		code, name  string
		ok, current bool
		until       int
	}{
		{"110000", "北京市", true, true, 0},
		{"440301", "市辖区", true, true, 0},     // derived 市辖区 of 深圳市
		{"510201", "市辖区", true, false, 1997}, // 重庆市's, until it left Sichuan
		{"139002", "霸州市", true, false, 1995}, // Ministry list 1990-1994 only
		{"110201", "昌平县", true, false, 1982}, // Ministry list 1980-1981 only
		{"110105", "朝阳区", true, true, 0},
		{"350100", "福州市", true, true, 0},
		{"440524", "潮阳县", true, false, 1993},
		{"110103", "崇文区", true, false, 2010},
		{"650000", "新疆维吾尔自治区", true, true, 0},
		{"830000", "", false, false, 0}, // permit code, not GB/T 2260
		{"11010", "", false, false, 0},
		{"1101050", "", false, false, 0},
		{"11010a", "", false, false, 0},
		{"", "", false, false, 0},
	}
	for _, l := range lookups {
		r, ok := LookupRegion(l.code)
		if ok != l.ok || r.Name != l.name || (ok && (r.Current() != l.current || r.Until != l.until || r.Code != l.code)) {
			t.Errorf("LookupRegion(%q) = %+v, %v; want name %q ok %v current %v until %d", l.code, r, ok, l.name, l.ok, l.current, l.until)
		}
		if func() bool { _, ok := LookupRegion(l.code); return ok }() != l.ok {
			t.Errorf("LookupRegion(%q) found %v, want the opposite", l.code, l.ok)
		}
	}
}

func TestParseRegionTableRejectsMalformed(t *testing.T) {
	bad := map[string]string{
		"no header":       "110000,北京市,1981,,areacodes\n",
		"old header":      "code,name,since,until\n110000,北京市,1981,\n",
		"wrong header":    "code,name\n110000,北京市\n",
		"short code":      "code,name,since,until,source\n11000,北京市,1981,,areacodes\n",
		"letters in code": "code,name,since,until,source\n11000a,北京市,1981,,areacodes\n",
		"empty name":      "code,name,since,until,source\n110000,,1981,,areacodes\n",
		"bad since":       "code,name,since,until,source\n110000,北京市,x,,areacodes\n",
		"bad until":       "code,name,since,until,source\n110000,北京市,1981,y,areacodes\n",
		"unknown source":  "code,name,since,until,source\n110000,北京市,1981,,guess\n",
		"missing source":  "code,name,since,until,source\n110000,北京市,1981,\n",
		"extra field":     "code,name,since,until,source\n110000,北京市,1981,,areacodes,1\n",
		"unsorted":        "code,name,since,until,source\n110101,东城区,1981,,areacodes\n110000,北京市,1981,,areacodes\n",
		"duplicate":       "code,name,since,until,source\n110000,北京市,1981,,areacodes\n110000,北京市,1981,,areacodes\n",
	}
	for name, data := range bad {
		if _, err := parseRegionTable(data); err == nil {
			t.Errorf("%s: parseRegionTable accepted malformed data", name)
		}
	}
	if _, err := parseRegionTable(gbt2260CSV); err != nil {
		t.Fatalf("embedded table: %v", err)
	}
}

func BenchmarkParseResidentID(b *testing.B) {
	_, _ = ParseResidentID("11010519491231002X", refNow) // load the table outside the timer
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResidentID("11010519491231002X", refNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResidentIDFullWidth(b *testing.B) {
	_, _ = ParseResidentID("11010519491231002X", refNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResidentID("１１０１０５１９４９１２３１００２Ｘ", refNow); err != nil {
			b.Fatal(err)
		}
	}
}
