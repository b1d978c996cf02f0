package remote

import (
	"fmt"
	"strings"

	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Field is a request field a remote verifier may see, resolved against a
// request type once so that each call only walks descriptors.
type Field struct {
	Path string
	fds  []protoreflect.FieldDescriptor
}

var timestampName = (&timestamppb.Timestamp{}).ProtoReflect().Descriptor().FullName()

// Resolve finds a dotted field path ("license.uscc") in a request type. The
// path must end at a single scalar, enum or timestamp: lists and whole
// messages would send more than the policy named.
func Resolve(md protoreflect.MessageDescriptor, path string) (Field, error) {
	f := Field{Path: path}
	parts := strings.Split(path, ".")
	for i, name := range parts {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return f, fmt.Errorf("%s has no field %q", md.FullName(), name)
		}
		if fd.IsList() || fd.IsMap() {
			return f, fmt.Errorf("field %q of %s is repeated; only single values can be sent", name, md.FullName())
		}
		f.fds = append(f.fds, fd)
		last := i == len(parts)-1
		if fd.Kind() == protoreflect.MessageKind {
			if fd.Message().FullName() == timestampName {
				if !last {
					return f, fmt.Errorf("%q is a timestamp; nothing lies under it", strings.Join(parts[:i+1], "."))
				}
				continue
			}
			if last {
				return f, fmt.Errorf("%q is a whole message; name the fields under it", path)
			}
			md = fd.Message()
			continue
		}
		if !last {
			return f, fmt.Errorf("%q is not a message; nothing lies under it", strings.Join(parts[:i+1], "."))
		}
	}
	return f, nil
}

// value reads the field from m; ok is false when it is unset.
func (f Field) value(m protoreflect.Message) (*verifierv1.Value, bool) {
	for _, fd := range f.fds[:len(f.fds)-1] {
		if !m.Has(fd) {
			return nil, false
		}
		m = m.Get(fd).Message()
	}
	fd := f.fds[len(f.fds)-1]
	if !m.Has(fd) {
		return nil, false
	}
	v := m.Get(fd)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return &verifierv1.Value{Kind: &verifierv1.Value_StringValue{StringValue: v.String()}}, true
	case protoreflect.BoolKind:
		return &verifierv1.Value{Kind: &verifierv1.Value_BoolValue{BoolValue: v.Bool()}}, true
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return &verifierv1.Value{Kind: &verifierv1.Value_IntValue{IntValue: v.Int()}}, true
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return &verifierv1.Value{Kind: &verifierv1.Value_IntValue{IntValue: int64(v.Uint())}}, true
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return &verifierv1.Value{Kind: &verifierv1.Value_DoubleValue{DoubleValue: v.Float()}}, true
	case protoreflect.EnumKind:
		name := fmt.Sprint(int32(v.Enum()))
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			name = string(ev.Name())
		}
		return &verifierv1.Value{Kind: &verifierv1.Value_StringValue{StringValue: name}}, true
	case protoreflect.MessageKind: // a timestamp, by Resolve
		ts := &timestamppb.Timestamp{}
		msg := v.Message()
		ts.Seconds = msg.Get(msg.Descriptor().Fields().ByName("seconds")).Int()
		ts.Nanos = int32(msg.Get(msg.Descriptor().Fields().ByName("nanos")).Int())
		return &verifierv1.Value{Kind: &verifierv1.Value_TimeValue{TimeValue: ts}}, true
	}
	return nil, false
}
