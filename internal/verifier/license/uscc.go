// Package license parses and validates untrusted business-registration
// identifiers: the PRC Unified Social Credit Code (统一社会信用代码,
// GB 32100-2015).
//
// Everything here is pure computation over the input; nothing touches the
// network at run time. Errors never contain any part of the input, only which
// check failed, because they end up in logs.
package license

import (
	"errors"
	"unicode/utf8"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/verifier/identity"
)

// Sentinel errors. Every error returned by ParseUSCC is a *CodeError wrapping
// exactly one of these, so callers can branch with errors.Is.
var (
	// ErrLength: not 18 characters.
	ErrLength = errors.New("wrong length")
	// ErrCharset: a character outside 0-9 and A-Z without I, O, S, V, Z.
	ErrCharset = errors.New("invalid character")
	// ErrChecksum: the 18th character is not the GB 32100 MOD 31 check.
	ErrChecksum = errors.New("check character mismatch")
	// ErrOrgType: the registration-department / organisation-type pair
	// (characters 1-2) is not in GB 32100 Table 1.
	ErrOrgType = errors.New("unknown department or organisation type")
	// ErrRegion: characters 3-8 are not a plausible administrative code.
	ErrRegion = errors.New("unknown region code")
)

// CodeError reports why a code was rejected. It holds no part of the input.
type CodeError struct {
	// Field names the failing part: "code", "check character",
	// "organisation type" or "region".
	Field string
	// Err is one of the package's sentinel errors.
	Err error
}

// Error implements error. The text is built only from constant strings.
func (e *CodeError) Error() string { return "license: uscc: " + e.Field + ": " + e.Err.Error() }

// Unwrap lets errors.Is match the sentinel.
func (e *CodeError) Unwrap() error { return e.Err }

func codeErr(field string, err error) error { return &CodeError{Field: field, Err: err} }

// USCC is a validated Unified Social Credit Code.
type USCC struct {
	// Code is the normalised 18-character code (ASCII, upper case).
	Code string
	// Department is the registration-management department code (char 1),
	// e.g. '9' for market regulation (工商).
	Department byte
	// DepartmentLabel is an English label for Department.
	DepartmentLabel string
	// OrgType is the organisation-type code (char 2), e.g. '1'.
	OrgType byte
	// OrgTypeLabel is an English label for the department/type pair, e.g.
	// "enterprise", "individual business", "farmers' cooperative".
	OrgTypeLabel string
	// Region is the registering authority's six-digit administrative code
	// (chars 3-8); "100000" means a national-level authority.
	Region string
	// RegionName is the GB/T 2260 name of Region, or "" if the code is not
	// in the table (national level, or a zone code not in GB/T 2260).
	RegionName string
	// OrgCode is the nine-character GB 11714 organisation code (chars 9-17).
	OrgCode string
	// OrgCodeValid reports whether OrgCode's own check character (char 17)
	// is right. A wrong one does not make the code invalid: registries
	// issued many genuine codes, individual businesses' above all, whose
	// embedded organisation code was never assigned by the GB 11714
	// authority and fails its check. The finding is a signal, not a verdict.
	OrgCodeValid bool
}

// Alphabet of GB 32100: digits and upper-case letters without I, O, S, V, Z.
// A character's value in the MOD 31 check is its index here.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^i mod 31 for positions 1..17.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// orgWeights are the GB 11714 weights for the eight organisation-code body chars.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// usccValue maps a byte to its index in usccAlphabet, or -1.
var usccValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(usccAlphabet); i++ {
		t[usccAlphabet[i]] = int8(i)
	}
	return t
}()

type orgTypeKey struct{ dept, kind byte }

// departmentLabels and orgTypeLabels are GB 32100-2015 Table 1 (登记管理部门
// 代码 and 机构类别代码) as amended by the national standards body. Only the
// pairs listed are valid; 'Y' (other departments) has the single type '1'.
var departmentLabels = map[byte]string{
	'1': "institutional establishment (机构编制)",
	'2': "foreign affairs (外交)",
	'3': "justice administration (司法行政)",
	'4': "culture (文化)",
	'5': "civil affairs (民政)",
	'6': "tourism (旅游)",
	'7': "religious affairs (宗教)",
	'8': "trade union (工会)",
	'9': "market regulation (工商)",
	'A': "CMC reform and establishment office (中央军委改革和编制办公室)",
	'N': "agriculture (农业)",
	'Y': "other (其他)",
}

var orgTypeLabels = map[orgTypeKey]string{
	{'1', '1'}: "government organ",
	{'1', '2'}: "public institution",
	{'1', '3'}: "mass organisation under the central establishment office",
	{'1', '9'}: "other (institutional establishment)",
	{'2', '1'}: "resident foreign news agency",
	{'2', '9'}: "other (foreign affairs)",
	{'3', '1'}: "law firm",
	{'3', '2'}: "notary office",
	{'3', '3'}: "grassroots legal service office",
	{'3', '4'}: "judicial appraisal institution",
	{'3', '5'}: "arbitration commission",
	{'3', '9'}: "other (justice administration)",
	{'4', '1'}: "foreign cultural centre in China",
	{'4', '9'}: "other (culture)",
	{'5', '1'}: "social organisation",
	{'5', '2'}: "private non-enterprise unit",
	{'5', '3'}: "foundation",
	{'5', '9'}: "other (civil affairs)",
	{'6', '1'}: "resident office of a foreign tourism authority",
	{'6', '2'}: "resident office of a Hong Kong, Macao or Taiwan tourism authority",
	{'6', '9'}: "other (tourism)",
	{'7', '1'}: "religious activity venue",
	{'7', '2'}: "religious college",
	{'7', '9'}: "other (religious affairs)",
	{'8', '1'}: "grassroots trade union",
	{'8', '9'}: "other (trade union)",
	{'9', '1'}: "enterprise",
	{'9', '2'}: "individual business",
	{'9', '3'}: "farmers' cooperative",
	{'A', '1'}: "military public institution",
	{'A', '9'}: "other (military establishment)",
	{'N', '1'}: "group-level collective economic organisation",
	{'N', '2'}: "village-level collective economic organisation",
	{'N', '3'}: "township-level collective economic organisation",
	{'N', '9'}: "other (agriculture)",
	{'Y', '1'}: "other",
}

// nationalRegion is the region code used by national-level registration
// authorities (e.g. central public institutions, 121000…). It is not a
// GB/T 2260 division, but GB 32100 codes carry it.
const nationalRegion = "100000"

// ParseUSCC validates an 18-character Unified Social Credit Code
// (GB 32100-2015) and returns its decoded parts.
//
// Input is normalised first, by pseudonym.DocumentNumber, the rule resident
// identity numbers and the stored hashes share: compatibility forms are
// folded (NFKC: full-width digits and letters become ASCII), white space,
// dashes and invisible format characters are removed wherever they are, and
// letters are upper-cased. Anything else stays and is refused. The checks,
// in order, are: length, alphabet, the MOD 31 check character (char 18), the
// department/type pair against GB 32100 Table 1, and the region (chars 3-8
// must be digits with a known province prefix, or 100000 for national level).
//
// The GB 11714 check character of the embedded organisation code (char 17)
// is reported in OrgCodeValid and never makes the code invalid: the MOD 31
// check already covers every character, and genuine codes (individual
// businesses' above all) carry organisation codes that fail their own check.
//
// The region is checked only to province level on purpose: authorities in
// development zones register under codes that are not GB/T 2260 divisions,
// so a full-table check would reject genuine codes. RegionName tells whether
// the full code is a known division.
//
// Errors are *CodeError wrapping ErrLength, ErrCharset, ErrChecksum,
// ErrOrgType or ErrRegion, and never contain the code.
func ParseUSCC(s string) (USCC, error) {
	code, err := normaliseUSCC(s)
	if err != nil {
		return USCC{}, err
	}

	if c, _ := CheckCharacter(code[:17]); c != code[17] {
		return USCC{}, codeErr("check character", ErrChecksum)
	}

	label, ok := orgTypeLabels[orgTypeKey{code[0], code[1]}]
	if !ok {
		return USCC{}, codeErr("organisation type", ErrOrgType)
	}

	region := code[2:8]
	var regionName string
	if region != nationalRegion {
		if !isDigits(region) || !identity.KnownProvince(region[:2]) {
			return USCC{}, codeErr("region", ErrRegion)
		}
		if r, ok := identity.LookupRegion(region); ok {
			regionName = r.Name
		}
	}

	return USCC{
		Code:            code,
		Department:      code[0],
		DepartmentLabel: departmentLabels[code[0]],
		OrgType:         code[1],
		OrgTypeLabel:    label,
		Region:          region,
		RegionName:      regionName,
		OrgCode:         code[8:17],
		OrgCodeValid:    orgCodeValid(code[8:17]),
	}, nil
}

// orgCodeValid checks a nine-character GB 11714 organisation code.
func orgCodeValid(oc string) bool {
	c, ok := OrgCheckCharacter(oc[:8])
	return ok && oc[8] == c
}

// CheckCharacter returns the GB 32100 MOD 31 check character (the 18th)
// of a code's first 17 characters; ok is false when body is not 17
// characters of the code's alphabet (0-9 and A-Y without I, O, S, V, Z).
func CheckCharacter(body string) (c byte, ok bool) {
	if len(body) != 17 {
		return 0, false
	}
	sum := 0
	for i := range 17 {
		v := usccValue[body[i]]
		if v < 0 {
			return 0, false
		}
		sum += int(v) * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31], true
}

// OrgCheckCharacter returns the GB 11714 check character (the ninth) of an
// organisation code's first eight characters: 11 - (weighted sum mod 11),
// written 'X' for 10 and '0' for 11, with character values 0-9 for digits
// and 10-35 for A-Z. ok is false when body is not eight digits or
// upper-case letters.
func OrgCheckCharacter(body string) (c byte, ok bool) {
	if len(body) != 8 {
		return 0, false
	}
	sum := 0
	for i := range 8 {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		default:
			return 0, false
		}
		sum += v * orgWeights[i]
	}
	switch r := 11 - sum%11; r {
	case 10:
		return 'X', true
	case 11:
		return '0', true
	default:
		return byte('0' + r), true
	}
}

// normaliseUSCC puts s in its canonical form and checks length and
// alphabet. It returns s itself when s was already canonical.
func normaliseUSCC(s string) (string, error) {
	code := pseudonym.DocumentNumber(s)
	if utf8.RuneCountInString(code) != 18 {
		return "", codeErr("code", ErrLength)
	}
	for i := 0; i < len(code); i++ {
		if usccValue[code[i]] < 0 {
			return "", codeErr("code", ErrCharset)
		}
	}
	return code, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
