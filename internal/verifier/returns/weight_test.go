package returns_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/returns"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.yaml.in/yaml/v3"
)

func TestWeigh(t *testing.T) {
	custom, err := returns.NewSettings(returns.Tolerance{Percent: 5, Grams: 30}, 0, map[string]returns.Tolerance{
		"Electronics":       {Percent: 3, Grams: 20},
		"electronics/phone": {Percent: 2, Grams: 10},
		"数码":                {Percent: 4, Grams: 25},
	})
	if err != nil {
		t.Fatal(err)
	}
	def := returns.DefaultSettings()
	tests := []struct {
		name               string
		s                  *returns.Settings
		category           string
		declared, measured int64
		want               returns.Weight
	}{
		// Issue 16's cases.
		{"phone 300g back at 260g (13% light) is a mismatch", def, "electronics", 300, 260,
			returns.Weight{Measured: true, Category: "electronics", DeltaGrams: -40, ToleranceGrams: 20, Mismatch: true}},
		{"coat 2kg back 100g light is not", def, "clothing", 2000, 1900,
			returns.Weight{Measured: true, Category: "clothing", DeltaGrams: -100, ToleranceGrams: 200}},
		{"Electronics/Phone/Android is electronics", def, "Electronics/Phone/Android", 300, 260,
			returns.Weight{Measured: true, Category: "electronics", DeltaGrams: -40, ToleranceGrams: 20, Mismatch: true}},
		// Matching.
		{"blanks around segments", def, "  electronics / phone ", 300, 300,
			returns.Weight{Measured: true, Category: "electronics", ToleranceGrams: 20}},
		{"a single segment, any case", def, "PHONES", 300, 300,
			returns.Weight{Measured: true, Category: "phones", ToleranceGrams: 20}},
		{"a prefix of a segment is not the category", def, "electronicsx", 300, 300,
			returns.Weight{Measured: true, ToleranceGrams: 30}},
		{"a longer entry does not match a shorter category", custom, "Electronics", 1000, 1000,
			returns.Weight{Measured: true, Category: "electronics", ToleranceGrams: 30}},
		{"the longest prefix wins", custom, "ELECTRONICS/Phone/Android", 1000, 1000,
			returns.Weight{Measured: true, Category: "electronics/phone", ToleranceGrams: 20}},
		{"a sibling keeps the parent's", custom, "electronics/laptop", 1000, 1000,
			returns.Weight{Measured: true, Category: "electronics", ToleranceGrams: 30}},
		{"not only ASCII", custom, "数码/相机", 1000, 1000,
			returns.Weight{Measured: true, Category: "数码", ToleranceGrams: 40}},
		{"no category is the default", def, "", 1000, 1000,
			returns.Weight{Measured: true, ToleranceGrams: 50}},
		// Tolerance.
		{"the floor for a light parcel: 30g off 200g is within", def, "cosmetics", 200, 170,
			returns.Weight{Measured: true, DeltaGrams: -30, ToleranceGrams: 30}},
		{"31g off 200g is not", def, "cosmetics", 200, 169,
			returns.Weight{Measured: true, DeltaGrams: -31, ToleranceGrams: 30, Mismatch: true}},
		{"the share for a heavy parcel: 5% of 10kg", def, "furniture", 10000, 9500,
			returns.Weight{Measured: true, DeltaGrams: -500, ToleranceGrams: 500}},
		{"one gram more", def, "furniture", 10000, 9499,
			returns.Weight{Measured: true, DeltaGrams: -501, ToleranceGrams: 500, Mismatch: true}},
		{"a heavier parcel gets the packaging on top", def, "cosmetics", 283, 413,
			returns.Weight{Measured: true, DeltaGrams: 130, ToleranceGrams: 130}},
		{"heavier beyond packaging counts too", def, "cosmetics", 283, 414,
			returns.Weight{Measured: true, DeltaGrams: 131, ToleranceGrams: 130, Mismatch: true}},
		{"a laptop 3% light is the scale", def, "computers", 1596, 1548,
			returns.Weight{Measured: true, Category: "computers", DeltaGrams: -48, ToleranceGrams: 63}},
		{"without a packaging allowance", custom, "toys", 1000, 1051,
			returns.Weight{Measured: true, DeltaGrams: 51, ToleranceGrams: 50, Mismatch: true}},
		{"not measured: nothing claimed", def, "electronics", 300, 0,
			returns.Weight{Category: "electronics"}},
		{"not declared: nothing claimed", def, "", 0, 300, returns.Weight{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Weigh(tt.category, tt.declared, tt.measured); got != tt.want {
				t.Errorf("Weigh(%q, %d, %d) = %+v, want %+v", tt.category, tt.declared, tt.measured, got, tt.want)
			}
		})
	}
}

func TestWeighAllocatesNothing(t *testing.T) {
	s := returns.DefaultSettings()
	if n := testing.AllocsPerRun(100, func() { s.Weigh("Electronics/Phone/Android", 300, 260) }); n != 0 {
		t.Errorf("Weigh allocates %v times per call, want 0: it runs on every refund", n)
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		line int    // 0: valid
		want string // a fragment of the error
		// check runs on a valid result
		check func(t *testing.T, s *returns.Settings)
	}{
		{name: "a full table", doc: `
weight_tolerance:
  default: {percent: 4.5, grams: 25}
  packaging_grams: 0
  categories:
    electronics: {percent: 2, grams: 15}
    Electronics/Phone: {percent: 1, grams: 10}`, check: func(t *testing.T, s *returns.Settings) {
			if got := s.Weigh("electronics/phone/x", 1000, 1000); got.Category != "electronics/phone" || got.ToleranceGrams != 10 {
				t.Errorf("phone: %+v", got)
			}
			if got := s.Weigh("toys", 1000, 1000); got.ToleranceGrams != 45 {
				t.Errorf("default: %+v", got)
			}
			if got := s.Weigh("toys", 1000, 1046); !got.Mismatch {
				t.Errorf("packaging_grams 0: %+v", got)
			}
		}},
		{name: "categories only: the built-in default stays", doc: `
weight_tolerance:
  categories: {books: {percent: 1, grams: 5}}`, check: func(t *testing.T, s *returns.Settings) {
			if got := s.Weigh("toys", 1000, 1000); got.ToleranceGrams != 50 {
				t.Errorf("default: %+v", got)
			}
			if got := s.Weigh("electronics", 1000, 1000); got.Category != "" {
				t.Errorf("categories given replace the built-in ones: %+v", got)
			}
		}},
		{name: "default only: the built-in categories stay", doc: `
weight_tolerance:
  default: {percent: 1, grams: 5}`, check: func(t *testing.T, s *returns.Settings) {
			if got := s.Weigh("electronics", 1000, 1000); got.Category != "electronics" {
				t.Errorf("electronics: %+v", got)
			}
		}},
		{name: "unknown key", doc: "weight_tolerances: {}", line: 2, want: `unknown field "weight_tolerances"`},
		{name: "unknown key in a tolerance", doc: "weight_tolerance:\n  default: {percent: 5, gram: 30}", line: 3, want: `unknown field "gram"`},
		{name: "grams missing", doc: "weight_tolerance:\n  default: {percent: 5}", line: 3, want: "needs both percent and grams"},
		{name: "percent above 100", doc: "weight_tolerance:\n  categories:\n    x: {percent: 101, grams: 5}", line: 4, want: "percent 101 must be between 0 and 100"},
		{name: "negative grams", doc: "weight_tolerance:\n  default: {percent: 5, grams: -1}", line: 3, want: "grams -1"},
		{name: "negative packaging", doc: "weight_tolerance:\n  packaging_grams: -1", line: 3, want: "packaging_grams -1"},
		{name: "grams not a number", doc: "weight_tolerance:\n  default: {percent: 5, grams: lots}", line: 3, want: "grams must be a whole number"},
		{name: "the same category in two cases", doc: "weight_tolerance:\n  categories:\n    Phones: {percent: 1, grams: 5}\n    phones: {percent: 2, grams: 5}", line: 5, want: "are the same category"},
		{name: "an empty segment", doc: "weight_tolerance:\n  categories:\n    electronics//phone: {percent: 1, grams: 5}", line: 4, want: "every segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(strings.TrimPrefix(tt.doc, "\n")), &n); err != nil {
				t.Fatal(err)
			}
			// The settings sit one line below the document's start in a
			// policy; here they start on line 1, so lines are shifted by one.
			s, err := returns.ParseSettings(n.Content[0])
			if tt.line == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, s)
				return
			}
			var le *returns.LineError
			if !errors.As(err, &le) || le.Line != tt.line-1 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (line %v), want line %d and %q", err, le, tt.line-1, tt.want)
			}
		})
	}
}

// TestVerifierWeighsTheReturn: the verifier gives the weight signals, with
// the policy's settings when it has them.
func TestVerifierWeighsTheReturn(t *testing.T) {
	f := newFixture(t)
	req := refundReq("buyer-weight", "seller-weight", 0)
	req.ItemCategory = "Electronics/Phone/Android"
	req.ReturnShipment = &riskv1.ReturnShipment{DeclaredWeightGrams: 300, MeasuredWeightGrams: 260}
	in := verifier.Input{Check: riskv1.Check_CHECK_REFUND, DecisionID: "d-weight", Request: req, Now: now}
	res, err := f.v.Verify(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"returns.weight_mismatch": true, "returns.weight_category": "electronics",
		"returns.weight_delta_grams": int64(-40), "returns.weight_tolerance_grams": int64(20)}
	for k, v := range want {
		if res.Signals[k] != v {
			t.Errorf("%s = %v, want %v", k, res.Signals[k], v)
		}
	}
	loose, err := returns.NewSettings(returns.Tolerance{Percent: 20, Grams: 50}, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Settings = loose
	if res, err = f.v.Verify(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if res.Signals["returns.weight_mismatch"] != false || res.Signals["returns.weight_tolerance_grams"] != int64(60) {
		t.Errorf("with the policy's settings: %v", res.Signals)
	}
	req.ReturnShipment = nil
	in.Settings = nil
	if res, err = f.v.Verify(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Signals["returns.weight_delta_grams"]; ok || res.Signals["returns.weight_mismatch"] != false {
		t.Errorf("no parcel: %v", res.Signals)
	}
}
