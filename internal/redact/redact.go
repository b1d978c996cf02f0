// Package redact keeps what a policy needs of a request and nothing that
// identifies anyone: every string field is replaced by a placeholder when
// set and left empty when empty, so a rule that asks "is there a landline?"
// still gets its answer, while names, numbers, addresses and IDs are gone.
// Numbers, booleans, enums and timestamps are kept: they are the facts
// rules weigh. A few string fields that name no one are kept as they are.
package redact

import (
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

// Request returns a redacted copy of m; m is not changed.
func Request(m proto.Message) proto.Message {
	c := proto.Clone(m)
	walk(c.ProtoReflect())
	return c
}

func walk(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			// No request holds a map today; drop any a later one adds
			// rather than guess what its keys reveal.
			m.Clear(fd)
		case fd.IsList():
			l := v.List()
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			case protoreflect.StringKind, protoreflect.BytesKind:
				m.Clear(fd)
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			walk(v.Message())
		case fd.Kind() == protoreflect.StringKind:
			if !keep[fd.Name()] && v.String() != "" {
				m.Set(fd, protoreflect.ValueOfString(Placeholder))
			}
		case fd.Kind() == protoreflect.BytesKind:
			m.Clear(fd)
		}
		return true
	})
}
