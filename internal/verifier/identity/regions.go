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
// historical, one code per line ("code,name,since,until"). It is embedded so
// validation never touches the network or the file system at run time; see
// data/README.md for its source and licence.
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
	// Since is the first year the code appears in the data. The data begins
	// with 1981, so 1981 means "already in use in 1981".
	Since int
	// Until is the year the code was abolished, or 0 if it is still in use.
	// Identity numbers keep the code they were issued with for life, so an
	// abolished code is normal on an old number; it is a risk signal only
	// when the holder was born after the code went out of use.
	Until int
}

// Current reports whether the code is still in use.
func (r Region) Current() bool { return r.Until == 0 }

// taiwanResidencePermitCode is the address code printed on residence permits
// for Taiwan residents (台湾居民居住证, issued since 2018). Unlike 810000 (Hong
// Kong) and 820000 (Macao) it is not a GB/T 2260 code, so it is not in the
// table, but numbers carrying it are genuine and follow GB 11643 otherwise.
const taiwanResidencePermitCode = "830000"

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

// parseRegionTable reads "code,name,since,until" lines (with a header) into a
// slice sorted by code. Names are substrings of data, so no text is copied.
func parseRegionTable(data string) ([]Region, error) {
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	if len(lines) < 2 || lines[0] != "code,name,since,until" {
		return nil, fmt.Errorf("missing or unexpected header")
	}
	out := make([]Region, 0, len(lines)-1)
	for i, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) != 4 || !isDigits(f[0]) || len(f[0]) != 6 || f[1] == "" {
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
		out = append(out, Region{Code: f[0], Name: f[1], Since: since, Until: until})
	}
	return out, nil
}

// LookupRegion returns the GB/T 2260 division with the given six-digit code.
// The table holds every county-level and higher code in use since 1981,
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

// KnownRegion reports whether code is a six-digit GB/T 2260 code, current or
// historical.
func KnownRegion(code string) bool {
	_, ok := LookupRegion(code)
	return ok
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

// RegionCount returns the number of codes in the embedded table.
func RegionCount() int { return len(regionTable()) }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
