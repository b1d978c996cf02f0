package redact_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/redact"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestRequestKeepsFactsAndDropsIdentifiers(t *testing.T) {
	seller := &riskv1.CheckSellerRequest{
		RequestId: "req-secret-1", SellerId: "seller-secret",
		Client:   &riskv1.Client{DeviceId: "device-secret", IpAddress: "203.0.113.7"},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: "11010519491231002X", FullName: "张三"},
		Contact:  &riskv1.Contact{Mobile: "13800138000", Email: "someone@example.com"}, // no landline, no address
		Locale:   "zh-CN",
	}
	got := redact.Request(seller).(*riskv1.CheckSellerRequest)
	text := prototext.Format(got)
	for _, raw := range []string{"req-secret-1", "seller-secret", "device-secret", "203.0.113.7", "11010519491231002X", "张三", "13800138000", "someone@example.com"} {
		if strings.Contains(text, raw) {
			t.Errorf("redacted request still holds %q", raw)
		}
	}
	if got.GetContact().GetLandline() != "" || got.GetContact().GetAddress() != "" {
		t.Error("an empty field became non-empty: rules testing for it would change their answer")
	}
	if got.GetContact().GetMobile() != redact.Placeholder {
		t.Errorf("mobile = %q, want the placeholder: it was set", got.GetContact().GetMobile())
	}
	if got.GetIdentity().GetType() != seller.GetIdentity().GetType() || got.GetLocale() != "zh-CN" {
		t.Error("enums and the locale must be kept")
	}
	if seller.GetIdentity().GetNumber() != "11010519491231002X" {
		t.Fatal("the original request was changed")
	}

	order := &riskv1.ScoreGiftCardPurchaseRequest{
		Total:   &riskv1.Money{AmountMinor: 1_000_000, Currency: "CNY"},
		Cards:   []*riskv1.GiftCardLine{{FaceValueMinor: 100_000, Quantity: 10}},
		Payment: &riskv1.PaymentInstrument{Fingerprint: "fp-secret", CreditDrawnAt: timestamppb.New(timestamppb.Now().AsTime())},
		Session: &riskv1.SessionFacts{ActiveCall: true},
		Brand:   "apple",
	}
	g := redact.Request(order).(*riskv1.ScoreGiftCardPurchaseRequest)
	if !proto.Equal(g.GetTotal(), order.GetTotal()) || !proto.Equal(g.GetCards()[0], order.GetCards()[0]) ||
		!proto.Equal(g.GetPayment().GetCreditDrawnAt(), order.GetPayment().GetCreditDrawnAt()) ||
		!g.GetSession().GetActiveCall() || g.GetBrand() != "apple" {
		t.Errorf("facts rules weigh were lost: %v", g)
	}
	if g.GetPayment().GetFingerprint() == "fp-secret" {
		t.Error("instrument fingerprint kept")
	}
}

// keptStrings are the only string fields a redacted request may keep as
// they were, by full name: each identifies no one and rules compare it.
// Every other string field of a request, at any depth, must come out as
// the placeholder. Adding a field here is a privacy decision; a free-text
// field (a buyer's reason, a note) never belongs here.
var keptStrings = map[protoreflect.FullName]bool{
	"risk.v1.Money.currency":                      true,
	"risk.v1.EvaluateRefundRequest.item_category": true,
	"risk.v1.ScoreGiftCardPurchaseRequest.brand":  true,
	"risk.v1.CheckSellerRequest.locale":           true,
	"risk.v1.ScoreGiftCardPurchaseRequest.locale": true,
	"risk.v1.EvaluateRefundRequest.locale":        true,
}

// redactedRequests are the requests the engine redacts into the decision
// facts: one per check.
func redactedRequests() []proto.Message {
	return []proto.Message{
		&riskv1.CheckSellerRequest{},
		&riskv1.ScoreGiftCardPurchaseRequest{},
		&riskv1.EvaluateRefundRequest{},
	}
}

// TestRequestRedactsEveryStringField walks each request by reflection, so a
// field added to the schema later is covered without touching this test:
// every field at every depth is set (strings to a value naming the field),
// then each field of the redacted copy is checked against the contract:
// string fields in keptStrings unchanged, every other string the
// placeholder, bytes, repeated strings and maps gone, numbers, booleans,
// enums and times unchanged.
func TestRequestRedactsEveryStringField(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	for _, empty := range redactedRequests() {
		t.Run(string(empty.ProtoReflect().Descriptor().FullName()), func(t *testing.T) {
			orig := empty.ProtoReflect().New().Interface()
			fillAll(t, orig.ProtoReflect(), true, 0)
			before := proto.Clone(orig)
			got := redact.Request(orig)
			if !proto.Equal(orig, before) {
				t.Fatal("the original request was changed")
			}
			checkRedacted(t, orig.ProtoReflect(), got.ProtoReflect(), seen)
		})
	}
	for name := range keptStrings {
		if !seen[name] {
			t.Errorf("keptStrings names %s, which no redacted request has: remove it", name)
		}
	}
}

// TestRequestKeepsEmptyStringsEmpty: with every field set but no string,
// redaction changes nothing, so a rule testing a field for emptiness gets
// the same answer on the redacted request.
func TestRequestKeepsEmptyStringsEmpty(t *testing.T) {
	for _, empty := range redactedRequests() {
		orig := empty.ProtoReflect().New().Interface()
		fillAll(t, orig.ProtoReflect(), false, 0)
		if got := redact.Request(orig); !proto.Equal(got, orig) {
			t.Errorf("%s without strings changed:\n got  %v\n want %v", orig.ProtoReflect().Descriptor().FullName(), got, orig)
		}
	}
}

// fillAll sets every field of m: messages recursively, lists and maps
// with two entries. Strings name their field (or stay empty when withStrings
// is false); bytes likewise.
func fillAll(t testing.TB, m protoreflect.Message, withStrings bool, depth int) {
	t.Helper()
	if depth > 8 {
		t.Fatalf("%s: messages nest deeper than the test expects (a cycle?)", m.Descriptor().FullName())
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && m.WhichOneof(od) != nil {
			continue // one member of a oneof at a time
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := range 2 {
				k := scalarValue(fd.MapKey(), withStrings, j).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					fillAll(t, v.Message(), withStrings, depth+1)
					mp.Set(k, v)
				} else if v := scalarValue(fd.MapValue(), withStrings, j); v.IsValid() {
					mp.Set(k, v)
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := range 2 {
				if fd.Message() != nil {
					v := l.NewElement()
					fillAll(t, v.Message(), withStrings, depth+1)
					l.Append(v)
				} else if v := scalarValue(fd, withStrings, j); v.IsValid() {
					l.Append(v)
				}
			}
		case fd.Message() != nil:
			fillAll(t, m.Mutable(fd).Message(), withStrings, depth+1)
		default:
			if v := scalarValue(fd, withStrings, 0); v.IsValid() {
				m.Set(fd, v)
			}
		}
	}
}

// scalarValue is a non-zero value for fd (the j-th of a list), or an
// invalid value for a string or bytes field when withStrings is false.
func scalarValue(fd protoreflect.FieldDescriptor, withStrings bool, j int) protoreflect.Value {
	text := fmt.Sprintf("raw %s #%d", fd.FullName(), j)
	switch fd.Kind() {
	case protoreflect.StringKind:
		if !withStrings {
			return protoreflect.Value{}
		}
		return protoreflect.ValueOfString(text)
	case protoreflect.BytesKind:
		if !withStrings {
			return protoreflect.Value{}
		}
		return protoreflect.ValueOfBytes([]byte(text))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(7 + j))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(7 + j))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(7 + j))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(7 + j))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(7.5 + float32(j)))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(7.5 + float64(j))
	}
	panic(fmt.Sprintf("test bug: no value for %s of kind %s", fd.FullName(), fd.Kind()))
}

// checkRedacted compares each field of the redacted got with orig, as
// fillAll set it, and records every string field it met in seen.
func checkRedacted(t *testing.T, orig, got protoreflect.Message, seen map[protoreflect.FullName]bool) {
	t.Helper()
	fields := orig.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := fd.FullName()
		if fd.Kind() == protoreflect.StringKind && !fd.IsMap() {
			seen[name] = true
		}
		ov, gv := orig.Get(fd), got.Get(fd)
		switch {
		case fd.IsMap():
			if got.Has(fd) {
				t.Errorf("%s: a map was kept (%d entries); redaction must drop it", name, gv.Map().Len())
			}
		case fd.IsList() && fd.Message() != nil:
			if gv.List().Len() != ov.List().Len() {
				t.Errorf("%s: %d elements after redaction, want %d", name, gv.List().Len(), ov.List().Len())
				continue
			}
			for j := range ov.List().Len() {
				checkRedacted(t, ov.List().Get(j).Message(), gv.List().Get(j).Message(), seen)
			}
		case fd.IsList() && (fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind):
			if got.Has(fd) {
				t.Errorf("%s: repeated strings or bytes were kept; redaction must drop them", name)
			}
		case fd.IsList():
			if !proto.Equal(listHolder(orig, fd), listHolder(got, fd)) {
				t.Errorf("%s: a repeated fact was changed", name)
			}
		case fd.Message() != nil:
			if !got.Has(fd) {
				t.Errorf("%s: a message was dropped", name)
				continue
			}
			checkRedacted(t, ov.Message(), gv.Message(), seen)
		case fd.Kind() == protoreflect.StringKind:
			switch {
			case keptStrings[name] && gv.String() != ov.String():
				t.Errorf("%s = %q, want it kept as %q: it is in keptStrings", name, gv.String(), ov.String())
			case !keptStrings[name] && gv.String() != redact.Placeholder:
				t.Errorf("%s = %q, want the placeholder %q: only the fields in keptStrings may keep their text", name, gv.String(), redact.Placeholder)
			}
		case fd.Kind() == protoreflect.BytesKind:
			if got.Has(fd) {
				t.Errorf("%s: bytes were kept; redaction must drop them", name)
			}
		default:
			if !gv.Equal(ov) {
				t.Errorf("%s = %v, want %v kept: numbers, booleans and enums are facts rules weigh", name, gv, ov)
			}
		}
	}
}

// listHolder is a message holding only fd's list from m, for comparing lists.
func listHolder(m protoreflect.Message, fd protoreflect.FieldDescriptor) proto.Message {
	h := m.New()
	h.Set(fd, m.Get(fd))
	return h.Interface()
}

// FuzzAppend: whatever request a caller can send, the encoded facts hold no
// text but the kept fields' and the placeholder, no bytes, maps or repeated
// strings, and redacting them again changes nothing.
func FuzzAppend(f *testing.F) {
	for _, empty := range redactedRequests() {
		m := empty.ProtoReflect().New().Interface()
		fillAll(f, m.ProtoReflect(), true, 0)
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, empty := range redactedRequests() {
			m := empty.ProtoReflect().New().Interface()
			if proto.Unmarshal(b, m) != nil {
				continue
			}
			enc := redact.Append(nil, m)
			got := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(enc, got); err != nil {
				t.Fatalf("%s: Append wrote bytes that do not decode: %v", m.ProtoReflect().Descriptor().FullName(), err)
			}
			checkNoText(t, got.ProtoReflect())
			if again := redact.Append(nil, got); !bytes.Equal(again, enc) {
				t.Fatalf("redacting the redacted request changed it:\n %x\n %x", enc, again)
			}
		}
	})
}

// checkNoText fails if m holds text redaction must drop, at any depth.
func checkNoText(t *testing.T, m protoreflect.Message) {
	t.Helper()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			t.Errorf("%s: a map was kept", fd.FullName())
		case fd.IsList() && fd.Message() != nil:
			for j := range v.List().Len() {
				checkNoText(t, v.List().Get(j).Message())
			}
		case fd.IsList() && (fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind):
			t.Errorf("%s: repeated strings or bytes were kept", fd.FullName())
		case fd.Message() != nil:
			checkNoText(t, v.Message())
		case fd.Kind() == protoreflect.BytesKind:
			t.Errorf("%s: bytes were kept", fd.FullName())
		case fd.Kind() == protoreflect.StringKind && !keptStrings[fd.FullName()] && v.String() != "" && v.String() != redact.Placeholder:
			t.Errorf("%s = %q: text kept", fd.FullName(), v.String())
		}
		return true
	})
}
