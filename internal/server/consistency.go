package server

import (
	"math/bits"
	"strconv"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// consistencyCheck is a rule across several fields of a request that
// protovalidate's CEL cannot say (a sum over a repeated field has no CEL
// form). It runs after protovalidate, so every field it reads is already
// inside its bounds. It returns nil, allocating nothing, for a request that
// is fine.
type consistencyCheck func(proto.Message) []*errdetails.BadRequest_FieldViolation

// consistencyChecks is every such rule, by request type: the one place
// where they live. The validation interceptor looks a request up here by
// its descriptor's name (no reflection walk) after protovalidate passed.
var consistencyChecks = map[protoreflect.FullName]consistencyCheck{
	(*riskv1.ScoreGiftCardPurchaseRequest)(nil).ProtoReflect().Descriptor().FullName(): func(m proto.Message) []*errdetails.BadRequest_FieldViolation {
		return orderTotal(m.(*riskv1.ScoreGiftCardPurchaseRequest), "")
	},
	// A past order imported as history is held to the same rule as one
	// sent for scoring: the spending look-back sums its total.
	(*riskv1.RecordEventsRequest)(nil).ProtoReflect().Descriptor().FullName(): func(m proto.Message) []*errdetails.BadRequest_FieldViolation {
		var out []*errdetails.BadRequest_FieldViolation
		for i, ev := range m.(*riskv1.RecordEventsRequest).GetEvents() {
			if o := ev.GetGiftCardOrder(); o != nil {
				if fv := orderTotal(o, "events["+strconv.Itoa(i)+"].gift_card_order."); fv != nil {
					out = append(out, fv...)
				}
			}
		}
		return out
	},
}

// ruleOrderTotal is the rule ID of a gift-card order whose total is not
// the sum of its card lines.
const ruleOrderTotal = "order.total_matches_cards"

// orderTotal wants total.amount_minor to equal the sum of face value ×
// quantity over the card lines. The bounds (face ≤ 1e12, quantity ≤ 1e4,
// 100 lines) keep every product and the sum inside 64 bits; the sum is
// still computed with overflow checks, so a looser bound later cannot turn
// a wrapped sum into a match. Any sum above the total's own 1e15 bound is
// a mismatch.
func orderTotal(r *riskv1.ScoreGiftCardPurchaseRequest, prefix string) []*errdetails.BadRequest_FieldViolation {
	var sum uint64
	overflow := false
	for _, c := range r.GetCards() {
		face, qty := c.GetFaceValueMinor(), c.GetQuantity()
		if face < 0 || qty < 0 {
			overflow = true
			break
		}
		hi, lo := bits.Mul64(uint64(face), uint64(qty))
		var carry uint64
		sum, carry = bits.Add64(sum, lo, 0)
		if hi != 0 || carry != 0 {
			overflow = true
			break
		}
	}
	total := r.GetTotal().GetAmountMinor()
	if !overflow && total >= 0 && sum == uint64(total) {
		return nil
	}
	return []*errdetails.BadRequest_FieldViolation{{
		Field:       prefix + "total",
		Description: "total.amount_minor must equal the sum of face_value_minor × quantity over the cards",
		Reason:      ruleOrderTotal,
	}}
}
