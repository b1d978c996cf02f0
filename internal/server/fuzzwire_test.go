package server_test

import (
	"context"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// wireMethods are the RPCs FuzzWire feeds raw bytes, with an empty answer
// of each's type.
var wireMethods = []struct {
	name string
	resp func() proto.Message
}{
	{riskv1.RiskService_CheckSeller_FullMethodName, func() proto.Message { return &riskv1.CheckSellerResponse{} }},
	{riskv1.RiskService_ScoreGiftCardPurchase_FullMethodName, func() proto.Message { return &riskv1.ScoreGiftCardPurchaseResponse{} }},
	{riskv1.RiskService_EvaluateRefund_FullMethodName, func() proto.Message { return &riskv1.EvaluateRefundResponse{} }},
	{riskv1.RiskService_ReportOutcome_FullMethodName, func() proto.Message { return &riskv1.ReportOutcomeResponse{} }},
	{riskv1.RiskService_GetDecision_FullMethodName, func() proto.Message { return &riskv1.GetDecisionResponse{} }},
	{riskv1.RiskService_RecordEvents_FullMethodName, func() proto.Message { return &riskv1.RecordEventsResponse{} }},
	{riskv1.PolicyService_ReplayPolicy_FullMethodName, func() proto.Message { return &riskv1.ReplayPolicyResponse{} }},
}

// FuzzWire (issue 18, item 9) sends raw bytes, well-formed or not, to each
// RPC of a real riskd: the decoder (riskd's codec), the validation and the
// handler. Whatever the bytes, the answer is a result or a refusal the
// caller caused (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS), never
// INTERNAL, UNKNOWN, UNAVAILABLE or a hung call, and the server goes on
// answering.
//
//	go test -run='^$' -fuzz='^FuzzWire$' -fuzztime=60s ./internal/server/
func FuzzWire(f *testing.F) {
	seller, _ := proto.Marshal(cleanSeller())
	refund, _ := proto.Marshal(overPaidRefund())
	order, _ := proto.Marshal(coachedGiftCardOrder(time.Now()))
	for i, b := range [][]byte{seller, order, refund, nil, []byte("garbage"), {0x08, 0xff, 0xff}, {0x0a, 0x02, 0xff, 0xfe}} {
		f.Add(uint8(i), b)
	}
	h := start(f, setup{})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		m := wireMethods[int(which)%len(wireMethods)]
		ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout)
		defer cancel()
		err := h.conn.Invoke(ctx, m.name, &body, m.resp(), forceRaw)
		switch status.Code(err) {
		case codes.OK, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists:
		default:
			t.Fatalf("%s with %d bytes %q: %v", m.name, len(body), body, err)
		}
	})
}
