package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Every error must be a *DocumentError whose text is assembled only from
// these constant parts, which proves no input can reach a log through it.
var (
	allowedSentinels = []error{ErrLength, ErrCharset, ErrChecksum, ErrRegion, ErrBirthDate, ErrExpiryDate, ErrSex, ErrFormat}
	allowedFields    = map[string]bool{
		"number": true, "check character": true, "region": true, "birth date": true,
		"text": true, "line 1": true, "line 2": true, "document code": true, "issuing state": true,
		"name": true, "document number": true, "expiry date": true, "personal number": true,
		"composite": true, "nationality": true, "sex": true,
	}
	allowedDetails = map[string]bool{
		"": true, "want 18 characters": true, "not a calendar date": true, "before 1900": true,
		"in the future": true, "want two lines": true, "want 44 characters": true,
		"not a passport (TD3) MRZ": true, "empty": true,
		detailProvince: true, detailPrefecture: true,
	}
)

func checkTypedError(t *testing.T, err error, doc string) {
	t.Helper()
	var de *DocumentError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DocumentError", err, err)
	}
	if de.Document != doc {
		t.Fatalf("Document = %q, want %q", de.Document, doc)
	}
	matched := 0
	for _, s := range allowedSentinels {
		if errors.Is(err, s) {
			matched++
		}
	}
	if matched != 1 {
		t.Fatalf("error %v matches %d sentinels, want exactly 1", err, matched)
	}
	if !allowedFields[de.Field] || !allowedDetails[de.Detail] {
		t.Fatalf("error %v has a field or detail outside the constant set", err)
	}
}

// foldForTest is an independent statement of the normalisation rule
// (pseudonym.DocumentNumber): NFKC, then white space, dashes and format
// characters removed and ASCII letters upper-cased, until nothing changes.
func foldForTest(s string) string {
	s = norm.NFKC.String(strings.ToValidUTF8(s, "\uFFFD"))
	for {
		t := strings.Map(func(r rune) rune {
			if unicode.In(r, unicode.White_Space, unicode.Pd, unicode.Cf) {
				return -1
			}
			return unicode.ToUpper(r)
		}, s)
		if n := norm.NFKC.String(t); n != t {
			s = n
			continue
		}
		return t
	}
}

// clampNow turns a fuzzed number into a clock between 1900 and 2200.
func clampNow(sec int64) time.Time {
	const lo, span = -2208988800, 9467107200 // 1900-01-01 .. 2200-01-01
	if sec < 0 {
		sec = -(sec + 1)
	}
	return time.Unix(lo+sec%span, 0).UTC()
}

func FuzzParseResidentID(f *testing.F) {
	seeds := []string{
		"11010519491231002X", "11010519491231002x", "440524188001010014", "110105194912310021",
		"１１０１０５１９４９１２３１００２Ｘ", " 11010519491231002X\u3000", "", "X", "110105491231002",
		withCheck("11010520000229001"), withCheck("11010520000230001"), withCheck("83000019900101003"),
		withCheck("99010519491231002"), "11010519491231002\xff", "1101051949123100２X",
		"110105 19491231 002X", "110105－19491231－002ｘ", withCheck("44030119800101001"),
		withCheck("44190019800101001"), withCheck("44000019800101001"), withCheck("44030019800101001"),
		withCheck("81000019900101004"), withCheck("82000019900101005"),
	}
	for _, s := range seeds {
		f.Add(s, refNow.Unix())
	}
	f.Fuzz(func(t *testing.T, s string, sec int64) {
		now := clampNow(sec)
		id, err := ParseResidentID(s, now)
		if err != nil {
			checkTypedError(t, err, DocResidentID)
			return
		}
		if id.Number != foldForTest(s) {
			t.Fatalf("Number %q is not the normalised input %q", id.Number, foldForTest(s))
		}
		if len(id.Number) != 18 || withCheck(id.Number[:17]) != id.Number {
			t.Fatalf("accepted %q with a wrong check character", id.Number)
		}
		if id.Region != id.Number[:6] || id.Sequence != id.Number[14:17] {
			t.Fatalf("fields do not match the number %q: %+v", id.Number, id)
		}
		if r, ok := LookupRegion(id.Region); (!ok || !r.AddressCode) && ResidencePermit(id.Region) == "" {
			t.Fatalf("accepted region %q, which is no address code", id.Region)
		}
		if id.Permit != ResidencePermit(id.Region) {
			t.Fatalf("permit %q for region %q", id.Permit, id.Region)
		}
		if id.BirthDate.Format("20060102") != id.Number[6:14] {
			t.Fatalf("birth date %s does not match digits %q", id.BirthDate, id.Number[6:14])
		}
		if id.BirthDate.Before(minBirthDate) || id.BirthDate.After(civilToday(now)) {
			t.Fatalf("birth date %s out of range for now %s", id.BirthDate, now)
		}
		if male := (id.Number[16]-'0')%2 == 1; male != (id.Sex == SexMale) || id.Sex == SexUnspecified {
			t.Fatalf("sex %v does not match digit %c", id.Sex, id.Number[16])
		}
		if a := id.Age(now); a < 0 || a > now.Year()-1900 || id.Underage(now) != (a < 18) {
			t.Fatalf("age %d / underage %v inconsistent", a, id.Underage(now))
		}
		again, err := ParseResidentID(id.Number, now)
		if err != nil || again != id {
			t.Fatalf("re-parsing the normalised number gave %+v, %v", again, err)
		}
	})
}

// formatLine1 rebuilds line 1 from parsed fields.
func formatLine1(p Passport) string {
	sub := "<"
	if len(p.DocumentType) == 2 {
		sub = p.DocumentType[1:]
	}
	names := strings.ReplaceAll(p.Surname, " ", "<")
	if p.GivenNames != "" {
		names += "<<" + strings.ReplaceAll(p.GivenNames, " ", "<")
	}
	return pad44("P" + sub + (p.IssuingState + "<<<")[:3] + names)
}

func FuzzParseMRZ(f *testing.F) {
	f.Add(icaoLine1, icaoLine2, refNow.Unix())
	f.Add(deLine1, deLine2, refNow.Unix())
	f.Add(deLine1, bsiLine2, refNow.Unix())
	f.Add(pad44("PDUTOSMITH"), td3Line2("AB1234567", "UTO", "000229", 'X', "300101", "<<<<<<<<<<<<<<", false), refNow.Unix())
	f.Add(icaoLine1, replaceAt(icaoLine2, 43, '1'), refNow.Unix())
	f.Add(icaoLine1[:43], icaoLine2, int64(0))
	f.Add("", "", int64(-1))
	f.Add(strings.ToLower(icaoLine1), icaoLine2, int64(1<<40))
	f.Fuzz(func(t *testing.T, line1, line2 string, sec int64) {
		now := clampNow(sec)
		p, err := ParseMRZ(line1, line2, now)
		if err != nil {
			checkTypedError(t, err, DocMRZ)
			return
		}
		l2 := strings.TrimSpace(line2)
		// Line 2 is fully determined by the parsed fields (the sex marker
		// aside, where '<' and 'X' both mean unspecified).
		personal := (strings.ReplaceAll(p.PersonalNumber, " ", "<") + strings.Repeat("<", 14))[:14]
		rebuilt := td3Line2(p.Number, p.Nationality, p.BirthDate.Format("060102"), l2[20],
			p.ExpiryDate.Format("060102"), personal, l2[42] == '<')
		if rebuilt != l2 {
			t.Fatalf("line 2 does not re-format:\n got %q\nwant %q", rebuilt, l2)
		}
		switch {
		case l2[20] == 'M' && p.Sex != SexMale, l2[20] == 'F' && p.Sex != SexFemale,
			(l2[20] == '<' || l2[20] == 'X') && p.Sex != SexUnspecified:
			t.Fatalf("sex %v does not match marker %c", p.Sex, l2[20])
		}
		if p.BirthDate.After(civilToday(now)) || civilToday(now).Year()-p.BirthDate.Year() > 100 {
			t.Fatalf("birth date %s outside the century window for %s", p.BirthDate, now)
		}
		if d := p.ExpiryDate.Year() - now.Year(); d > 50 || d < -50 {
			t.Fatalf("expiry %s more than 50 years from %s", p.ExpiryDate, now)
		}
		if p.Expired(now) != civilToday(now).After(p.ExpiryDate) {
			t.Fatal("Expired inconsistent")
		}
		// Formatting line 1 from the fields and parsing again is stable.
		again, err := ParseMRZ(formatLine1(p), l2, now)
		if err != nil || again != p {
			t.Fatalf("re-formatted MRZ parsed to %#v, %v; want %#v", again, err, p)
		}
		viaText, err := ParseMRZText(line1+"\n"+line2, now)
		if err != nil || viaText != p {
			t.Fatalf("ParseMRZText disagrees: %#v, %v", viaText, err)
		}
	})
}

func FuzzParseMRZText(f *testing.F) {
	f.Add(icaoLine1 + "\n" + icaoLine2)
	f.Add(icaoLine1 + "\r\n" + icaoLine2 + "\r\n")
	f.Add(deLine1 + "\n" + deLine2)
	f.Add("\n\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseMRZText(s, refNow)
		if err != nil {
			checkTypedError(t, err, DocMRZ)
			return
		}
		if p.Number == "" || p.Surname == "" || p.IssuingState == "" || p.Nationality == "" {
			t.Fatalf("accepted MRZ with empty mandatory field: %#v", p)
		}
	})
}
