package quality

import (
	"fmt"
	"strconv"
	"time"
)

// Relative times. A corpus is written once and run on any day, so every
// timestamp in it is relative to the moment the case runs:
//
//	now          the runner's clock
//	now-200d     200 days ago
//	now-3h30m    three and a half hours ago
//	now+90s      90 seconds ahead
//
// After "now" comes nothing, or a sign and one or more <integer><unit>
// terms, units d (24 hours), h, m and s, each unit at most once and in that
// order. Nothing else is a relative time: a string that does not start
// with "now" is left as it is, and one that does but does not parse is an
// error, so a typo cannot silently become a literal.

// maxOffset bounds an offset: 100 years is far beyond any window riskd
// reads, and keeps the arithmetic away from overflow.
const maxOffset = 100 * 366 * 24 * time.Hour

var units = []struct {
	c byte
	d time.Duration
}{{'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}}

// IsRelative reports whether s claims to be a relative time (it starts
// with "now"); ParseRelative says whether it is a good one.
func IsRelative(s string) bool { return len(s) >= 3 && s[:3] == "now" }

// ParseRelative returns the offset from now that s names.
func ParseRelative(s string) (time.Duration, error) {
	if !IsRelative(s) {
		return 0, fmt.Errorf("relative time %q: must start with \"now\"", s)
	}
	rest := s[3:]
	if rest == "" {
		return 0, nil
	}
	sign := time.Duration(1)
	switch rest[0] {
	case '-':
		sign = -1
	case '+':
	default:
		return 0, fmt.Errorf("relative time %q: want now, now-<offset> or now+<offset> (e.g. now-200d, now-3h30m)", s)
	}
	rest = rest[1:]
	if rest == "" {
		return 0, fmt.Errorf("relative time %q: offset missing after the sign", s)
	}
	var total time.Duration
	next := 0 // index into units: each unit once, largest first
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("relative time %q: expected a number at %q", s, rest)
		}
		if i == len(rest) {
			return 0, fmt.Errorf("relative time %q: number %s has no unit (d, h, m or s)", s, rest)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("relative time %q: offset too large", s)
		}
		u := -1
		for j := next; j < len(units); j++ {
			if units[j].c == rest[i] {
				u = j
				break
			}
		}
		if u < 0 {
			return 0, fmt.Errorf("relative time %q: unit %q is unknown, repeated or out of order (use d, h, m, s in that order)", s, rest[i])
		}
		next = u + 1
		if n > int64(maxOffset/units[u].d) { // before multiplying: no overflow
			return 0, fmt.Errorf("relative time %q: offset too large (more than 100 years)", s)
		}
		total += time.Duration(n) * units[u].d
		if total > maxOffset {
			return 0, fmt.Errorf("relative time %q: offset too large (more than 100 years)", s)
		}
		rest = rest[i+1:]
	}
	return sign * total, nil
}

// FormatRelative writes d in the form ParseRelative reads; the generator
// uses it so every timestamp it writes round-trips.
func FormatRelative(d time.Duration) string {
	if d == 0 {
		return "now"
	}
	out := "now+"
	if d < 0 {
		out, d = "now-", -d
	}
	for _, u := range units {
		if n := d / u.d; n > 0 {
			out += strconv.FormatInt(int64(n), 10) + string(u.c)
			d -= n * u.d
		}
	}
	if d > 0 { // below a second: not expressible, rounded away
		if out[len(out)-1] == '+' || out[len(out)-1] == '-' {
			return "now"
		}
	}
	return out
}
