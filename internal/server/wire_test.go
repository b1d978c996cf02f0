package server_test

// Issue 18, items 2 and 3, through the real server with raw bytes on the
// wire: unknown fields are dropped before anything is hashed or stored,
// and bytes that are not a valid message are INVALID_ARGUMENT.

import (
	"bytes"
	"context"
	"strings"
	"testing"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// rawCodec sends a request's bytes as they are and decodes the answer as
// a message: a client that can put anything on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*(v.(*[]byte)))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (rawCodec) Name() string { return "proto" }

// forceRaw makes a call send its request bytes as they are.
var forceRaw = grpc.ForceCodecV2(rawCodec{})

func invokeRaw(h *harness, method string, body []byte, resp proto.Message) error {
	return h.conn.Invoke(context.Background(), method, &body, resp, forceRaw)
}

func TestUnknownFieldsAreNotKept(t *testing.T) {
	h := start(t, setup{})
	req := cleanSeller()
	plain, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// A phone number, and a megabyte, in fields riskd does not know: one
	// at the top and one inside the identity document.
	secret := []byte("unknown-13912345678")
	withUnknown := protowire.AppendTag(append([]byte(nil), plain...), 999, protowire.BytesType)
	withUnknown = protowire.AppendBytes(withUnknown, append(secret, bytes.Repeat([]byte{'x'}, 900_000)...))
	idDoc, _ := proto.Marshal(req.GetIdentity())
	idDoc = protowire.AppendTag(idDoc, 77, protowire.BytesType)
	idDoc = protowire.AppendBytes(idDoc, secret)
	withUnknown = protowire.AppendTag(withUnknown, 4, protowire.BytesType) // identity, merged
	withUnknown = protowire.AppendBytes(withUnknown, idDoc)

	var resp riskv1.CheckSellerResponse
	if err := invokeRaw(h, riskv1.RiskService_CheckSeller_FullMethodName, withUnknown, &resp); err != nil {
		t.Fatalf("a request with unknown fields: %v", err)
	}
	d := resp.GetDecision()
	facts, err := h.store.Facts(context.Background(), d.GetDecisionId())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(facts, secret) || len(facts) > 100_000 {
		t.Errorf("the stored facts (%d bytes) keep the unknown fields", len(facts))
	}
	// The same request without them is the same request: a replay, not a
	// conflict, because unknown fields never reached the request's hash.
	again, err := h.client.CheckSeller(context.Background(), req)
	if err != nil {
		t.Fatalf("the same request without the unknown fields: %v", err)
	}
	if again.GetDecision().GetDecisionId() != d.GetDecisionId() {
		t.Errorf("the request without unknown fields got decision %s, want the replay of %s", again.GetDecision().GetDecisionId(), d.GetDecisionId())
	}
}

func TestMalformedBodiesAreInvalidArgument(t *testing.T) {
	h := start(t, setup{})
	valid, err := proto.Marshal(overPaidRefund())
	if err != nil {
		t.Fatal(err)
	}
	// request_id (field 1) with invalid UTF-8.
	badUTF8 := protowire.AppendTag(nil, 1, protowire.BytesType)
	badUTF8 = protowire.AppendBytes(badUTF8, []byte{'r', 0xff, 0xfe})
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"garbage", []byte("this is not a protobuf message at all")},
		{"truncated varint", []byte{0x08, 0xff, 0xff, 0xff}},
		{"truncated message", valid[:len(valid)-3]},
		{"invalid UTF-8 in a string", append(badUTF8, valid...)},
		{"field number zero", []byte{0x00, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp riskv1.EvaluateRefundResponse
			err := invokeRaw(h, riskv1.RiskService_EvaluateRefund_FullMethodName, tc.body, &resp)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "risk.v1.EvaluateRefundRequest") {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming the message type", err)
			}
		})
	}
	// The server still answers a good request on the same connection.
	if _, err := h.client.EvaluateRefund(context.Background(), overPaidRefund()); err != nil {
		t.Fatalf("a good request after the bad ones: %v", err)
	}
}
