package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ICAO Doc 9303 Part 4 specimen (Utopia, Anna Maria Eriksson).
const (
	icaoLine1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
	icaoLine2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
)

// German passport specimen (Erika Mustermann), personal-number field empty
// with '<' as its check digit.
const (
	deLine1 = "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<"
	deLine2 = "C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<<4"
)

// BSI TR-03105 test passport (Erika Mustermann, 1996 data set).
const bsiLine2 = "C11T002JM4D<<9608122F1310317<<<<<<<<<<<<<<<6"

// checkDigit is an independent 7-3-1 check-digit computation for building
// test vectors: value = index in "0-9A-Z", '<' = 0.
func checkDigit(s string) byte {
	const values = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	w := []int{7, 3, 1}
	sum := 0
	for i, c := range []byte(s) {
		if c != '<' {
			sum += strings.IndexByte(values, c) * w[i%3]
		}
	}
	return byte('0' + sum%10)
}

// td3Line2 assembles line 2 from its fields, computing every check digit.
// personal must be 14 characters; emptyCheck selects '<' as the personal
// number check digit when personal is all fillers.
func td3Line2(number, nationality, birth string, sex byte, expiry, personal string, emptyCheck bool) string {
	number = (number + "<<<<<<<<<")[:9]
	nationality = (nationality + "<<<")[:3]
	pc := checkDigit(personal)
	if emptyCheck {
		pc = '<'
	}
	l := number + string(checkDigit(number)) + nationality + birth + string(checkDigit(birth)) +
		string(sex) + expiry + string(checkDigit(expiry)) + personal + string(pc)
	composite := l[0:10] + l[13:20] + l[21:43]
	return l + string(checkDigit(composite))
}

func TestCheckDigitHelperMatchesSpecimens(t *testing.T) {
	// Hand computation for L898902C3: 21*7+8*3+9*1+8*7+9*3+0*1+2*7+12*3+3*1
	// = 316 -> 6, as printed in the ICAO specimen.
	if got := checkDigit("L898902C3"); got != '6' {
		t.Fatalf("checkDigit(L898902C3) = %c, want 6", got)
	}
	for _, l := range []string{icaoLine2, deLine2, bsiLine2} {
		personal := l[28:42]
		rebuilt := td3Line2(strings.TrimRight(l[0:9], "<"), l[10:13], l[13:19], l[20], l[21:27], personal, l[42] == '<')
		if rebuilt != l {
			t.Errorf("td3Line2 rebuilt\n%s, want\n%s", rebuilt, l)
		}
	}
}

func TestParseMRZValid(t *testing.T) {
	tests := []struct {
		name         string
		line1, line2 string
		now          time.Time
		want         Passport
		expired      bool
	}{
		{
			name: "ICAO 9303 specimen", line1: icaoLine1, line2: icaoLine2, now: refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
				Number: "L898902C3", Nationality: "UTO", BirthDate: date(1974, 8, 12), Sex: SexFemale,
				ExpiryDate: date(2012, 4, 15), PersonalNumber: "ZE184226B",
			},
			expired: true,
		},
		{
			name: "ICAO specimen read in 2010", line1: icaoLine1, line2: icaoLine2, now: date(2010, 1, 1),
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
				Number: "L898902C3", Nationality: "UTO", BirthDate: date(1974, 8, 12), Sex: SexFemale,
				ExpiryDate: date(2012, 4, 15), PersonalNumber: "ZE184226B",
			},
		},
		{
			name: "German specimen, '<' personal check", line1: deLine1, line2: deLine2, now: refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "D", Surname: "MUSTERMANN", GivenNames: "ERIKA",
				Number: "C01X00T47", Nationality: "D", BirthDate: date(1964, 8, 12), Sex: SexFemale,
				ExpiryDate: date(2027, 2, 28),
			},
		},
		{
			name: "BSI TR-03105 test data", line1: deLine1, line2: bsiLine2, now: refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "D", Surname: "MUSTERMANN", GivenNames: "ERIKA",
				Number: "C11T002JM", Nationality: "D", BirthDate: date(1996, 8, 12), Sex: SexFemale,
				ExpiryDate: date(2013, 10, 31),
			},
			expired: true,
		},
		{
			name: "surrounding white space and CR", line1: "  " + icaoLine1 + "\r", line2: icaoLine2 + " \r", now: refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
				Number: "L898902C3", Nationality: "UTO", BirthDate: date(1974, 8, 12), Sex: SexFemale,
				ExpiryDate: date(2012, 4, 15), PersonalNumber: "ZE184226B",
			},
			expired: true,
		},
		{
			name:  "diplomatic subtype, surname only, sex X, 29 Feb 2000, '0' personal check",
			line1: pad44("PDUTOSMITH"),
			line2: td3Line2("AB1234567", "UTO", "000229", 'X', "300101", "<<<<<<<<<<<<<<", false),
			now:   refNow,
			want: Passport{
				DocumentType: "PD", IssuingState: "UTO", Surname: "SMITH", Number: "AB1234567",
				Nationality: "UTO", BirthDate: date(2000, 2, 29), Sex: SexUnspecified, ExpiryDate: date(2030, 1, 1),
			},
		},
		{
			name:  "multi-part surname, male, personal number with filler inside",
			line1: pad44("P<UTODE<LA<CRUZ<<JUAN"),
			line2: td3Line2("X1234", "UTO", "850101", 'M', "251231", "AB<12<<<<<<<<<", false),
			now:   refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "DE LA CRUZ", GivenNames: "JUAN", Number: "X1234",
				Nationality: "UTO", BirthDate: date(1985, 1, 1), Sex: SexMale, ExpiryDate: date(2025, 12, 31),
				PersonalNumber: "AB 12",
			},
		},
		{
			name:  "birth today is this century",
			line1: icaoLine1,
			line2: td3Line2("L898902C3", "UTO", "250615", 'F', "350615", "<<<<<<<<<<<<<<", true),
			now:   refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
				Number: "L898902C3", Nationality: "UTO", BirthDate: date(2025, 6, 15), Sex: SexFemale,
				ExpiryDate: date(2035, 6, 15),
			},
		},
		{
			name:  "birth tomorrow's digits fall to the previous century; expiry 50 years ahead",
			line1: icaoLine1,
			line2: td3Line2("L898902C3", "UTO", "250616", 'F', "750101", "<<<<<<<<<<<<<<", true),
			now:   refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
				Number: "L898902C3", Nationality: "UTO", BirthDate: date(1925, 6, 16), Sex: SexFemale,
				ExpiryDate: date(2075, 1, 1),
			},
		},
		{
			name:  "expiry more than 50 years ahead falls to the previous century",
			line1: icaoLine1,
			line2: td3Line2("L898902C3", "UTO", "740812", 'F', "760101", "<<<<<<<<<<<<<<", true),
			now:   refNow,
			want: Passport{
				DocumentType: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
				Number: "L898902C3", Nationality: "UTO", BirthDate: date(1974, 8, 12), Sex: SexFemale,
				ExpiryDate: date(1976, 1, 1),
			},
			expired: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMRZ(tt.line1, tt.line2, tt.now)
			if err != nil {
				t.Fatalf("ParseMRZ: unexpected error %v", err)
			}
			if got.DocumentType != tt.want.DocumentType || got.IssuingState != tt.want.IssuingState ||
				got.Surname != tt.want.Surname || got.GivenNames != tt.want.GivenNames ||
				got.Number != tt.want.Number || got.Nationality != tt.want.Nationality ||
				!got.BirthDate.Equal(tt.want.BirthDate) || got.Sex != tt.want.Sex ||
				!got.ExpiryDate.Equal(tt.want.ExpiryDate) || got.PersonalNumber != tt.want.PersonalNumber {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			if e := got.Expired(tt.now); e != tt.expired {
				t.Errorf("Expired = %v, want %v", e, tt.expired)
			}
			// The text form must give the same result.
			viaText, err := ParseMRZText(tt.line1+"\n"+tt.line2, tt.now)
			if err != nil || viaText != got {
				t.Errorf("ParseMRZText = %#v, %v; want %#v", viaText, err, got)
			}
		})
	}
}

func TestPassportExpiredBoundary(t *testing.T) {
	p, err := ParseMRZ(icaoLine1, icaoLine2, refNow)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		now  time.Time
		want bool
	}{
		{date(2012, 4, 14), false},
		{time.Date(2012, 4, 15, 23, 59, 59, 0, time.UTC), false}, // the expiry day is still valid
		{date(2012, 4, 16), true},
		{time.Date(2012, 4, 15, 17, 0, 0, 0, time.UTC).In(time.FixedZone("CST", 8*3600)), true}, // already 16 Apr at UTC+8
	}
	for _, c := range cases {
		if got := p.Expired(c.now); got != c.want {
			t.Errorf("Expired(%s) = %v, want %v", c.now, got, c.want)
		}
	}
	if got := p.Age(date(2025, 8, 11)); got != 50 {
		t.Errorf("Age = %d, want 50", got)
	}
	if got := p.Age(date(2025, 8, 12)); got != 51 {
		t.Errorf("Age = %d, want 51", got)
	}
}

// pad44 right-pads a line with fillers to the TD3 length.
func pad44(s string) string { return s + strings.Repeat("<", mrzLineLen-len(s)) }

// replaceAt returns s with the byte at i replaced by c.
func replaceAt(s string, i int, c byte) string {
	b := []byte(s)
	b[i] = c
	return string(b)
}

// bump returns a different digit.
func bump(c byte) byte { return '0' + (c-'0'+1)%10 }

func TestParseMRZErrors(t *testing.T) {
	tests := []struct {
		name         string
		line1, line2 string
		want         error
		field        string
	}{
		{"document number check digit", icaoLine1, replaceAt(icaoLine2, 9, bump(icaoLine2[9])), ErrChecksum, "document number"},
		{"document number altered", icaoLine1, replaceAt(icaoLine2, 0, 'M'), ErrChecksum, "document number"},
		{"birth date check digit", icaoLine1, replaceAt(icaoLine2, 19, bump(icaoLine2[19])), ErrChecksum, "birth date"},
		{"birth date altered", icaoLine1, replaceAt(icaoLine2, 13, '8'), ErrChecksum, "birth date"},
		{"expiry check digit", icaoLine1, replaceAt(icaoLine2, 27, bump(icaoLine2[27])), ErrChecksum, "expiry date"},
		{"expiry altered", icaoLine1, replaceAt(icaoLine2, 21, '2'), ErrChecksum, "expiry date"},
		{"personal number check digit", icaoLine1, replaceAt(icaoLine2, 42, bump(icaoLine2[42])), ErrChecksum, "personal number"},
		{"personal number check '<' with data present", icaoLine1, replaceAt(icaoLine2, 42, '<'), ErrChecksum, "personal number"},
		{"composite check digit", icaoLine1, replaceAt(icaoLine2, 43, bump(icaoLine2[43])), ErrChecksum, "composite"},
		{"composite '<'", icaoLine1, replaceAt(icaoLine2, 43, '<'), ErrChecksum, "composite"},
		{"check digit is a letter", icaoLine1, replaceAt(icaoLine2, 9, 'A'), ErrChecksum, "document number"},
		{"digit in nationality (no check digit covers it)", icaoLine1, replaceAt(icaoLine2, 10, '1'), ErrFormat, "nationality"},
		{"line 1 short", icaoLine1[:43], icaoLine2, ErrLength, "line 1"},
		{"line 1 long", icaoLine1 + "<", icaoLine2, ErrLength, "line 1"},
		{"line 2 short", icaoLine1, icaoLine2[:43], ErrLength, "line 2"},
		{"line 2 long", icaoLine1, icaoLine2 + "0", ErrLength, "line 2"},
		{"empty", "", "", ErrLength, "line 1"},
		{"TD1 line length", icaoLine1[:30], icaoLine2[:30], ErrLength, "line 1"},
		{"lower case in line 1", strings.ToLower(icaoLine1), icaoLine2, ErrCharset, "line 1"},
		{"space inside line 1", replaceAt(icaoLine1, 20, ' '), icaoLine2, ErrCharset, "line 1"},
		{"hyphen in line 2", icaoLine1, replaceAt(icaoLine2, 30, '-'), ErrCharset, "line 2"},
		{"non-ASCII in line 2", icaoLine1, icaoLine2[:42] + "É", ErrCharset, "line 2"},
		{"not a passport", replaceAt(icaoLine1, 0, 'I'), icaoLine2, ErrFormat, "document code"},
		{"digit as subtype", replaceAt(icaoLine1, 1, '1'), icaoLine2, ErrFormat, "document code"},
		{"issuing state with digit", replaceAt(icaoLine1, 3, '7'), icaoLine2, ErrFormat, "issuing state"},
		{"issuing state all fillers", pad44("P<<<<ERIKSSON<<ANNA<MARIA"), icaoLine2, ErrFormat, "issuing state"},
		{"issuing state filler first", pad44("P<<TOERIKSSON<<ANNA<MARIA"), icaoLine2, ErrFormat, "issuing state"},
		{"digit in name", replaceAt(icaoLine1, 8, '5'), icaoLine2, ErrFormat, "name"},
		{"no surname", pad44("P<UTO<<ANNA<MARIA"), icaoLine2, ErrFormat, "name"},
		{"empty name field", pad44("P<UTO"), icaoLine2, ErrFormat, "name"},
		{"empty document number", icaoLine1,
			td3Line2("", "UTO", "740812", 'F', "120415", "<<<<<<<<<<<<<<", true), ErrFormat, "document number"},
		{"invalid sex", icaoLine1, replaceAt(icaoLine2, 20, 'Q'), ErrSex, "sex"},
		{"invalid sex digit", icaoLine1, replaceAt(icaoLine2, 20, '1'), ErrSex, "sex"},
		{"30 February birth", icaoLine1,
			td3Line2("L898902C3", "UTO", "740230", 'F', "120415", "<<<<<<<<<<<<<<", true), ErrBirthDate, "birth date"},
		{"29 February 1900 birth (read in 1999)", icaoLine1,
			td3Line2("L898902C3", "UTO", "000229", 'F', "120415", "<<<<<<<<<<<<<<", true), ErrBirthDate, "birth date"},
		{"month 13 birth", icaoLine1,
			td3Line2("L898902C3", "UTO", "741312", 'F', "120415", "<<<<<<<<<<<<<<", true), ErrBirthDate, "birth date"},
		{"filler in birth date", icaoLine1,
			td3Line2("L898902C3", "UTO", "7408<<", 'F', "120415", "<<<<<<<<<<<<<<", true), ErrBirthDate, "birth date"},
		{"expiry day 00", icaoLine1,
			td3Line2("L898902C3", "UTO", "740812", 'F', "120400", "<<<<<<<<<<<<<<", true), ErrExpiryDate, "expiry date"},
		{"letters in expiry", icaoLine1,
			td3Line2("L898902C3", "UTO", "740812", 'F', "12AB15", "<<<<<<<<<<<<<<", true), ErrExpiryDate, "expiry date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := refNow
			if strings.Contains(tt.name, "read in 1999") {
				now = date(1999, 6, 1)
			}
			_, err := ParseMRZ(tt.line1, tt.line2, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not *DocumentError", err)
			}
			if de.Document != DocMRZ || de.Field != tt.field {
				t.Errorf("DocumentError{%q, %q}, want {%q, %q}", de.Document, de.Field, DocMRZ, tt.field)
			}
			assertNoLeak(t, err, tt.line1)
			assertNoLeak(t, err, tt.line2)
			for _, secret := range []string{"ERIKSSON", "L898902", "ZE184226"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
		})
	}
}

func TestParseMRZText(t *testing.T) {
	ok := []string{
		icaoLine1 + "\n" + icaoLine2,
		icaoLine1 + "\r\n" + icaoLine2,
		"\n  " + icaoLine1 + "\r\n" + icaoLine2 + "\r\n\n",
		icaoLine1 + "\n\n \n" + icaoLine2, // blank lines from OCR are skipped
	}
	for _, s := range ok {
		if _, err := ParseMRZText(s, refNow); err != nil {
			t.Errorf("ParseMRZText(%q): %v", s, err)
		}
	}
	bad := []string{
		"",
		icaoLine1 + icaoLine2,
		"\n \n",
		icaoLine1 + "\n" + icaoLine2 + "\n" + icaoLine2,
		icaoLine1 + "\r" + icaoLine2, // a bare CR is not a line break
	}
	for _, s := range bad {
		_, err := ParseMRZText(s, refNow)
		if !errors.Is(err, ErrLength) {
			t.Errorf("ParseMRZText(%q) err = %v, want ErrLength", s, err)
		}
	}
}

func TestPassportDoesNotPrintPersonalData(t *testing.T) {
	p, err := ParseMRZ(icaoLine1, icaoLine2, refNow)
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprint(p) + fmt.Sprintf("%+v", p)
	for _, secret := range []string{"ERIKSSON", "ANNA", "L898902C3"} {
		if strings.Contains(s, secret) {
			t.Errorf("fmt output %q contains %q", s, secret)
		}
	}
	if got := p.LogValue().String(); strings.Contains(got, "L898902C3") || strings.Contains(got, "ERIKSSON") {
		t.Errorf("LogValue %q leaks personal data", got)
	}
	if maskTail("AB") != "**" || maskTail("ABCDE") != "**CDE" {
		t.Error("maskTail")
	}
}

func BenchmarkParseMRZ(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMRZ(icaoLine1, icaoLine2, refNow); err != nil {
			b.Fatal(err)
		}
	}
}

// Guards: the exported check digit on ICAO 9303's own specimen (document
// number L898902C3 → 6, birth date 740812 → 2, expiry 120415 → 9) and on a
// field of fillers.
func TestMRZCheckDigit(t *testing.T) {
	for field, want := range map[string]byte{"L898902C3": '6', "740812": '2', "120415": '9', "<<<<<<<<<": '0'} {
		if got := MRZCheckDigit(field); got != want {
			t.Errorf("MRZCheckDigit(%q) = %c, want %c", field, got, want)
		}
	}
}
