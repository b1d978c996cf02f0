package server_test

// Issue 18, item 4, through the real server on both stores: every string
// field of every request, found by walking the requests' descriptors (a
// field added later is covered without touching this test, and one this
// test cannot reach fails it), gets hostile content in an otherwise valid
// request. The answer must be a result, or INVALID_ARGUMENT with a
// violation naming that field (NOT_FOUND for a decision looked up by an
// ID that names none), never INTERNAL or UNKNOWN; an identifier with a
// control character, or text with NUL, must be refused by its rule; what
// is accepted must read back exactly as sent; and the embedded store and
// PostgreSQL must answer every case alike.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// hostileValue is content for a string field; long ones are built from
// the field's max_len.
type hostileValue struct {
	name string
	of   func(maxLen int) string
}

func fixed(s string) func(int) string { return func(int) string { return s } }

// hostileValues are what a caller could put in any string. Invalid UTF-8
// cannot be held in a Go string a client marshals, so it goes on the wire
// as raw bytes (the "invalid UTF-8" case of each field). Each value has at
// least three characters, so a min_len of 3 or less never refuses it.
var hostileValues = []hostileValue{
	{"NUL", fixed("a\x00b")},
	{"C0 escape sequence", fixed("a\x1b[2Jb")},
	{"tab and line feed", fixed("a\tb\nc")},
	{"DEL", fixed("a\x7fb")},
	{"C1 next line", fixed("a\u0085b")},
	{"right-to-left override", fixed("a\u202eb")},
	{"zero-width joiner", fixed("a\u200db")},
	{"four-byte emoji", fixed("a🎁b")},
	// Kept as sent, not trimmed: blanks at the ends are part of an ID.
	{"blanks at the ends", fixed(" a\u3000b\u00a0 ")},
	// max_len counts characters: max_len four-byte ones are the most
	// bytes a field takes.
	{"longest, in four-byte characters", func(maxLen int) string {
		if maxLen == 0 {
			maxLen = 256 // no bound of its own (the ip rule): long anyway
		}
		return strings.Repeat("🎁", maxLen)
	}},
}

// fieldStep is one step of a path into a request: a field, and for a
// list the element.
type fieldStep struct {
	fd    protoreflect.FieldDescriptor
	index int
}

// stringField is a string field of a request, as reached from it.
type stringField struct {
	steps []fieldStep
	// path is the field as a violation names it ("events[2].outcome.note");
	// schema is the same without list indices, for coverage.
	path, schema string
}

func (f stringField) fd() protoreflect.FieldDescriptor { return f.steps[len(f.steps)-1].fd }

// stringFieldsOf lists the string fields of m and of every message set in
// it, set or not themselves; a message field left unset is not entered
// (the base request must set it for its fields to be reached).
func stringFieldsOf(m protoreflect.Message) []stringField {
	var out []stringField
	var walk func(m protoreflect.Message, steps []fieldStep, path, schema string)
	walk = func(m protoreflect.Message, steps []fieldStep, path, schema string) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if od := fd.ContainingOneof(); od != nil && m.WhichOneof(od) != nil && m.WhichOneof(od) != fd {
				continue // another branch is set
			}
			switch {
			case fd.IsMap():
				continue // none in a request (TestEveryRequestStringHasATextRule)
			case fd.Kind() == protoreflect.StringKind && !fd.IsList():
				out = append(out, stringField{steps: append(slices.Clone(steps), fieldStep{fd, -1}),
					path: path + string(fd.Name()), schema: schema + string(fd.Name())})
			case fd.Message() != nil && fd.IsList():
				list := m.Get(fd).List()
				for j := range list.Len() {
					walk(list.Get(j).Message(), append(slices.Clone(steps), fieldStep{fd, j}),
						fmt.Sprintf("%s%s[%d].", path, fd.Name(), j), schema+string(fd.Name())+"[].")
				}
			case fd.Message() != nil && m.Has(fd):
				walk(m.Get(fd).Message(), append(slices.Clone(steps), fieldStep{fd, -1}),
					path+string(fd.Name())+".", schema+string(fd.Name())+".")
			}
		}
	}
	walk(m, nil, "", "")
	return out
}

// schemaStringFields lists every string field a request of md can hold,
// without list indices, as stringField.schema names them.
func schemaStringFields(md protoreflect.MessageDescriptor) []string {
	var out []string
	var walk func(md protoreflect.MessageDescriptor, schema string, stack []protoreflect.FullName)
	walk = func(md protoreflect.MessageDescriptor, schema string, stack []protoreflect.FullName) {
		if slices.Contains(stack, md.FullName()) {
			return
		}
		stack = append(stack, md.FullName())
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			switch {
			case fd.IsMap():
			case fd.Kind() == protoreflect.StringKind:
				out = append(out, schema+string(fd.Name()))
			case fd.Message() != nil && fd.IsList():
				walk(fd.Message(), schema+string(fd.Name())+"[].", stack)
			case fd.Message() != nil:
				walk(fd.Message(), schema+string(fd.Name())+".", stack)
			}
		}
	}
	walk(md, "", nil)
	return out
}

// setString sets f in req to v. A field in a group that must have exactly
// one member set (a buf.validate message oneof: a recipient's e-mail or
// phone, what an outcome event is about) becomes the group's member: the
// others are cleared.
func setString(req proto.Message, f stringField, v string) {
	m := req.ProtoReflect()
	for _, s := range f.steps[:len(f.steps)-1] {
		if s.index >= 0 {
			m = m.Mutable(s.fd).List().Get(s.index).Message()
		} else {
			m = m.Mutable(s.fd).Message()
		}
	}
	fd := f.fd()
	m.Set(fd, protoreflect.ValueOfString(v))
	mr, _ := proto.GetExtension(m.Descriptor().Options(), validate.E_Message).(*validate.MessageRules)
	for _, group := range mr.GetOneof() {
		if !slices.Contains(group.GetFields(), string(fd.Name())) {
			continue
		}
		for _, name := range group.GetFields() {
			if name != string(fd.Name()) {
				m.Clear(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
			}
		}
	}
}

// maxLen is the field's max_len rule, 0 if it has none.
func maxLen(fd protoreflect.FieldDescriptor) int {
	fr, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	return int(fr.GetString().GetMaxLen())
}

// stringsBase is an RPC's valid request, with every message that holds a
// string set, for case i.
type stringsBase struct {
	method protoreflect.MethodDescriptor
	build  func(t *testing.T, h *harness, i int) proto.Message
	// lookup names the fields by which a stored decision is looked up:
	// an ID that names none is NOT_FOUND, not a refusal.
	lookup []string
}

func stringsBases(t *testing.T) []stringsBase {
	method := func(service protoreflect.ServiceDescriptor, name protoreflect.Name) protoreflect.MethodDescriptor {
		md := service.Methods().ByName(name)
		if md == nil {
			t.Fatalf("no method %s", name)
		}
		return md
	}
	risk := riskv1.File_risk_v1_risk_proto.Services().ByName("RiskService")
	now := time.Now()
	giftCard := func(id string) *riskv1.ScoreGiftCardPurchaseRequest {
		r := coachedGiftCardOrder(now)
		r.RequestId, r.OrderId = id, id
		r.Brand = "京东E卡"
		r.Locale = "en"
		r.CallerHistory = &riskv1.PurchaseHistory{PastGiftCardOrders: 1,
			PastGiftCardValue: &riskv1.Money{AmountMinor: 100, Currency: "CNY"}, TypicalOrderValue: &riskv1.Money{AmountMinor: 100, Currency: "CNY"}}
		return r
	}
	refund := func(id string) *riskv1.EvaluateRefundRequest {
		r := overPaidRefund()
		r.RequestId, r.OrderId = id, id
		r.ItemCategory, r.BuyerReason, r.Locale = "electronics", "包裹是空的", "en"
		r.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER, Fingerprint: "fp-refund-1"}
		return r
	}
	// decide makes a decision to report on or look up; without a server
	// (the walk that lists the fields) any ID will do.
	decide := func(t *testing.T, h *harness, id string) string {
		if h == nil {
			return "01a20000-0000-7000-8000-000000000000"
		}
		r := cleanSeller()
		r.RequestId = id
		resp, err := h.client.CheckSeller(context.Background(), r)
		if err != nil {
			t.Errorf("a decision to refer to: %v", err)
		}
		return resp.GetDecision().GetDecisionId()
	}
	pol := riskv1.File_risk_v1_risk_proto.Services().ByName("PolicyService")
	defVersion := fmt.Sprintf("sha256:%x", sha256.Sum256(policy.DefaultBytes()))
	// publish keeps a version of the case's own to refer to (without a
	// server, its version is all the walk needs).
	publish := func(t *testing.T, h *harness, name string) string {
		doc := fmt.Appendf(policy.DefaultBytes(), "\n# %s\n", name)
		if h == nil {
			return fmt.Sprintf("sha256:%x", sha256.Sum256(doc))
		}
		// Compiling a policy under the race detector, eight at a time,
		// outlasts the default deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := riskv1.NewPolicyServiceClient(h.conn).PublishPolicy(ctx, &riskv1.PublishPolicyRequest{Policy: doc})
		if err != nil {
			t.Errorf("a policy version to refer to: %v", err)
		}
		return resp.GetVersion().GetVersion()
	}
	policyBases := []stringsBase{
		{method: method(pol, "GetPolicyVersion"), lookup: []string{"version", "decision_id"}, build: func(*testing.T, *harness, int) proto.Message {
			return &riskv1.GetPolicyVersionRequest{Version: defVersion}
		}},
		{method: method(pol, "DiffPolicyVersions"), lookup: []string{"from", "to"}, build: func(*testing.T, *harness, int) proto.Message {
			return &riskv1.DiffPolicyVersionsRequest{From: defVersion, To: defVersion}
		}},
		{method: method(pol, "PublishPolicy"), build: func(_ *testing.T, _ *harness, i int) proto.Message {
			return &riskv1.PublishPolicyRequest{Policy: fmt.Appendf(policy.DefaultBytes(), "\n# str-publish-%d\n", i), Message: "why"}
		}},
		{method: method(pol, "StartCanary"), lookup: []string{"version"}, build: func(t *testing.T, h *harness, i int) proto.Message {
			return &riskv1.StartCanaryRequest{Version: publish(t, h, fmt.Sprintf("str-canary-%d", i)), Percent: 5, Message: "try"}
		}},
		{method: method(pol, "StopCanary"), build: func(*testing.T, *harness, int) proto.Message {
			return &riskv1.StopCanaryRequest{Message: "enough"}
		}},
		{method: method(pol, "PromotePolicy"), lookup: []string{"version"}, build: func(t *testing.T, h *harness, i int) proto.Message {
			return &riskv1.PromotePolicyRequest{Version: publish(t, h, fmt.Sprintf("str-promote-%d", i)), Message: "ship"}
		}},
		{method: method(pol, "RollbackPolicy"), lookup: []string{"version"}, build: func(t *testing.T, h *harness, i int) proto.Message {
			return &riskv1.RollbackPolicyRequest{Version: publish(t, h, fmt.Sprintf("str-rollback-%d", i)), Message: "back"}
		}},
	}
	return append(policyBases, []stringsBase{
		{method: method(risk, "CheckSeller"), build: func(_ *testing.T, _ *harness, i int) proto.Message {
			r := cleanSeller()
			r.RequestId = fmt.Sprintf("str-seller-%d", i)
			r.Contact.ChatHandle, r.Locale = "wx_seller_1", "zh-CN"
			r.Identity.Mrz = "P<CHNZHANG<<SAN<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\nE123456784CHN9001014M3001014<<<<<<<<<<<<<<06"
			return r
		}},
		{method: method(risk, "ScoreGiftCardPurchase"), build: func(_ *testing.T, _ *harness, i int) proto.Message {
			return giftCard(fmt.Sprintf("str-gc-%d", i))
		}},
		{method: method(risk, "EvaluateRefund"), build: func(_ *testing.T, _ *harness, i int) proto.Message {
			return refund(fmt.Sprintf("str-refund-%d", i))
		}},
		// A decision of its own per case: a second report of one label
		// keeps the first note, and each case's note must be stored.
		{method: method(risk, "ReportOutcome"), lookup: []string{"decision_id"}, build: func(t *testing.T, h *harness, i int) proto.Message {
			return &riskv1.ReportOutcomeRequest{DecisionId: decide(t, h, fmt.Sprintf("str-report-%d", i)),
				Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, Note: "customer confirmed"}
		}},
		{method: method(risk, "GetDecision"), lookup: []string{"decision_id"}, build: func(t *testing.T, h *harness, i int) proto.Message {
			return &riskv1.GetDecisionRequest{DecisionId: decide(t, h, fmt.Sprintf("str-get-%d", i))}
		}},
		// One event of each kind, the outcome about an account (the walk
		// moves it to each of its other subjects in turn).
		{method: method(risk, "RecordEvents"), build: func(_ *testing.T, _ *harness, i int) proto.Message {
			at := timestamppb.New(now.Add(-time.Hour))
			return &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{
				{EventId: fmt.Sprintf("str-ev-%d-order", i), OccurredAt: at,
					Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: giftCard(fmt.Sprintf("str-ev-%d-order", i))}},
				{EventId: fmt.Sprintf("str-ev-%d-refund", i), OccurredAt: at,
					Event: &riskv1.HistoryEvent_Refund{Refund: refund(fmt.Sprintf("str-ev-%d-refund", i))}},
				{EventId: fmt.Sprintf("str-ev-%d-outcome", i), OccurredAt: at,
					Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{AccountId: "str-acct",
						Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, Note: "complaint"}}},
			}}
		}},
	}...)
}

// stringsCase is one field with one value (or invalid UTF-8 on the wire).
type stringsCase struct {
	base  stringsBase
	field stringField
	value string
	raw   bool // the value's bytes are made invalid UTF-8 on the wire
	name  string
}

// answer is what a case got: its code and its violations, for comparing
// the two stores.
type answer struct {
	code       codes.Code
	violations string
}

// stringsCases lists every case. It fails the test if a string field of
// an RPC's request is reached by no base request (or an RPC with strings
// has none).
func stringsCases(t *testing.T) []stringsCase {
	bases := stringsBases(t)
	reached := map[string]bool{}
	var cases []stringsCase
	for _, b := range bases {
		fields := stringFieldsOf(b.build(t, nil, -1).ProtoReflect())
		for _, f := range fields {
			reached[string(b.method.Name())+" "+f.schema] = true
			for _, v := range hostileValues {
				cases = append(cases, stringsCase{base: b, field: f, value: v.of(maxLen(f.fd())),
					name: fmt.Sprintf("%s %s: %s", b.method.Name(), f.path, v.name)})
			}
			cases = append(cases, stringsCase{base: b, field: f, value: rawPlaceholder, raw: true,
				name: fmt.Sprintf("%s %s: invalid UTF-8", b.method.Name(), f.path)})
		}
	}
	services := riskv1.File_risk_v1_risk_proto.Services()
	for i := range services.Len() {
		methods := services.Get(i).Methods()
		for j := range methods.Len() {
			md := methods.Get(j)
			for _, schema := range schemaStringFields(md.Input()) {
				if !reached[string(md.Name())+" "+schema] {
					t.Errorf("%s's %s is reached by no request of stringsBases: set it (or the message holding it) there", md.Name(), schema)
				}
			}
		}
	}
	return cases
}

// rawPlaceholder marks where a raw case's invalid bytes go: a character
// nothing else in a request holds, whose four bytes are replaced by four
// that are not UTF-8, so the encoding's lengths still hold.
const rawPlaceholder = "\U0010FFFD"

func TestHostileStringsOnBothStores(t *testing.T) {
	t.Parallel()
	cases := stringsCases(t)
	if t.Failed() {
		return
	}
	t.Logf("%d cases on each store", len(cases))
	got := map[string][]answer{}
	for _, st := range []struct {
		name     string
		postgres bool
	}{{"embedded", false}, {"postgres", true}} {
		t.Run(st.name, func(t *testing.T) {
			got[st.name] = runStringsCases(t, start(t, setup{postgres: st.postgres}), cases)
			n := map[codes.Code]int{}
			for _, a := range got[st.name] {
				n[a.code]++
			}
			t.Logf("answers: %v", n)
		})
	}
	emb, pg := got["embedded"], got["postgres"]
	if len(emb) != len(cases) || len(pg) != len(cases) {
		return // a store's run stopped; it said why
	}
	for i, c := range cases {
		if emb[i] != pg[i] {
			t.Errorf("%s: the embedded store answered %s %s, PostgreSQL %s %s", c.name, emb[i].code, emb[i].violations, pg[i].code, pg[i].violations)
		}
	}
}

// runStringsCases sends every case to h, a few at a time, checks each
// answer and returns them in the cases' order.
func runStringsCases(t *testing.T, h *harness, cases []stringsCase) []answer {
	out := make([]answer, len(cases))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, c := range cases {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = runStringsCase(t, h, c, i)
		})
	}
	wg.Wait()
	return out
}

func runStringsCase(t *testing.T, h *harness, c stringsCase, i int) answer {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := c.base.build(t, h, i)
	setString(req, c.field, c.value)
	method := fmt.Sprintf("/%s/%s", c.base.method.Parent().FullName(), c.base.method.Name())
	// Errorf, not Fatal: cases run on goroutines of their own.
	mt, err := protoregistry.GlobalTypes.FindMessageByName(c.base.method.Output().FullName())
	if err != nil {
		t.Errorf("%s: %v", c.name, err)
		return answer{}
	}
	resp := mt.New().Interface()
	if c.raw {
		body, err := proto.Marshal(req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			return answer{}
		}
		body = bytes.Replace(body, []byte(rawPlaceholder), []byte{0xff, 0xfe, 0xfd, 0xfc}, 1)
		err = h.conn.Invoke(ctx, method, &body, resp, forceRaw)
		a := answerOf(err)
		if a.code != codes.InvalidArgument || !hasErrorInfo(err, "MALFORMED_REQUEST") {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT with reason MALFORMED_REQUEST", c.name, err)
		}
		return a
	}
	err = h.conn.Invoke(ctx, method, req, resp)
	a := answerOf(err)

	fd := c.field.fd()
	rule := textRule(fd)
	switch {
	case rule == ruleNoControl && strings.ContainsFunc(c.value, unicode.IsControl):
		if !violated(err, c.field.path, "string.no_control") {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT naming %s with rule string.no_control", c.name, err, c.field.path)
		}
		return a
	case rule == ruleNoNUL && strings.Contains(c.value, "\x00"):
		if !violated(err, c.field.path, "string.no_nul") {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT naming %s with rule string.no_nul", c.name, err, c.field.path)
		}
		return a
	}
	switch a.code {
	case codes.OK:
		readBack(t, h, c, req, resp)
	case codes.InvalidArgument:
		if !slices.Contains(violations(err), c.field.path) {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT naming %s", c.name, err, c.field.path)
		}
	case codes.NotFound:
		if !slices.Contains(c.base.lookup, c.field.path) {
			t.Errorf("%s: got %v; NOT_FOUND only answers a decision looked up by an ID that names none", c.name, err)
		}
	default:
		t.Errorf("%s: got %v, want a result, or INVALID_ARGUMENT naming %s", c.name, err, c.field.path)
	}
	return a
}

// readBack checks that what an accepted call stored reads back as sent: a
// decision as the caller got it (its request_id with every character), a
// recorded batch by its event IDs (the same batch again is all
// duplicates), a reported outcome with its note.
func readBack(t *testing.T, h *harness, c stringsCase, req, resp proto.Message) {
	ctx := context.Background()
	switch r := resp.(type) {
	case interface{ GetDecision() *riskv1.Decision }:
		d := r.GetDecision()
		stored, err := h.client.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: d.GetDecisionId()})
		if err != nil || !proto.Equal(stored.GetDecision(), d) {
			t.Errorf("%s: the decision reads back as %v (%v), want %v", c.name, stored.GetDecision(), err, d)
		}
	case *riskv1.RecordEventsResponse:
		n := len(req.(*riskv1.RecordEventsRequest).GetEvents())
		again, err := h.client.RecordEvents(ctx, req.(*riskv1.RecordEventsRequest))
		if err != nil || again.GetRecorded() != 0 || int(again.GetDuplicates()) != n {
			t.Errorf("%s: the same batch again: %v (%v), want %d duplicates", c.name, again, err, n)
		}
	case *riskv1.PublishPolicyResponse:
		kept, err := riskv1.NewPolicyServiceClient(h.conn).GetPolicyVersion(ctx, &riskv1.GetPolicyVersionRequest{Version: r.GetVersion().GetVersion()})
		if want := req.(*riskv1.PublishPolicyRequest).GetMessage(); err != nil || kept.GetVersion().GetMessage() != want {
			t.Errorf("%s: the version's message reads back as %q (%v), want %q", c.name, kept.GetVersion().GetMessage(), err, want)
		}
	case *riskv1.ReportOutcomeResponse:
		o := req.(*riskv1.ReportOutcomeRequest)
		var notes []string
		err := h.store.ScanOutcomes(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), func(s store.Outcome) error {
			if s.DecisionID == o.GetDecisionId() {
				notes = append(notes, s.Note)
			}
			return nil
		})
		if err != nil || !slices.Equal(notes, []string{o.GetNote()}) {
			t.Errorf("%s: the outcome's note reads back as %q (%v), want %q", c.name, notes, err, o.GetNote())
		}
	}
}

func answerOf(err error) answer {
	st := status.Convert(err)
	var vs []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				vs = append(vs, fv.GetField()+":"+fv.GetReason())
			}
		}
	}
	slices.Sort(vs)
	return answer{code: st.Code(), violations: strings.Join(vs, " ")}
}

func hasErrorInfo(err error, reason string) bool {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == reason {
			return true
		}
	}
	return false
}

// An event ID is the caller's text and may hold the separators riskd
// itself writes into history IDs ("event:<event_id>/<series>/<n>"): an
// order recorded under one is listed among a fraud report's related orders
// with its whole event ID, never a part of it.
func TestRelatedOrderKeepsTheWholeEventID(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	const eventID = "shop/2026/order:7/giftcard/0"
	if _, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
		EventId: eventID, OccurredAt: timestamppb.New(time.Now().Add(-time.Hour)),
		Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: pastOrder("recorded-1", 1000)},
	}}}); err != nil {
		t.Fatal(err)
	}
	d, err := h.client.ScoreGiftCardPurchase(ctx, pastOrder("reported-1", 1000))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: d.GetDecision().GetDecisionId(),
		Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetRelated()) != 1 || resp.GetRelated()[0].GetEventId() != eventID || resp.GetRelated()[0].GetDecisionId() != "" {
		t.Fatalf("related orders %v, want the recorded order %q alone", resp.GetRelated(), eventID)
	}
}
