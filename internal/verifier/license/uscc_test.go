package license

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/pseudonym"
)

// Independent check computations for building and verifying test vectors:
// weights are generated as powers (3^i mod 31) rather than copied, and
// GB 11714 values come from strconv's base-36 digits.
const testAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

func mod31Check(body17 string) byte {
	sum, w := 0, 1
	for i := 0; i < 17; i++ {
		sum += strings.IndexByte(testAlphabet, body17[i]) * w
		w = w * 3 % 31
	}
	return testAlphabet[(31-sum%31)%31]
}

func orgCheck(body8 string) byte {
	weights := []int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		v, err := strconv.ParseInt(body8[i:i+1], 36, 0)
		if err != nil {
			panic(err)
		}
		sum += int(v) * weights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// makeUSCC completes an 8-character prefix (department, type, region) and an
// 8-character organisation-code body with both check characters.
func makeUSCC(prefix8, org8 string) string {
	s := prefix8 + org8 + string(orgCheck(org8))
	return s + string(mod31Check(s))
}

// withBadOrgCheck is makeUSCC with an organisation-code check character
// that GB 11714 does not give, and a correct MOD 31 check over it.
func withBadOrgCheck(prefix8, org8 string) string {
	good := orgCheck(org8)
	bad := byte('0')
	if good == '0' {
		bad = '1'
	}
	s := prefix8 + org8 + string(bad)
	return s + string(mod31Check(s))
}

// TestParseUSCCOrgCodeCheck: an embedded organisation code that fails its
// GB 11714 check does not make the code invalid; it is reported.
func TestParseUSCCOrgCodeCheck(t *testing.T) {
	tests := []struct {
		name, code string
		valid      bool
	}{
		{"GB 32100 example, organisation code checks", "91350100M000100Y43", true},
		{"published enterprise code, organisation code checks", "914403001922038216", true},
		{"individual business, organisation code fails", withBadOrgCheck("92330106", "L1234567"), false},
		{"individual business in Fuzhou, fails", withBadOrgCheck("92350102", "MA2Y3K4R"), false},
		{"enterprise, organisation code fails", withBadOrgCheck("91440300", "MA5ABCDE"), false},
		{"farmers' cooperative, fails", withBadOrgCheck("93510100", "MA6C1234"), false},
		{"organisation code check is a letter outside GB 11714", func() string {
			s := "92330106L1234567Y"
			return s + string(mod31Check(s))
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUSCC(tt.code)
			if err != nil {
				t.Fatalf("ParseUSCC(%s): %v: a bad organisation-code check must not make the code invalid", tt.code, err)
			}
			if u.OrgCodeValid != tt.valid {
				t.Errorf("OrgCodeValid = %v, want %v", u.OrgCodeValid, tt.valid)
			}
		})
	}
	// What still makes such a code invalid: its own MOD 31 check character.
	bad := withBadOrgCheck("92330106", "L1234567")
	for _, c := range testAlphabet {
		if byte(c) == bad[17] {
			continue
		}
		if _, err := ParseUSCC(bad[:17] + string(c)); !errors.Is(err, ErrChecksum) {
			t.Fatalf("MOD 31 check %c instead of %c: err = %v, want ErrChecksum", c, bad[17], err)
		}
	}
}

func TestCheckHelpersByHand(t *testing.T) {
	// 91350100M000100Y43, the GB 32100-2015 example, by hand:
	//   MOD 31: 9*1+1*3+3*9+5*27+0*19+1*26+0*16+0*17+M(21)*20+0*29+0*25+0*13
	//           +1*8+0*24+0*10+Y(30)*30+4*28 = 1640; 1640 mod 31 = 28; 31-28 = 3.
	//   GB 11714 over M000100Y: 22*3+0+0+0+1*5+0+0+34*2 = 139;
	//           139 mod 11 = 7; 11-7 = 4.
	if got := mod31Check("91350100M000100Y4"); got != '3' {
		t.Errorf("mod31Check = %c, want 3", got)
	}
	if got := orgCheck("M000100Y"); got != '4' {
		t.Errorf("orgCheck = %c, want 4", got)
	}
}

func TestParseUSCCPublished(t *testing.T) {
	// Real codes from published business licences and invoices. Each was
	// kept only after both check characters verified with this package and
	// with the independent helpers above.
	tests := []struct {
		code, note   string
		dept, kind   byte
		label        string
		region, name string
	}{
		{"91350100M000100Y43", "GB 32100-2015 example", '9', '1', "enterprise", "350100", "福州市"},
		{"914403001922038216", "Huawei Technologies Co., Ltd.", '9', '1', "enterprise", "440300", "深圳市"},
		{"91440300708461136T", "Shenzhen Tencent Computer Systems Co., Ltd.", '9', '1', "enterprise", "440300", "深圳市"},
		{"91110108551385082Q", "Beijing Xiaomi Technology Co., Ltd.", '9', '1', "enterprise", "110108", "海淀区"},
		{"911100006000650192", "Beijing Yoshinoya fast food (invoice)", '9', '1', "enterprise", "110000", "北京市"},
		{"911100007109288314", "Beijing-registered enterprise (owner not confirmed)", '9', '1', "enterprise", "110000", "北京市"},
		{"12100000400000624D", "Tsinghua University: national-level public institution", '1', '2', "public institution", "100000", ""},
		{"31310000425013819A", "Shanghai law firm (invoice)", '3', '1', "law firm", "310000", "上海市"},
	}
	for _, tt := range tests {
		t.Run(tt.note, func(t *testing.T) {
			if mod31Check(tt.code[:17]) != tt.code[17] || orgCheck(tt.code[8:16]) != tt.code[16] {
				t.Fatalf("independent helpers reject %s", tt.code)
			}
			got, err := ParseUSCC(tt.code)
			if err != nil {
				t.Fatalf("ParseUSCC: %v", err)
			}
			if got.Code != tt.code || got.Department != tt.dept || got.OrgType != tt.kind ||
				got.OrgTypeLabel != tt.label || got.Region != tt.region || got.RegionName != tt.name ||
				got.OrgCode != tt.code[8:17] || got.DepartmentLabel == "" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// TestParseUSCCNormalisation is the normalisation rule (the same as for
// resident identity numbers, pseudonym.DocumentNumber): case, surrounding
// and inner white space, dashes, full-width forms.
func TestParseUSCCNormalisation(t *testing.T) {
	for _, in := range []string{
		"91350100m000100y43",
		"  91350100M000100Y43\t\n",
		"\u300091350100M000100Y43\u3000",
		"９１３５０１００Ｍ０００１００Ｙ４３",
		"９１３５０１００ｍ０００１００ｙ４３",
		"91350100 M000100Y 43",
		"9135-0100-M000-100Y-43",
		"9135０１００－Ｍ000100Y43",
		"\u200b91350100M000100Y43\ufeff",
	} {
		got, err := ParseUSCC(in)
		if err != nil {
			t.Errorf("ParseUSCC(%q): %v", in, err)
			continue
		}
		if got.Code != "91350100M000100Y43" {
			t.Errorf("ParseUSCC(%q).Code = %q", in, got.Code)
		}
	}
}

func TestParseUSCCEveryOrgType(t *testing.T) {
	for k, label := range orgTypeLabels {
		code := makeUSCC(string([]byte{k.dept, k.kind})+"110105", "MA01AB2C")
		got, err := ParseUSCC(code)
		if err != nil {
			t.Errorf("%c%c: %v", k.dept, k.kind, err)
			continue
		}
		if got.OrgTypeLabel != label || got.DepartmentLabel != departmentLabels[k.dept] {
			t.Errorf("%c%c: labels %q / %q", k.dept, k.kind, got.OrgTypeLabel, got.DepartmentLabel)
		}
	}
	// Spot-check the labels the risk rules depend on.
	for code, want := range map[string]string{"91": "enterprise", "92": "individual business", "93": "farmers' cooperative",
		"51": "social organisation", "52": "private non-enterprise unit", "53": "foundation", "Y1": "other"} {
		if got := orgTypeLabels[orgTypeKey{code[0], code[1]}]; got != want {
			t.Errorf("label for %s = %q, want %q", code, got, want)
		}
	}
	if len(orgTypeLabels) != 36 {
		t.Errorf("table has %d pairs, want 36 (GB 32100 Table 1)", len(orgTypeLabels))
	}
}

func TestParseUSCCRegion(t *testing.T) {
	ok := map[string]string{
		"100000": "",         // national level
		"110105": "朝阳区",      // current county
		"440524": "潮阳县",      // abolished county: old authorities' codes remain
		"130171": "",         // development-zone code, not in GB/T 2260, province known
		"650000": "新疆维吾尔自治区", // province level
	}
	for region, name := range ok {
		got, err := ParseUSCC(makeUSCC("91"+region, "MA01AB2C"))
		if err != nil {
			t.Errorf("region %s: %v", region, err)
			continue
		}
		if got.Region != region || got.RegionName != name {
			t.Errorf("region %s: got %q %q, want name %q", region, got.Region, got.RegionName, name)
		}
	}
}

func TestParseUSCCErrors(t *testing.T) {
	valid := "91350100M000100Y43"
	tests := []struct {
		name  string
		in    string
		want  error
		field string
	}{
		{"empty", "", ErrLength, "code"},
		{"17 characters", valid[:17], ErrLength, "code"},
		{"19 characters", valid + "0", ErrLength, "code"},
		{"old 15-digit registration number", "350100000012345", ErrLength, "code"},
		{"space in place of a character", "91350100 M000100Y4", ErrLength, "code"},
		{"hyphen in place of a character", "91350100-000100Y43", ErrLength, "code"},
		{"dot separators", "9135.0100.M000100Y43", ErrLength, "code"},
		{"slash in place of a character", "91350100/000100Y43", ErrCharset, "code"},
		{"letter I", "91350100I000100Y43", ErrCharset, "code"},
		{"letter O", "91350100O000100Y43", ErrCharset, "code"},
		{"letter S", "91350100S000100Y43", ErrCharset, "code"},
		{"letter V", "91350100V000100Y43", ErrCharset, "code"},
		{"letter Z", "91350100Z000100Y43", ErrCharset, "code"},
		{"lower-case z", "91350100z000100Y43", ErrCharset, "code"},
		{"full-width symbol", "91350100＃000100Y43", ErrCharset, "code"},
		{"invalid UTF-8", "91350100M000100Y4\xff", ErrCharset, "code"},
		{"wrong check character", "91350100M000100Y44", ErrChecksum, "check character"},
		{"transposed characters", "91351000M000100Y43", ErrChecksum, "check character"},
		{"unknown department 0", makeUSCC("01350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"unknown department B", makeUSCC("B1350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"enterprise type 4", makeUSCC("94350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"enterprise type 9", makeUSCC("99350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"civil affairs type 4", makeUSCC("54350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"other department type 2", makeUSCC("Y2350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"letter as type", makeUSCC("9A350100", "M000100Y"), ErrOrgType, "organisation type"},
		{"unknown province 99", makeUSCC("91990100", "M000100Y"), ErrRegion, "region"},
		{"province 00", makeUSCC("91000000", "M000100Y"), ErrRegion, "region"},
		{"prefix 10 other than 100000", makeUSCC("91100100", "M000100Y"), ErrRegion, "region"},
		{"letter in region", makeUSCC("9135A100", "M000100Y"), ErrRegion, "region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUSCC(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ce *CodeError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %#v, want *CodeError with field %q", err, tt.field)
			}
			msg := err.Error()
			in := []rune(strings.TrimSpace(tt.in))
			for i := 0; i+6 <= len(in); i++ {
				if w := string(in[i : i+6]); strings.Contains(strings.ToUpper(msg), strings.ToUpper(w)) {
					t.Fatalf("error %q contains input fragment %q", msg, w)
				}
			}
		})
	}
}

var (
	allowedSentinels = []error{ErrLength, ErrCharset, ErrChecksum, ErrOrgType, ErrRegion}
	allowedFields    = map[string]bool{"code": true, "check character": true, "organisation type": true, "region": true}
)

func FuzzParseUSCC(f *testing.F) {
	for _, s := range []string{
		"91350100M000100Y43", "914403001922038216", "12100000400000624D", "31310000425013819A",
		"91350100m000100y43", "９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y44", "91350100I000100Y43",
		"", "0", "91350100M000100Y4\xff", makeUSCC("Y1100000", "00000000"), makeUSCC("N3650000", "XXXXXXXX"),
		"9135-0100-M000-100Y-43", withBadOrgCheck("92330106", "L1234567"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUSCC(s)
		if err != nil {
			var ce *CodeError
			if !errors.As(err, &ce) || !allowedFields[ce.Field] {
				t.Fatalf("error %v (%T) is not a *CodeError with a known field", err, err)
			}
			n := 0
			for _, e := range allowedSentinels {
				if errors.Is(err, e) {
					n++
				}
			}
			if n != 1 || err.Error() != "license: uscc: "+ce.Field+": "+ce.Err.Error() {
				t.Fatalf("error %v is not built from one sentinel and constants", err)
			}
			return
		}
		if len(u.Code) != 18 || mod31Check(u.Code[:17]) != u.Code[17] {
			t.Fatalf("accepted %q with a bad check character", u.Code)
		}
		if u.OrgCodeValid != (orgCheck(u.Code[8:16]) == u.Code[16]) {
			t.Fatalf("OrgCodeValid = %v for %q", u.OrgCodeValid, u.Code)
		}
		for i := 0; i < 18; i++ {
			if strings.IndexByte(testAlphabet, u.Code[i]) < 0 {
				t.Fatalf("accepted %q with character outside the alphabet", u.Code)
			}
		}
		if u.Department != u.Code[0] || u.OrgType != u.Code[1] || u.Region != u.Code[2:8] ||
			u.OrgCode != u.Code[8:17] || u.OrgTypeLabel == "" || u.DepartmentLabel == "" {
			t.Fatalf("fields do not match code: %+v", u)
		}
		// The code is the input's canonical form, the one its hash is of.
		if n := pseudonym.DocumentNumber(s); n != u.Code {
			t.Fatalf("input %+q: code %q, canonical form %q", s, u.Code, n)
		}
		// ASCII input without separators is just upper-cased.
		if in := strings.TrimSpace(s); len(in) == 18 && strings.ToUpper(in) != u.Code {
			t.Fatalf("ASCII input %q normalised to %q", s, u.Code)
		}
		again, err := ParseUSCC(u.Code)
		if err != nil || again != u {
			t.Fatalf("re-parsing %q gave %+v, %v", u.Code, again, err)
		}
	})
}

func BenchmarkParseUSCC(b *testing.B) {
	_, _ = ParseUSCC("91350100M000100Y43") // load the region table outside the timer
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseUSCC("91350100M000100Y43"); err != nil {
			b.Fatal(err)
		}
	}
}

// Guards: the exported check characters are the ones ParseUSCC checks,
// on a published example (91350100M000100Y43: MOD 31 gives 3, its
// organisation code M000100Y4 gives 4), and refuse bodies of the wrong
// length or alphabet rather than inventing a character.
func TestCheckCharacters(t *testing.T) {
	if c, ok := CheckCharacter("91350100M000100Y4"); !ok || c != '3' {
		t.Errorf("CheckCharacter(91350100M000100Y4) = %q, %v; want '3'", c, ok)
	}
	if c, ok := OrgCheckCharacter("M000100Y"); !ok || c != '4' {
		t.Errorf("OrgCheckCharacter(M000100Y) = %q, %v; want '4'", c, ok)
	}
	for _, body := range []string{"", "91350100M000100Y", "91350100M000100Y43", "91350100I000100Y4", "91350100m000100Y4"} {
		if c, ok := CheckCharacter(body); ok {
			t.Errorf("CheckCharacter(%q) = %q, want refused", body, c)
		}
	}
	for _, body := range []string{"", "M000100", "M000100Y4", "m000100Y", "M000-00Y"} {
		if c, ok := OrgCheckCharacter(body); ok {
			t.Errorf("OrgCheckCharacter(%q) = %q, want refused", body, c)
		}
	}
}
