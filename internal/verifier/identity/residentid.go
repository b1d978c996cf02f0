// Package identity parses and validates untrusted personal identity documents:
// the PRC resident identity number (GB 11643-1999) and the machine-readable
// zone of passports (ICAO Doc 9303, TD3).
//
// Everything here is pure computation over the input and an embedded GB/T 2260
// region table: nothing touches the network or the file system at run time.
// Errors never contain any part of the input, because identity numbers are
// personal data and errors end up in logs; they say only which check failed.
package identity

import (
	"errors"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/riskd/riskd/internal/pseudonym"
)

// Sentinel errors. Every error returned by this package is a *DocumentError
// that wraps exactly one of these, so callers can branch with errors.Is.
var (
	// ErrLength: the document (or an MRZ line) has the wrong number of characters.
	ErrLength = errors.New("wrong length")
	// ErrCharset: a character outside the allowed alphabet.
	ErrCharset = errors.New("invalid character")
	// ErrChecksum: a check character does not match the data it protects.
	ErrChecksum = errors.New("check character mismatch")
	// ErrRegion: the address code is not a GB/T 2260 division a number may
	// carry (unknown, or a province or prefecture that registers nobody).
	ErrRegion = errors.New("not a known address code")
	// ErrBirthDate: the birth date is not a calendar date or is out of range.
	ErrBirthDate = errors.New("invalid birth date")
	// ErrExpiryDate: the expiry date is not a calendar date.
	ErrExpiryDate = errors.New("invalid expiry date")
	// ErrSex: the sex marker is not one the document format allows.
	ErrSex = errors.New("invalid sex marker")
	// ErrFormat: a structural field (document code, state code, name) is malformed.
	ErrFormat = errors.New("malformed field")
)

// Document names used in DocumentError.Document.
const (
	DocResidentID = "resident id"
	DocMRZ        = "passport mrz"
)

// DocumentError reports why a document was rejected. It deliberately holds no
// part of the input: only which document, which field and which check.
type DocumentError struct {
	// Document is DocResidentID or DocMRZ.
	Document string
	// Field names the part of the document that failed, e.g. "check
	// character", "region", "birth date", "line 2", "composite".
	Field string
	// Err is one of the package's sentinel errors.
	Err error
	// Detail is an optional fixed explanation (never derived from input).
	Detail string
}

// Error implements error. The text is built only from constant strings.
func (e *DocumentError) Error() string {
	msg := "identity: " + e.Document + ": " + e.Field + ": " + e.Err.Error()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Unwrap lets errors.Is match the sentinel.
func (e *DocumentError) Unwrap() error { return e.Err }

func residentErr(field string, err error, detail string) error {
	return &DocumentError{Document: DocResidentID, Field: field, Err: err, Detail: detail}
}

// Sex is the holder's sex as a document records it.
type Sex uint8

// Sex values. SexUnspecified is the zero value; MRZs use it for '<' or 'X'.
const (
	SexUnspecified Sex = iota
	SexMale
	SexFemale
)

// String returns "male", "female" or "unspecified".
func (s Sex) String() string {
	switch s {
	case SexMale:
		return "male"
	case SexFemale:
		return "female"
	default:
		return "unspecified"
	}
}

// ResidentID is a validated PRC resident identity number (居民身份证号码).
type ResidentID struct {
	// Number is the normalised 18-character number (ASCII, upper-case X).
	Number string
	// Region is the six-digit address code (the first six characters).
	Region string
	// RegionName is the division's official Chinese name.
	RegionName string
	// RegionCurrent is false when the address code has since been
	// abolished (normal for old numbers; see Region.Until).
	RegionCurrent bool
	// Permit is "HK", "MO" or "TW" for a residence permit of a Hong Kong,
	// Macao or Taiwan resident (address code 810000, 820000 or 830000), and
	// "" for a resident identity card.
	Permit string
	// BirthDate is the birth date at 00:00 UTC.
	BirthDate time.Time
	// Sequence is the three-digit sequence code (characters 15-17).
	Sequence string
	// Sex follows the parity of character 17: odd male, even female.
	Sex Sex
}

// minBirthDate is the earliest birth date accepted. Numbers were first issued
// in 1984 (15-digit) and 1999 (18-digit); anyone born before 1900 is either
// dead or the number is made up, and the commonly cited test number
// 440524188001010014 (born 1880) is exactly such a made-up one.
var minBirthDate = time.Date(1900, time.January, 1, 0, 0, 0, 0, time.UTC)

// idWeights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for the 17
// body digits, and idCheck maps (sum mod 11) to the check character.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheck = "10X98765432"

// CheckCharacter returns the GB 11643 (ISO 7064 MOD 11-2) check character
// of the first 17 characters of a resident identity number: '0'-'9' or 'X'.
// ok is false when body is not 17 ASCII digits.
func CheckCharacter(body string) (c byte, ok bool) {
	if len(body) != 17 || !isDigits(body) {
		return 0, false
	}
	sum := 0
	for i := range 17 {
		sum += int(body[i]-'0') * idWeights[i]
	}
	return idCheck[sum%11], true
}

// ParseResidentID validates an 18-character resident identity number
// (GB 11643-1999), or the number of a residence permit for Hong Kong, Macao
// or Taiwan residents, and returns its decoded fields.
//
// Input is normalised first, by pseudonym.DocumentNumber, the rule licence
// numbers and the stored hashes share: compatibility forms are folded (NFKC:
// full-width digits and letters become ASCII), white space, dashes and
// invisible format characters are removed wherever they are, and letters are
// upper-cased. Anything else stays and is refused. The checks, in order, are:
// length (18 characters), charset (17 digits then a digit or X), ISO 7064
// MOD 11-2 check character, address code (a residence-permit code, or a code
// of the embedded GB/T 2260 table, historical ones included, that a number
// may carry: see markAddressCodes), and birth date (a real calendar date,
// not before 1900-01-01 and not after the calendar date of now in now's
// location).
//
// Errors are *DocumentError wrapping ErrLength, ErrCharset, ErrChecksum,
// ErrRegion or ErrBirthDate, and never contain the number.
func ParseResidentID(s string, now time.Time) (ResidentID, error) {
	num, err := normaliseResidentID(s)
	if err != nil {
		return ResidentID{}, err
	}

	if c, _ := CheckCharacter(num[:17]); c != num[17] {
		return ResidentID{}, residentErr("check character", ErrChecksum, "")
	}

	code := num[:6]
	regionName, regionCurrent := "", true
	permit := ResidencePermit(code)
	r, known := LookupRegion(code)
	switch {
	case permit == "TW":
		regionName = "台湾居民居住证"
	case permit != "":
		regionName = r.Name
	case !known:
		return ResidentID{}, residentErr("region", ErrRegion, "")
	case !r.AddressCode && code[2:] == "0000":
		return ResidentID{}, residentErr("region", ErrRegion, detailProvince)
	case !r.AddressCode:
		return ResidentID{}, residentErr("region", ErrRegion, detailPrefecture)
	default:
		regionName, regionCurrent = r.Name, r.Current()
	}

	y := atoi(num[6:10])
	m := atoi(num[10:12])
	d := atoi(num[12:14])
	birth, ok := civilDate(y, m, d)
	if !ok {
		return ResidentID{}, residentErr("birth date", ErrBirthDate, "not a calendar date")
	}
	if birth.Before(minBirthDate) {
		return ResidentID{}, residentErr("birth date", ErrBirthDate, "before 1900")
	}
	if birth.After(civilToday(now)) {
		return ResidentID{}, residentErr("birth date", ErrBirthDate, "in the future")
	}

	sex := SexFemale
	if (num[16]-'0')%2 == 1 {
		sex = SexMale
	}
	return ResidentID{
		Number:        num,
		Region:        code,
		RegionName:    regionName,
		RegionCurrent: regionCurrent,
		Permit:        permit,
		BirthDate:     birth,
		Sequence:      num[14:17],
		Sex:           sex,
	}, nil
}

// Details of a region error: the code is a real division, but not one
// that registers anybody.
const (
	detailProvince   = "province-level code"
	detailPrefecture = "prefecture with county-level divisions"
)

// normaliseResidentID puts s in its canonical form and checks length and
// charset. It returns s itself (no allocation) when s was already canonical.
func normaliseResidentID(s string) (string, error) {
	num := pseudonym.DocumentNumber(s)
	// Length is counted in characters, not bytes: a character the
	// normalisation left alone is refused as a character, not a length.
	if utf8.RuneCountInString(num) != 18 {
		return "", residentErr("number", ErrLength, "want 18 characters")
	}
	for i := 0; i < len(num); i++ {
		c := num[i]
		if !(c >= '0' && c <= '9') && !(i == 17 && c == 'X') {
			return "", residentErr("number", ErrCharset, "")
		}
	}
	return num, nil
}

// atoi converts a short all-digit string; callers have checked the digits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// civilDate returns y-m-d at 00:00 UTC if it is a real calendar date.
// time.Date normalises overflow (Feb 30 -> Mar 2), so a round trip detects it.
func civilDate(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// civilToday is now's calendar date (in now's own location) at 00:00 UTC, so
// it compares directly with dates from civilDate. Birth dates on documents are
// civil dates with no time zone; the caller's clock decides what "today" is.
func civilToday(now time.Time) time.Time {
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ageAt returns completed years between birth and now's calendar date. The
// age goes up on the birthday itself; someone born on 29 February gets one
// year older on 1 March in common years (a full year has not passed on
// 28 February). A now before birth gives 0.
func ageAt(birth, now time.Time) int {
	by, bm, bd := birth.Date()
	ny, nm, nd := now.Date()
	age := ny - by
	if nm < bm || (nm == bm && nd < bd) {
		age--
	}
	return max(age, 0)
}

// Age returns the holder's age in completed years on now's calendar date.
// The age increases on the birthday; for a 29 February birthday it increases
// on 1 March in common years.
func (r ResidentID) Age(now time.Time) int { return ageAt(r.BirthDate, now) }

// Underage reports whether the holder is under 18 on now's calendar date.
// On the 18th birthday itself the holder is an adult.
func (r ResidentID) Underage(now time.Time) bool { return r.Age(now) < 18 }

// Masked returns the number with the eight birth-date digits hidden (e.g.
// "110105********002X": region and the last four characters stay), for logs
// and support screens.
func (r ResidentID) Masked() string {
	if len(r.Number) != 18 {
		return ""
	}
	return r.Number[:6] + "********" + r.Number[14:]
}

// String returns the masked number, so that printing a ResidentID with the
// fmt package never writes the full number to a log.
func (r ResidentID) String() string { return r.Masked() }

// LogValue keeps the full number out of structured logs (log/slog).
func (r ResidentID) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("number", r.Masked()),
		slog.String("region", r.Region),
		slog.String("sex", r.Sex.String()),
	)
}
