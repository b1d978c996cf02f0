package identity

import (
	"log/slog"
	"strings"
	"time"
)

// TD3 (passport booklet) machine-readable zone: two lines of 44 characters.
const mrzLineLen = 44

// Passport holds the fields of a validated ICAO 9303 TD3 machine-readable
// zone. Text fields have their '<' fillers removed; inside names a single
// '<' separates name parts and is returned as a space.
type Passport struct {
	// DocumentType is "P" or "P" followed by the issuer's subtype letter
	// (e.g. "PD" diplomatic, "PO" official).
	DocumentType string
	// IssuingState is the ICAO three-letter code with fillers removed
	// (e.g. "UTO", "D" for Germany).
	IssuingState string
	// Surname is the primary identifier, as printed (may be truncated by
	// the issuer to fit the line).
	Surname string
	// GivenNames is the secondary identifier; empty if the holder has none.
	GivenNames string
	// Number is the document number without fillers.
	Number string
	// Nationality is the holder's ICAO three-letter code, fillers removed.
	Nationality string
	// BirthDate is at 00:00 UTC; see ParseMRZ for the century rule.
	BirthDate time.Time
	// Sex is from the MRZ sex field: M, F, or '<'/'X' for unspecified.
	Sex Sex
	// ExpiryDate is the last day of validity, at 00:00 UTC.
	ExpiryDate time.Time
	// PersonalNumber is the optional data field, fillers removed.
	PersonalNumber string
}

// Expired reports whether the passport is past its expiry date on now's
// calendar date. The expiry date itself is still a valid day.
func (p Passport) Expired(now time.Time) bool {
	return civilToday(now).After(p.ExpiryDate)
}

// Age returns the holder's age in completed years on now's calendar date,
// with the same birthday rule as ResidentID.Age.
func (p Passport) Age(now time.Time) int { return ageAt(p.BirthDate, now) }

// String returns a description without the holder's name or full document
// number, so that printing a Passport never writes them to a log.
func (p Passport) String() string {
	return "passport " + p.IssuingState + " " + maskTail(p.Number)
}

// LogValue keeps names and the full number out of structured logs.
func (p Passport) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuing_state", p.IssuingState),
		slog.String("nationality", p.Nationality),
		slog.String("number", maskTail(p.Number)),
	)
}

// maskTail hides all but the last three characters.
func maskTail(s string) string {
	if len(s) <= 3 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-3) + s[len(s)-3:]
}

func mrzErr(field string, err error, detail string) error {
	return &DocumentError{Document: DocMRZ, Field: field, Err: err, Detail: detail}
}

// ParseMRZText is ParseMRZ for the two lines in one string, separated by a
// line break ("\n" or "\r\n"), as OCR engines and form fields deliver them.
// White space around each line is ignored and blank lines are skipped; there
// must be exactly two non-blank lines.
func ParseMRZText(s string, now time.Time) (Passport, error) {
	var lines [2]string
	n := 0
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if n == len(lines) {
			return Passport{}, mrzErr("text", ErrLength, "want two lines")
		}
		lines[n] = line
		n++
	}
	if n != len(lines) {
		return Passport{}, mrzErr("text", ErrLength, "want two lines")
	}
	return ParseMRZ(lines[0], lines[1], now)
}

// ParseMRZ validates the two lines of a passport (TD3) machine-readable zone
// as defined in ICAO Doc 9303 Part 4 and returns the decoded fields.
//
// White space around each line is trimmed; otherwise each line must be
// exactly 44 characters from A-Z, 0-9 and '<'. Line 1 must start with 'P'.
// All five check digits (document number, birth date, expiry date, personal
// number, composite) are verified with the 7-3-1 weighting; a personal-number
// check digit of '<' is accepted only when that field is all fillers.
//
// The MRZ gives years with two digits, so now fixes the century:
//   - the birth date is the latest date with those digits that is not after
//     now's calendar date (holders aged 100 or more are read as 100 years
//     younger; ages are in [0, 99]);
//   - the expiry date is the date with those digits whose year lies within
//     50 years of now's year.
//
// Errors are *DocumentError wrapping ErrLength, ErrCharset, ErrFormat,
// ErrChecksum, ErrBirthDate, ErrExpiryDate or ErrSex, and never contain any
// part of the input.
func ParseMRZ(line1, line2 string, now time.Time) (Passport, error) {
	line1 = strings.TrimSpace(line1)
	line2 = strings.TrimSpace(line2)
	if len(line1) != mrzLineLen {
		return Passport{}, mrzErr("line 1", ErrLength, "want 44 characters")
	}
	if len(line2) != mrzLineLen {
		return Passport{}, mrzErr("line 2", ErrLength, "want 44 characters")
	}
	if !mrzCharset(line1) {
		return Passport{}, mrzErr("line 1", ErrCharset, "")
	}
	if !mrzCharset(line2) {
		return Passport{}, mrzErr("line 2", ErrCharset, "")
	}

	// Line 1: P, subtype, issuing state, names.
	if line1[0] != 'P' {
		return Passport{}, mrzErr("document code", ErrFormat, "not a passport (TD3) MRZ")
	}
	if !isAlphaOrFiller(line1[1]) {
		return Passport{}, mrzErr("document code", ErrFormat, "")
	}
	issuing, ok := stateCode(line1[2:5])
	if !ok {
		return Passport{}, mrzErr("issuing state", ErrFormat, "")
	}
	surname, given, ok := splitNames(line1[5:])
	if !ok {
		return Passport{}, mrzErr("name", ErrFormat, "")
	}

	// Line 2 check digits, each over its own field, then the composite.
	if !checkDigitOK(line2[0:9], line2[9]) {
		return Passport{}, mrzErr("document number", ErrChecksum, "")
	}
	if !checkDigitOK(line2[13:19], line2[19]) {
		return Passport{}, mrzErr("birth date", ErrChecksum, "")
	}
	if !checkDigitOK(line2[21:27], line2[27]) {
		return Passport{}, mrzErr("expiry date", ErrChecksum, "")
	}
	personal := line2[28:42]
	if pc := line2[42]; !(pc == '<' && strings.Trim(personal, "<") == "") && !checkDigitOK(personal, pc) {
		return Passport{}, mrzErr("personal number", ErrChecksum, "")
	}
	// The composite digit covers positions 1-10, 14-20 and 22-43 taken as
	// one string, so the 7-3-1 weights run on across the joins rather than
	// restarting: the second part starts at phase 10, the third at 17.
	composite := weightedFrom(line2[0:10], 0) +
		weightedFrom(line2[13:20], 10) +
		weightedFrom(line2[21:43], 17)
	if line2[43] != byte('0'+composite%10) {
		return Passport{}, mrzErr("composite", ErrChecksum, "")
	}

	// Semantic checks on fields the check digits have shown to be intact.
	number := strings.TrimRight(line2[0:9], "<")
	if number == "" {
		return Passport{}, mrzErr("document number", ErrFormat, "empty")
	}
	nationality, ok := stateCode(line2[10:13])
	if !ok {
		return Passport{}, mrzErr("nationality", ErrFormat, "")
	}
	today := civilToday(now)
	birth, ok := mrzBirthDate(line2[13:19], today)
	if !ok {
		return Passport{}, mrzErr("birth date", ErrBirthDate, "not a calendar date")
	}
	var sex Sex
	switch line2[20] {
	case 'M':
		sex = SexMale
	case 'F':
		sex = SexFemale
	case '<', 'X': // 'X' is used by several states for unspecified
		sex = SexUnspecified
	default:
		return Passport{}, mrzErr("sex", ErrSex, "")
	}
	expiry, ok := mrzExpiryDate(line2[21:27], today)
	if !ok {
		return Passport{}, mrzErr("expiry date", ErrExpiryDate, "not a calendar date")
	}

	docType := "P"
	if line1[1] != '<' {
		docType = line1[0:2]
	}
	return Passport{
		DocumentType:   docType,
		IssuingState:   issuing,
		Surname:        surname,
		GivenNames:     given,
		Number:         number,
		Nationality:    nationality,
		BirthDate:      birth,
		Sex:            sex,
		ExpiryDate:     expiry,
		PersonalNumber: strings.ReplaceAll(strings.TrimRight(personal, "<"), "<", " "),
	}, nil
}

func mrzCharset(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '<' {
			return false
		}
	}
	return true
}

func isAlphaOrFiller(c byte) bool { return c == '<' || (c >= 'A' && c <= 'Z') }

// stateCode validates a three-character state/nationality field: letters,
// right-padded with fillers (e.g. "D<<"), and strips the fillers.
func stateCode(f string) (string, bool) {
	code := strings.TrimRight(f, "<")
	if code == "" {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return "", false
		}
	}
	return code, true
}

// splitNames splits the 39-character name field into primary and secondary
// identifiers ("SURNAME<<GIVEN<NAMES<<<"). Names hold letters only.
func splitNames(f string) (surname, given string, ok bool) {
	for i := 0; i < len(f); i++ {
		if f[i] >= '0' && f[i] <= '9' {
			return "", "", false
		}
	}
	f = strings.TrimRight(f, "<")
	primary, secondary, _ := strings.Cut(f, "<<")
	if primary == "" || strings.HasPrefix(primary, "<") {
		return "", "", false
	}
	secondary = strings.TrimLeft(secondary, "<")
	return strings.ReplaceAll(primary, "<", " "), strings.ReplaceAll(secondary, "<", " "), true
}

// mrzValue is the ICAO 9303 character value: digits as such, A-Z 10..35, '<' 0.
func mrzValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 0
}

// weightedFrom sums the 7-3-1 weighted values of s as if s started at
// position phase of a longer string.
func weightedFrom(s string, phase int) int {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		sum += mrzValue(s[i]) * weights[(phase+i)%3]
	}
	return sum
}

// checkDigitOK reports whether c is the 7-3-1 check digit of field.
func checkDigitOK(field string, c byte) bool { return c == MRZCheckDigit(field) }

// MRZCheckDigit is the ICAO 9303 check digit (weights 7, 3, 1; digits as
// themselves, A-Z as 10-35, the filler '<' as 0) of an MRZ field.
func MRZCheckDigit(field string) byte { return byte('0' + weightedFrom(field, 0)%10) }

// mrzBirthDate decodes YYMMDD choosing the latest century that does not put
// the date after today.
func mrzBirthDate(f string, today time.Time) (time.Time, bool) {
	if !isDigits(f) {
		return time.Time{}, false
	}
	yy, m, d := atoi(f[0:2]), atoi(f[2:4]), atoi(f[4:6])
	ty, tm, td := today.Date()
	y := ty/100*100 + yy
	if y > ty || (y == ty && (m > int(tm) || (m == int(tm) && d > td))) {
		y -= 100
	}
	return civilDate(y, m, d)
}

// mrzExpiryDate decodes YYMMDD choosing the century that puts the year within
// 50 years of today's year.
func mrzExpiryDate(f string, today time.Time) (time.Time, bool) {
	if !isDigits(f) {
		return time.Time{}, false
	}
	yy, m, d := atoi(f[0:2]), atoi(f[2:4]), atoi(f[4:6])
	ty := today.Year()
	y := ty/100*100 + yy
	switch {
	case y > ty+50:
		y -= 100
	case y < ty-50:
		y += 100
	}
	return civilDate(y, m, d)
}
