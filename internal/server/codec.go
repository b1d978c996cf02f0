package server

import (
	"bytes"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// wireCodec is gRPC's proto codec with two changes for the requests riskd
// receives:
//
//   - Fields the server does not know (a newer client's, or an attacker's)
//     are dropped as the message is decoded, so they are never hashed,
//     stored in a decision's facts or replayed: personal data the
//     pseudonymisation never saw, and unbounded growth.
//   - Bytes that are not a valid message of the method's type (invalid
//     UTF-8 in a string, a malformed varint, garbage) are the caller's
//     fault. gRPC answers a decoding error with INTERNAL before any
//     interceptor runs, so nothing would log it; instead the message is
//     left empty with a marker that the validation interceptor turns into
//     INVALID_ARGUMENT, logged like every refused call.
//
// Marshalling (the answers) is gRPC's own.
type wireCodec struct{ encoding.CodecV2 }

// badWire starts the marker a request that could not be decoded carries as
// its unknown fields; the decoding error follows it.
const badWire = "\xff\xffriskd:undecodable:"

var discardUnknown = proto.UnmarshalOptions{DiscardUnknown: true}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := discardUnknown.Unmarshal(buf.ReadOnlyData(), m); err != nil {
		proto.Reset(m)
		m.ProtoReflect().SetUnknown(protoreflect.RawFields(badWire + err.Error()))
	}
	return nil
}

// undecodable returns why m could not be decoded, if wireCodec marked it.
func undecodable(m proto.Message) (string, bool) {
	u := m.ProtoReflect().GetUnknown()
	if len(u) == 0 || !bytes.HasPrefix(u, []byte(badWire)) {
		return "", false
	}
	return string(u[len(badWire):]), true
}
