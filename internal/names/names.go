// Package names compares people's and companies' names the way they are
// typed on forms: full-width and half-width characters, case, spaces and
// the middle dot of transcribed names (买买提·艾力) differ between forms
// of the same name. Latin names may also come in either order ("Chen Wei",
// "Wei Chen").
package names

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Canonical is the comparable form of a name: NFKC, lower case, without
// spaces, dots, hyphens and invisible characters.
func Canonical(s string) string {
	s = norm.NFKC.String(strings.ToValidUTF8(s, ""))
	var b strings.Builder
	for _, r := range s {
		if unicode.IsSpace(r) || isSeparator(r) || invisible(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFKC.String(b.String())
}

// invisible reports the characters a name may carry without showing them,
// which are removed before names are compared (one rule, for every
// comparison): format characters (zero-width space and joiners, the byte
// order mark, bidirectional overrides and isolates: Unicode category Cf)
// and control characters other than white space (category Cc). So 张三
// with a zero-width joiner, or behind a right-to-left override, is 张三.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || (unicode.IsControl(r) && !unicode.IsSpace(r))
}

func isSeparator(r rune) bool {
	switch r {
	case '·', '•', '・', '.', '‧', ',', '，':
		return true
	}
	return unicode.In(r, unicode.Dash, unicode.Hyphen)
}

// Same reports whether two names are one name as typed two ways. Names of
// Latin letters also match with their words in another order (given name
// first or last); Chinese names do not, where order is part of the name.
// Blank names match nothing.
func Same(a, b string) bool {
	ca, cb := Canonical(a), Canonical(b)
	if ca == "" || cb == "" {
		return false
	}
	if ca == cb {
		return true
	}
	wa, wb := words(a), words(b)
	if len(wa) < 2 || len(wa) != len(wb) || !latin(wa) || !latin(wb) {
		return false
	}
	slices.Sort(wa)
	slices.Sort(wb)
	return slices.Equal(wa, wb)
}

// latin reports whether every word is Latin letters only.
func latin(ws []string) bool {
	for _, w := range ws {
		for _, r := range w {
			if !unicode.Is(unicode.Latin, r) {
				return false
			}
		}
	}
	return true
}

// words splits a name into lower-case words at spaces and separators,
// invisible characters removed first (so they never split a word).
func words(s string) []string {
	s = strings.ToLower(norm.NFKC.String(strings.ToValidUTF8(s, "")))
	s = strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, s)
	return strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || isSeparator(r) })
}
