package returns

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Tolerance is how far a returned parcel may weigh from what was declared
// for it before the return counts as a mismatch: the larger of an absolute
// floor (packaging, a re-taped box, the scale) and a share of the declared
// weight (which grows with the item).
type Tolerance struct {
	Percent float64
	Grams   int64
}

// grams is the tolerance for a parcel declared at declared grams.
func (t Tolerance) grams(declared int64) int64 {
	return max(t.Grams, int64(math.Floor(float64(declared)*t.Percent/100)))
}

// Settings are what a policy may set for the returns verifier (its
// settings: key): weight tolerances by item category.
type Settings struct {
	// Default applies to a category no entry matches.
	Default Tolerance
	// PackagingGrams is what a parcel may weigh more than the item on top
	// of the tolerance: a buyer returns a light item in its box and bag,
	// some 50-100 g, while a swapped item is almost always lighter (a
	// cheaper model, parts kept). Lighter parcels get no such slack.
	PackagingGrams int64
	// categories are the entries, keys normalised (lower case, segments
	// trimmed, joined by "/").
	categories []category
}

type category struct {
	path string
	tol  Tolerance
}

// The default tolerances, when the policy sets none. A swapped return is
// typically a cheaper item of the same kind, 10-15% lighter; a genuine
// return varies by the scale and the wrapping, a few percent or some
// 20-30 g whatever the item, and comes back heavier in its packaging. So:
//   - default 5%, at least 30 g: a 1 kg parcel may be 50 g light;
//   - electronics (and phones, computers, cameras) 4%, at least 20 g: a
//     phone, a lens or a laptop ships in its own fitted box, so it weighs
//     what it weighed (within the 3% a scale and a re-taped box make), and
//     a 300 g phone back at 260 g (13% light: another model, or one
//     without its battery) is a mismatch;
//   - clothing (and apparel, shoes) 10%, at least 50 g: soft goods are
//     folded and bagged anew, and a 2 kg coat 100 g light is packaging;
//   - heavier parcels 100 g more on top of each: the item's box and bag.
var defaultSettings = mustSettings(Tolerance{Percent: 5, Grams: 30}, 100, map[string]Tolerance{
	"electronics": {Percent: 4, Grams: 20},
	"phones":      {Percent: 4, Grams: 20},
	"computers":   {Percent: 4, Grams: 20},
	"cameras":     {Percent: 4, Grams: 20},
	"clothing":    {Percent: 10, Grams: 50},
	"apparel":     {Percent: 10, Grams: 50},
	"shoes":       {Percent: 10, Grams: 50},
})

// DefaultSettings returns the settings the verifier uses when the policy
// sets none.
func DefaultSettings() *Settings { return defaultSettings }

func mustSettings(def Tolerance, packaging int64, cats map[string]Tolerance) *Settings {
	s, err := NewSettings(def, packaging, cats)
	if err != nil {
		panic(err)
	}
	return s
}

// Limits on a tolerance, checked at load.
const (
	maxTolerancePercent = 100
	maxToleranceGrams   = 100_000
	maxCategories       = 1000
)

// NewSettings checks and builds weight settings: each tolerance between 0
// and 100% and 0 and 100 kg, the packaging allowance between 0 and 100 kg;
// category paths of non-empty segments separated by "/", each named once
// whatever its case.
func NewSettings(def Tolerance, packagingGrams int64, cats map[string]Tolerance) (*Settings, error) {
	if err := checkTolerance(def); err != nil {
		return nil, fmt.Errorf("default: %w", err)
	}
	if packagingGrams < 0 || packagingGrams > maxToleranceGrams {
		return nil, fmt.Errorf("packaging_grams %d must be between 0 and %d", packagingGrams, maxToleranceGrams)
	}
	if len(cats) > maxCategories {
		return nil, fmt.Errorf("%d categories, more than the %d allowed", len(cats), maxCategories)
	}
	s := &Settings{Default: def, PackagingGrams: packagingGrams}
	seen := map[string]string{}
	for raw, tol := range cats {
		path, err := normalisePath(raw)
		if err != nil {
			return nil, fmt.Errorf("category %q: %w", raw, err)
		}
		if other, dup := seen[path]; dup {
			return nil, fmt.Errorf("categories %q and %q are the same category", other, raw)
		}
		seen[path] = raw
		if err := checkTolerance(tol); err != nil {
			return nil, fmt.Errorf("category %q: %w", raw, err)
		}
		s.categories = append(s.categories, category{path: path, tol: tol})
	}
	return s, nil
}

func checkTolerance(t Tolerance) error {
	if math.IsNaN(t.Percent) || t.Percent < 0 || t.Percent > maxTolerancePercent {
		return fmt.Errorf("percent %v must be between 0 and %d", t.Percent, maxTolerancePercent)
	}
	if t.Grams < 0 || t.Grams > maxToleranceGrams {
		return fmt.Errorf("grams %d must be between 0 and %d", t.Grams, maxToleranceGrams)
	}
	return nil
}

// normalisePath lower-cases a category path and trims its segments.
func normalisePath(raw string) (string, error) {
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			return "", errors.New("every segment between slashes must be named")
		}
		segs[i] = s
	}
	return strings.Join(segs, "/"), nil
}

// Lookup returns the entry for an item category and its tolerance: the
// entry whose path is the longest prefix of the category, matched by whole
// segments and regardless of case ("Electronics/Phone/Android" is
// electronics/phone if listed, else electronics), or "" and Default. It
// allocates nothing: it runs on every refund.
func (s *Settings) Lookup(itemCategory string) (string, Tolerance) {
	c := strings.TrimSpace(itemCategory)
	best, tol := "", s.Default
	for _, e := range s.categories {
		if len(e.path) > len(best) && segmentPrefix(c, e.path) {
			best, tol = e.path, e.tol
		}
	}
	return best, tol
}

// segmentPrefix reports whether path (normalised) is c, or c's leading
// segments, comparing segments case-insensitively and without the blanks
// around them.
func segmentPrefix(c, path string) bool {
	for {
		pseg, prest, pmore := strings.Cut(path, "/")
		cseg, crest, cmore := strings.Cut(c, "/")
		if !strings.EqualFold(strings.TrimSpace(cseg), pseg) {
			return false
		}
		if !pmore {
			return true
		}
		if !cmore {
			return false
		}
		path, c = prest, crest
	}
}

// LineError is a settings problem and the line of the policy it is on.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return e.Err.Error() }

func (e *LineError) Unwrap() error { return e.Err }

func lineErr(line int, format string, args ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, args...)}
}

// Weight is the comparison of a returned parcel with what was declared.
type Weight struct {
	// Measured says both weights were given; the rest is zero otherwise.
	Measured bool
	// Category is the settings entry that applied ("" for the default).
	Category string
	// DeltaGrams is measured minus declared: negative when lighter.
	DeltaGrams int64
	// ToleranceGrams is the tolerance in the direction of the delta (a
	// heavier parcel's includes the packaging allowance).
	ToleranceGrams int64
	// Mismatch: the parcel is lighter or heavier by more than the
	// tolerance.
	Mismatch bool
}

// Weigh compares a returned parcel's measured weight with its declared
// one under the tolerance for its category. A weight of 0 is "not
// given": nothing is claimed then.
func (s *Settings) Weigh(itemCategory string, declared, measured int64) Weight {
	cat, tol := s.Lookup(itemCategory)
	w := Weight{Category: cat}
	if declared <= 0 || measured <= 0 {
		return w
	}
	w.Measured = true
	w.DeltaGrams = measured - declared
	w.ToleranceGrams = tol.grams(declared)
	if w.DeltaGrams > 0 {
		w.ToleranceGrams += s.PackagingGrams
	}
	w.Mismatch = max(w.DeltaGrams, -w.DeltaGrams) > w.ToleranceGrams
	return w
}

// ParseSettings reads the returns verifier's settings from a policy:
//
//	settings:
//	  weight_tolerance:
//	    default: {percent: 5, grams: 30}
//	    packaging_grams: 100
//	    categories:
//	      electronics: {percent: 4, grams: 20}
//
// A key left out keeps its built-in value: without default, the built-in
// default; without packaging_grams, 100; without categories, the built-in
// ones.
func ParseSettings(n *yaml.Node) (*Settings, error) {
	top, err := mapping(n, "settings", "weight_tolerance")
	if err != nil {
		return nil, err
	}
	wt, ok := top["weight_tolerance"]
	if !ok {
		return DefaultSettings(), nil
	}
	fields, err := mapping(wt, "weight_tolerance", "default", "packaging_grams", "categories")
	if err != nil {
		return nil, err
	}
	packaging := defaultSettings.PackagingGrams
	if p, ok := fields["packaging_grams"]; ok {
		if err := p.Decode(&packaging); err != nil {
			return nil, lineErr(p.Line, "weight_tolerance.packaging_grams must be a whole number")
		}
	}
	def := defaultSettings.Default
	if d, ok := fields["default"]; ok {
		if def, err = parseTolerance(d, "weight_tolerance.default"); err != nil {
			return nil, err
		}
	}
	cats := map[string]Tolerance{}
	if c, ok := fields["categories"]; ok {
		if c.Kind != yaml.MappingNode {
			return nil, lineErr(c.Line, "weight_tolerance.categories must map a category to a tolerance")
		}
		seen := map[string]string{}
		for i := 0; i+1 < len(c.Content); i += 2 {
			name := c.Content[i].Value
			path, err := normalisePath(name)
			if err != nil {
				return nil, lineErr(c.Content[i].Line, "category %q: %w", name, err)
			}
			if other, dup := seen[path]; dup {
				return nil, lineErr(c.Content[i].Line, "categories %q and %q are the same category", other, name)
			}
			seen[path] = name
			if cats[name], err = parseTolerance(c.Content[i+1], "weight_tolerance.categories."+name); err != nil {
				return nil, err
			}
		}
	} else {
		for _, e := range defaultSettings.categories {
			cats[e.path] = e.tol
		}
	}
	s, err := NewSettings(def, packaging, cats)
	if err != nil {
		return nil, lineErr(wt.Line, "weight_tolerance: %w", err)
	}
	return s, nil
}

func parseTolerance(n *yaml.Node, where string) (Tolerance, error) {
	fields, err := mapping(n, where, "percent", "grams")
	if err != nil {
		return Tolerance{}, err
	}
	var t Tolerance
	p, okP := fields["percent"]
	g, okG := fields["grams"]
	if !okP || !okG {
		return t, lineErr(n.Line, "%s needs both percent and grams", where)
	}
	if err := p.Decode(&t.Percent); err != nil {
		return t, lineErr(p.Line, "%s.percent must be a number", where)
	}
	if err := g.Decode(&t.Grams); err != nil {
		return t, lineErr(g.Line, "%s.grams must be a whole number", where)
	}
	if err := checkTolerance(t); err != nil {
		return t, lineErr(n.Line, "%s: %w", where, err)
	}
	return t, nil
}

// mapping returns a YAML mapping's values by key, refusing keys not
// allowed (a misspelt key must not silently keep a default).
func mapping(n *yaml.Node, where string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, lineErr(n.Line, "%s must be a mapping", where)
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		known := false
		for _, a := range allowed {
			known = known || k.Value == a
		}
		if !known {
			return nil, lineErr(k.Line, "%s: unknown field %q (want %s)", where, k.Value, strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, lineErr(k.Line, "%s: %q given twice", where, k.Value)
		}
		out[k.Value] = n.Content[i+1]
	}
	return out, nil
}
