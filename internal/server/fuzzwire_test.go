package server_test

import (
	"context"
	"errors"
	"io"
	"sort"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// wireMethod is an RPC FuzzWire feeds raw bytes, with a way to make an
// empty answer of its type.
type wireMethod struct {
	name string
	resp protoreflect.MessageType
	// clientStream: the bytes go as the one message of a client stream
	// (ImportListEntries), which is answered when the stream closes.
	clientStream bool
}

// wireMethods are every unary and client-streaming RPC of every service
// in package risk.v1, read from the registered descriptors, so that an
// RPC added later is fuzzed without anyone remembering to list it. (The
// server-streaming watch waits for events; its request is fuzzed by the
// review tests.)
func wireMethods() []wireMethod {
	var out []wireMethod
	protoregistry.GlobalFiles.RangeFilesByPackage("risk.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				if m.IsStreamingServer() {
					continue
				}
				mt, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
				if err != nil {
					panic(err)
				}
				out = append(out, wireMethod{"/" + string(svc.FullName()) + "/" + string(m.Name()), mt, m.IsStreamingClient()})
			}
		}
		return true
	})
	sort.Slice(out, func(a, b int) bool { return out[a].name < out[b].name })
	return out
}

func TestWireMethodsAreEveryRPC(t *testing.T) {
	got := map[string]bool{}
	for _, m := range wireMethods() {
		got[m.name] = true
	}
	for _, name := range []string{
		riskv1.RiskService_CheckSeller_FullMethodName, riskv1.RiskService_ScoreGiftCardPurchase_FullMethodName,
		riskv1.RiskService_EvaluateRefund_FullMethodName, riskv1.RiskService_ReportOutcome_FullMethodName,
		riskv1.RiskService_GetDecision_FullMethodName, riskv1.RiskService_RecordEvents_FullMethodName,
		riskv1.PolicyService_GetPolicy_FullMethodName, riskv1.PolicyService_ReplayPolicy_FullMethodName,
		riskv1.ReviewService_ListDecisions_FullMethodName, riskv1.ReviewService_ListCases_FullMethodName,
		riskv1.ReviewService_GetCase_FullMethodName, riskv1.ReviewService_ClaimCase_FullMethodName,
		riskv1.ReviewService_ReleaseClaim_FullMethodName, riskv1.ReviewService_ResolveCase_FullMethodName,
		riskv1.ReviewService_AddCaseNote_FullMethodName, riskv1.ReviewService_ListRelatedDecisions_FullMethodName,
		riskv1.ListService_CreateList_FullMethodName, riskv1.ListService_ListLists_FullMethodName,
		riskv1.ListService_AddListEntries_FullMethodName, riskv1.ListService_ImportListEntries_FullMethodName,
		riskv1.ListService_RemoveListEntry_FullMethodName, riskv1.ListService_ListListEntries_FullMethodName,
		riskv1.ListService_LookupListValue_FullMethodName,
		riskv1.PrivacyService_EraseSubject_FullMethodName, riskv1.PrivacyService_ExportSubject_FullMethodName,
	} {
		if !got[name] {
			t.Errorf("FuzzWire does not reach %s", name)
		}
	}
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
	methods := wireMethods()
	index := func(name string) uint8 {
		for i, m := range methods {
			if m.name == name {
				return uint8(i)
			}
		}
		f.Fatalf("no method %s", name)
		return 0
	}
	// Each well-formed body to its own method; the broken ones to all.
	f.Add(index(riskv1.RiskService_CheckSeller_FullMethodName), seller)
	f.Add(index(riskv1.RiskService_ScoreGiftCardPurchase_FullMethodName), order)
	f.Add(index(riskv1.RiskService_EvaluateRefund_FullMethodName), refund)
	entries, _ := proto.Marshal(&riskv1.AddListEntriesRequest{List: "fuzz", Entries: []*riskv1.NewListEntry{
		{Kind: riskv1.EntryKind_ENTRY_KIND_IP, Value: "10.0.0.0/8"}, {Kind: riskv1.EntryKind_ENTRY_KIND_PHONE, Value: "+86 138"}}})
	f.Add(index(riskv1.ListService_AddListEntries_FullMethodName), entries)
	f.Add(index(riskv1.ListService_ImportListEntries_FullMethodName), entries) // the same fields, in one chunk
	list, _ := proto.Marshal(&riskv1.CreateListRequest{Name: "fuzz", Purpose: riskv1.ListPurpose_LIST_PURPOSE_BLOCK})
	f.Add(index(riskv1.ListService_CreateList_FullMethodName), list)
	for i := range methods {
		for _, b := range [][]byte{nil, []byte("garbage"), {0x08, 0xff, 0xff}, {0x0a, 0x02, 0xff, 0xfe}} {
			f.Add(uint8(i), b)
		}
	}
	h := start(f, setup{})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		m := methods[int(which)%len(methods)]
		ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout)
		defer cancel()
		var err error
		if m.clientStream {
			err = invokeClientStream(ctx, h, m, body)
		} else {
			err = h.conn.Invoke(ctx, m.name, &body, m.resp.New().Interface(), forceRaw)
		}
		switch status.Code(err) {
		// FAILED_PRECONDITION: a policy change the state refuses (no canary
		// to promote, no earlier version to roll back to).
		case codes.OK, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition:
		default:
			t.Fatalf("%s with %d bytes %q: %v", m.name, len(body), body, err)
		}
	})
}

// invokeClientStream sends body as the one message of a client stream and
// returns the answer's error.
func invokeClientStream(ctx context.Context, h *harness, m wireMethod, body []byte) error {
	stream, err := h.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, m.name, forceRaw)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&body); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(m.resp.New().Interface())
}
