package server

import (
	"encoding/csv"
	"math"
	"os"
	"slices"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// TestCurrencyRuleMatchesISO4217Table fails when the string.in list on
// Money.currency in risk.proto and data/iso4217.csv drift apart: the proto
// list must be exactly the table's active codes that have a minor unit.
func TestCurrencyRuleMatchesISO4217Table(t *testing.T) {
	f, err := os.Open("data/iso4217.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"code", "numeric", "minor_unit"}) {
		t.Fatalf("data/iso4217.csv: unexpected header %v", rows[0])
	}
	var want []string
	for _, r := range rows[1:] {
		if r[2] != "-" {
			want = append(want, r[0])
		}
	}
	slices.Sort(want)

	fd := (&riskv1.Money{}).ProtoReflect().Descriptor().Fields().ByName("currency")
	rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	got := slices.Clone(rules.GetString().GetIn())
	slices.Sort(got)
	if !slices.Equal(got, want) {
		var missing, extra []string
		for _, c := range want {
			if !slices.Contains(got, c) {
				missing = append(missing, c)
			}
		}
		for _, c := range got {
			if !slices.Contains(want, c) {
				extra = append(extra, c)
			}
		}
		t.Errorf("Money.currency's string.in in risk.proto differs from data/iso4217.csv: missing %v, not in the table %v", missing, extra)
	}
}

func TestOrderTotal(t *testing.T) {
	line := func(face int64, qty int32) *riskv1.GiftCardLine {
		return &riskv1.GiftCardLine{FaceValueMinor: face, Quantity: qty}
	}
	cases := []struct {
		name  string
		total int64
		cards []*riskv1.GiftCardLine
		ok    bool
	}{
		{"one line", 20_000, []*riskv1.GiftCardLine{line(20_000, 1)}, true},
		{"two lines", 40_000, []*riskv1.GiftCardLine{line(10_000, 3), line(5_000, 2)}, true},
		{"one fen short", 39_999, []*riskv1.GiftCardLine{line(10_000, 3), line(5_000, 2)}, false},
		{"no lines, zero total", 0, nil, true},
		{"no lines, a total", 1, nil, false},
		{"product overflows 64 bits", 0, []*riskv1.GiftCardLine{line(math.MaxInt64, math.MaxInt32)}, false},
		{"product wraps to zero", 0, []*riskv1.GiftCardLine{line(1<<62, 4)}, false},
		{"sum wraps to the total", 1, []*riskv1.GiftCardLine{line(math.MaxInt64, 2), line(3, 1)}, false},
		{"negative line", 0, []*riskv1.GiftCardLine{line(-1, 1), line(1, 1)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &riskv1.ScoreGiftCardPurchaseRequest{Total: &riskv1.Money{AmountMinor: c.total, Currency: "CNY"}, Cards: c.cards}
			fvs := orderTotal(r, "")
			if c.ok != (fvs == nil) {
				t.Fatalf("got %v, want ok=%v", fvs, c.ok)
			}
			if !c.ok && (len(fvs) != 1 || fvs[0].GetField() != "total" || fvs[0].GetReason() != ruleOrderTotal) {
				t.Errorf("got %v, want one violation of total", fvs)
			}
		})
	}
}

// TestConsistencyCheckAllocatesNothingWhenFine keeps the check off the
// hot path's allocation profile: a request that is fine costs a map
// lookup and a loop.
func TestConsistencyCheckAllocatesNothingWhenFine(t *testing.T) {
	var msg proto.Message = &riskv1.ScoreGiftCardPurchaseRequest{
		Total: &riskv1.Money{AmountMinor: 40_000, Currency: "CNY"},
		Cards: []*riskv1.GiftCardLine{{FaceValueMinor: 10_000, Quantity: 3}, {FaceValueMinor: 5_000, Quantity: 2}},
	}
	allocs := testing.AllocsPerRun(100, func() {
		check, ok := consistencyChecks[msg.ProtoReflect().Descriptor().FullName()]
		if !ok || check(msg) != nil {
			t.Fatal("the order was refused or has no check")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per fine request, want 0", allocs)
	}
}
