// Package redact keeps what a policy needs of a request and nothing that
// identifies anyone: every string field is replaced by a placeholder when
// set and left empty when empty, so a rule that asks "is there a landline?"
// still gets its answer, while names, numbers, addresses and IDs are gone.
// Numbers, booleans, enums and timestamps are kept: they are the facts
// rules weigh. A few string fields that name no one are kept as they are.
package redact

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Placeholder replaces every redacted non-empty string.
const Placeholder = "·"

// keep are string fields that identify no one and that rules compare.
var keep = map[protoreflect.Name]bool{
	"currency":      true,
	"item_category": true,
	"brand":         true,
	"locale":        true,
}

// Request returns a redacted copy of m; m is not changed. It is Append
// decoded again, so the rule has one home: unknown fields are dropped
// too, since they may hold anything.
func Request(m proto.Message) proto.Message {
	c := m.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(Append(nil, m), c); err != nil {
		// Append writes only fields of m's own type, well formed.
		panic(fmt.Sprintf("redact: the redacted %s does not decode: %v", m.ProtoReflect().Descriptor().FullName(), err))
	}
	return c
}

// Append appends the wire encoding of m, redacted, to b: one pass over m,
// with no copy of it. It is how a decision's facts are encoded. Maps,
// bytes and repeated strings are dropped; every other set string becomes
// Placeholder unless its field is in keep; numbers, booleans, enums and
// nested messages (times among them) are kept.
func Append(b []byte, m proto.Message) []byte {
	return appendMessage(b, m.ProtoReflect())
}

func appendMessage(b []byte, m protoreflect.Message) []byte {
	fields := m.Descriptor().Fields()
	// Field number order, as a deterministic marshal writes them.
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			// dropped: no request holds a map today; drop any a later
			// one adds rather than guess what its keys reveal
		case fd.IsList():
			l := v.List()
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				for j := 0; j < l.Len(); j++ {
					b = appendNested(b, fd.Number(), l.Get(j).Message())
				}
			case protoreflect.StringKind, protoreflect.BytesKind:
				// dropped
			default:
				b = appendPacked(b, fd, l)
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			b = appendNested(b, fd.Number(), v.Message())
		case fd.Kind() == protoreflect.StringKind:
			s := v.String()
			if !keep[fd.Name()] && s != "" {
				s = Placeholder
			}
			b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
			b = protowire.AppendString(b, s)
		case fd.Kind() == protoreflect.BytesKind:
			// dropped
		default:
			b = appendScalar(b, fd, v)
		}
	}
	return b
}

// appendNested writes a message field. Its length comes first, so the
// message is written after a one-byte guess and moved if it is longer.
func appendNested(b []byte, num protoreflect.FieldNumber, m protoreflect.Message) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	at := len(b)
	b = append(b, 0)
	b = appendMessage(b, m)
	n := len(b) - at - 1
	size := protowire.SizeVarint(uint64(n))
	if size > 1 {
		b = append(b, make([]byte, size-1)...)
		copy(b[at+size:], b[at+1:at+1+n])
	}
	protowire.AppendVarint(b[at:at], uint64(n))
	return b
}

func appendPacked(b []byte, fd protoreflect.FieldDescriptor, l protoreflect.List) []byte {
	var body []byte
	for j := 0; j < l.Len(); j++ {
		body = appendValue(body, fd.Kind(), l.Get(j))
	}
	b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func appendScalar(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	var wt protowire.Type
	switch fd.Kind() {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		wt = protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		wt = protowire.Fixed64Type
	default:
		wt = protowire.VarintType
	}
	b = protowire.AppendTag(b, fd.Number(), wt)
	return appendValue(b, fd.Kind(), v)
}

func appendValue(b []byte, k protoreflect.Kind, v protoreflect.Value) []byte {
	switch k {
	case protoreflect.BoolKind:
		return protowire.AppendVarint(b, protowire.EncodeBool(v.Bool()))
	case protoreflect.EnumKind:
		return protowire.AppendVarint(b, uint64(v.Enum()))
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return protowire.AppendVarint(b, uint64(v.Int()))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(b, protowire.EncodeZigZag(v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		return protowire.AppendVarint(b, v.Uint())
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(b, uint32(v.Uint()))
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(b, uint32(v.Int()))
	case protoreflect.FloatKind:
		return protowire.AppendFixed32(b, math.Float32bits(float32(v.Float())))
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(b, v.Uint())
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(b, uint64(v.Int()))
	case protoreflect.DoubleKind:
		return protowire.AppendFixed64(b, math.Float64bits(v.Float()))
	}
	return b
}
