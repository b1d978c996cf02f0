package identity

import (
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// gbt2260CSV is the GB/T 2260 administrative-division code table, current and
// historical, one code per line ("code,name,since,until,source"). It is
// embedded so validation never touches the network or the file system at
// run time; see data/README.md for its sources, licence and derivation.
//
//go:embed data/gbt2260.csv
var gbt2260CSV string

// Region is one GB/T 2260 administrative-division code (province, prefecture
// or county level).
type Region struct {
	// Code is the six-digit division code.
	Code string
	// Name is the official Chinese name the code last carried.
	Name string
	// Since is the first year the code appears in the data (1980 at the
	// earliest: the Ministry's first list).
	Since int
	// Until is the year the code was abolished, or 0 if it is still in use.
	// Identity numbers keep the code they were issued with for life, so an
	// abolished code is normal on an old number; it is a risk signal only
	// when the holder was born after the code went out of use.
	Until int
	// Source says where the code comes from: "areacodes" (the compiled,
	// corrected table), "mca" (only in the Ministry's lists as published),
	// "derived" (an xxxx01 市辖区 summary code) or "mca+derived".
	Source string
	// AddressCode reports whether a resident identity number may carry the
	// code as its address code; see markAddressCodes for the rule.
	AddressCode bool
}

// Current reports whether the code is still in use.
func (r Region) Current() bool { return r.Until == 0 }

// Residence permits for residents of Hong Kong, Macao and Taiwan (港澳台居民
// 居住证, issued since 2018) are numbered like resident identity numbers, with
// these address codes. 810000 and 820000 are the province-level GB/T 2260
// codes; 830000 is not a GB/T 2260 code at all (Taiwan is 710000), so it is
// not in the table. Numbers carrying them are genuine documents.
const (
	hongKongPermitCode = "810000"
	macaoPermitCode    = "820000"
	taiwanPermitCode   = "830000"
)

// ResidencePermit returns "HK", "MO" or "TW" when code is the address code of
// a residence permit for residents of Hong Kong, Macao or Taiwan, else "".
func ResidencePermit(code string) string {
	switch code {
	case hongKongPermitCode:
		return "HK"
	case macaoPermitCode:
		return "MO"
	case taiwanPermitCode:
		return "TW"
	}
	return ""
}

// regionTable parses the embedded table once, on first use, so that programs
// that never validate a number pay nothing at start-up.
var regionTable = sync.OnceValue(func() []Region {
	t, err := parseRegionTable(gbt2260CSV)
	if err != nil {
		// The table is compiled into the binary and covered by tests; a
		// failure here is a build defect, not bad input.
		panic("identity: embedded GB/T 2260 table is malformed: " + err.Error())
	}
	return t
})

// regionSources are the values the source column may take.
var regionSources = map[string]bool{"areacodes": true, "mca": true, "derived": true, "mca+derived": true}

// parseRegionTable reads "code,name,since,until,source" lines (with a
// header) into a slice sorted by code, and marks the address codes. Names
// are substrings of data, so no text is copied.
func parseRegionTable(data string) ([]Region, error) {
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	if len(lines) < 2 || lines[0] != "code,name,since,until,source" {
		return nil, fmt.Errorf("missing or unexpected header")
	}
	out := make([]Region, 0, len(lines)-1)
	for i, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) != 5 || !isDigits(f[0]) || len(f[0]) != 6 || f[1] == "" || !regionSources[f[4]] {
			return nil, fmt.Errorf("line %d: malformed record", i+2)
		}
		since, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: bad since year", i+2)
		}
		until := 0
		if f[3] != "" {
			if until, err = strconv.Atoi(f[3]); err != nil {
				return nil, fmt.Errorf("line %d: bad until year", i+2)
			}
		}
		if n := len(out); n > 0 && out[n-1].Code >= f[0] {
			return nil, fmt.Errorf("line %d: codes not strictly ascending", i+2)
		}
		out = append(out, Region{Code: f[0], Name: f[1], Since: since, Until: until, Source: f[4]})
	}
	markAddressCodes(out)
	return out, nil
}

// firstDistrictYear is the first year whose lists give cities their
// districts: GB/T 2260-1984 introduced district codes and applied them back
// to 1983. In the 1980-1982 lists every city looks as if it had nothing
// under it, which says nothing about where people were registered (and
// numbers were first issued in 1984).
const firstDistrictYear = 1983

// markAddressCodes decides, for every code of t (sorted by code), whether a
// resident identity number may carry it as its address code (GB 11643 地址码:
// the county-level division where the holder's household was registered when
// the number was first issued). The rule:
//
//   - A province-level code (xx0000): never. No province registers a
//     household itself. (The residence permits of Hong Kong, Macao and
//     Taiwan residents carry 810000, 820000 or 830000 on purpose; ParseResidentID
//     accepts those as permits, not as places.)
//   - A county-level code (anything not ending in 00): always. Counties,
//     districts, county-level cities, the historical xxxx01 市辖区 summary
//     codes of cities with districts, and the province-administered xx90xx
//     codes are all places numbers were issued.
//   - A prefecture-level code (xxxx00): only when, in some year from 1983,
//     the prefecture had no county-level code under it. Such a city
//     (Dongguan 441900, Zhongshan 442000, Jiayuguan 620200, Danzhou 460400,
//     and in their time Sanya 460200 and Sansha 460300) registers its
//     residents under its own code. A prefecture with counties or districts
//     under it registers nobody itself, so its code on a number is made up.
//
// Years are taken from Since and Until, Until being the first year without
// the code.
func markAddressCodes(t []Region) {
	const open = 1 << 30 // Until of a code still in use
	end := func(r Region) int {
		if r.Until == 0 {
			return open
		}
		return r.Until
	}
	for i := range t {
		code := t[i].Code
		switch {
		case code[2:] == "0000":
			t[i].AddressCode = false
		case code[4:] != "00":
			t[i].AddressCode = true
		default:
			// t is sorted, so the codes under xxxx00 follow it directly.
			var under [][2]int
			for j := i + 1; j < len(t) && t[j].Code[:4] == code[:4]; j++ {
				under = append(under, [2]int{t[j].Since, end(t[j])})
			}
			t[i].AddressCode = hasGap(max(t[i].Since, firstDistrictYear), end(t[i]), under)
		}
	}
}

// hasGap reports whether some year in [from, to) is in none of the spans
// [since, until).
func hasGap(from, to int, spans [][2]int) bool {
	if from >= to {
		return false
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	covered := from // every year before covered is in some span
	for _, s := range spans {
		if s[0] > covered {
			break
		}
		covered = max(covered, s[1])
	}
	return covered < to
}

// LookupRegion returns the GB/T 2260 division with the given six-digit code.
// The table holds every county-level and higher code published since 1980,
// including abolished ones, because identity numbers keep the code they were
// issued with.
func LookupRegion(code string) (Region, bool) {
	if len(code) != 6 || !isDigits(code) {
		return Region{}, false
	}
	t := regionTable()
	i, ok := slices.BinarySearchFunc(t, code, func(r Region, c string) int {
		return strings.Compare(r.Code, c)
	})
	if !ok {
		return Region{}, false
	}
	return t[i], true
}

// KnownProvince reports whether prefix is the two-digit code of a
// province-level division (11 Beijing … 65 Xinjiang, 71 Taiwan, 81 Hong Kong,
// 82 Macao), i.e. whether prefix+"0000" is in the table.
func KnownProvince(prefix string) bool {
	if len(prefix) != 2 || !isDigits(prefix) {
		return false
	}
	return provinceSet()[atoi(prefix)]
}

// provinceSet indexes the province-level codes by their two-digit prefix, so
// KnownProvince needs neither a search nor a string concatenation.
var provinceSet = sync.OnceValue(func() (set [100]bool) {
	for _, r := range regionTable() {
		if r.Code[2:] == "0000" {
			set[atoi(r.Code[:2])] = true
		}
	}
	return set
})

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
