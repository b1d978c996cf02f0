package server

// The named lists' API (risk.v1.ListService): values arrive raw, are
// normalised and hashed here under the identifier key exactly as a
// decision's identifiers are (internal/pseudonym), and reach the store
// only as hashes, or as ranges for CIDR entries.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// maxImport bounds one import's entries: the server holds them until
	// the stream ends, about 200 bytes each.
	maxImport = 2_000_000
	// maxRejections bounds the refused entries a refusal names.
	maxRejections = 100
	// tokenListEntry marks a page token of ListListEntries.
	tokenListEntry = 'l'
)

// entryKinds maps the API's entry kinds to riskd's identifier kinds: the
// only kinds a list holds.
var entryKinds = map[riskv1.EntryKind]store.Kind{
	riskv1.EntryKind_ENTRY_KIND_ID_NUMBER:      store.KindIDNumber,
	riskv1.EntryKind_ENTRY_KIND_LICENSE:        store.KindLicense,
	riskv1.EntryKind_ENTRY_KIND_EMAIL:          store.KindEmail,
	riskv1.EntryKind_ENTRY_KIND_PAYOUT_ACCOUNT: store.KindPayoutAccount,
	riskv1.EntryKind_ENTRY_KIND_DEVICE:         store.KindDevice,
	riskv1.EntryKind_ENTRY_KIND_ACCOUNT:        store.KindAccount,
	riskv1.EntryKind_ENTRY_KIND_INSTRUMENT:     store.KindInstrument,
	riskv1.EntryKind_ENTRY_KIND_RECIPIENT:      store.KindRecipient,
	riskv1.EntryKind_ENTRY_KIND_SELLER:         store.KindSeller,
	riskv1.EntryKind_ENTRY_KIND_IP:             store.KindIP,
	riskv1.EntryKind_ENTRY_KIND_PHONE:          store.KindPhone,
	riskv1.EntryKind_ENTRY_KIND_EMAIL_DOMAIN:   store.KindEmailDomain,
}

// listService answers risk.v1.ListService. Requests arrive validated.
type listService struct {
	riskv1.UnimplementedListServiceServer
	store store.Store
	keys  *pseudonym.Keyer
	clock func() time.Time
	log   *slog.Logger
}

var _ riskv1.ListServiceServer = (*listService)(nil)

// listValue turns a raw value of an entry kind into what a list keeps: its
// keyed hash, or for an IP kind written as a CIDR range, the masked range.
// The error says why riskd cannot take it, without the value.
func listValue(keys *pseudonym.Keyer, kind riskv1.EntryKind, raw string) (store.ListValue, error) {
	k, ok := entryKinds[kind]
	if !ok {
		return store.ListValue{}, fmt.Errorf("kind %s is not one a list holds", kind)
	}
	if k == store.KindIP && strings.Contains(raw, "/") {
		p, err := netip.ParsePrefix(strings.TrimSpace(raw))
		if err != nil {
			return store.ListValue{}, errors.New("is not an IP address or CIDR range")
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8: one range, one entry.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Addr().Zone() != "" {
			return store.ListValue{}, errors.New("a range cannot have a zone")
		}
		return store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: p.Masked()}, nil
	}
	id, ok := keys.Identifier(k, raw)
	if !ok {
		if k == store.KindIP {
			return store.ListValue{}, errors.New("is not an IP address or CIDR range")
		}
		return store.ListValue{}, fmt.Errorf("is blank once normalised as %s", k)
	}
	return store.ListValue{ID: id}, nil
}

func listProto(l store.List) *riskv1.List {
	return &riskv1.List{Name: l.Name, Purpose: riskv1.ListPurpose(l.Purpose), Description: l.Description,
		CreatedBy: l.CreatedBy, CreatedAt: timestamppb.New(l.CreatedAt)}
}

// CreateList implements riskv1.ListServiceServer.
func (s *listService) CreateList(ctx context.Context, req *riskv1.CreateListRequest) (*riskv1.CreateListResponse, error) {
	l, created, err := s.store.CreateList(ctx, store.List{Name: req.GetName(), Purpose: store.ListPurpose(req.GetPurpose()),
		Description: req.GetDescription(), CreatedBy: callerName(ctx), CreatedAt: s.clock().UTC()})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &riskv1.CreateListResponse{List: listProto(l), Created: created}, nil
}

// ListLists implements riskv1.ListServiceServer.
func (s *listService) ListLists(ctx context.Context, _ *riskv1.ListListsRequest) (*riskv1.ListListsResponse, error) {
	ls, err := s.store.Lists(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	resp := &riskv1.ListListsResponse{Lists: make([]*riskv1.List, len(ls))}
	for i, l := range ls {
		resp.Lists[i] = listProto(l)
	}
	return resp, nil
}

// entries turns new entries into store entries at now, each with a new ID,
// and collects, for every one riskd cannot take, a field violation named
// by its index (from first) and its line.
func (s *listService) entries(ctx context.Context, in []*riskv1.NewListEntry, first int, now time.Time, out []store.ListEntry, br *errdetails.BadRequest) []store.ListEntry {
	who := callerName(ctx)
	for i, e := range in {
		refuse := func(field, why string) {
			if len(br.FieldViolations) == maxRejections {
				br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
					Field: "entries", Description: "more entries were refused; fix these and send again", Reason: "list_entry.more"})
			}
			if len(br.FieldViolations) > maxRejections {
				return
			}
			if e.GetLine() > 0 {
				why = fmt.Sprintf("line %d: %s", e.GetLine(), why)
			}
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: fmt.Sprintf("entries[%d].%s", first+i, field), Description: why, Reason: "list_entry." + field})
		}
		v, err := listValue(s.keys, e.GetKind(), e.GetValue())
		if err != nil {
			refuse("value", err.Error())
			continue
		}
		var expires time.Time
		if e.GetExpiresAt() != nil {
			if expires = e.GetExpiresAt().AsTime(); !expires.After(now) {
				refuse("expires_at", "is not in the future")
				continue
			}
		}
		id, err := uuid.NewV7()
		if err != nil {
			refuse("value", "no entry ID could be made")
			continue
		}
		out = append(out, store.ListEntry{ID: id.String(), Value: v, Reason: e.GetReason(), AddedBy: who, AddedAt: now, Expires: expires})
	}
	return out
}

// AddListEntries implements riskv1.ListServiceServer.
func (s *listService) AddListEntries(ctx context.Context, req *riskv1.AddListEntriesRequest) (*riskv1.AddListEntriesResponse, error) {
	br := &errdetails.BadRequest{}
	entries := s.entries(ctx, req.GetEntries(), 0, s.clock().UTC(), nil, br)
	if len(br.FieldViolations) > 0 {
		return nil, invalidArgument(br)
	}
	ids, err := s.store.AddListEntries(ctx, req.GetList(), entries)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &riskv1.AddListEntriesResponse{EntryIds: ids}, nil
}

// ImportListEntries implements riskv1.ListServiceServer: every chunk is
// checked as it comes, and the whole import is written in one transaction
// once the stream ends, or not at all.
func (s *listService) ImportListEntries(stream grpc.ClientStreamingServer[riskv1.ImportListEntriesRequest, riskv1.ImportListEntriesResponse]) error {
	ctx := stream.Context()
	now := s.clock().UTC()
	br := &errdetails.BadRequest{}
	var list string
	var entries []store.ListEntry
	received := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch {
		case list == "":
			list = req.GetList()
		case req.GetList() != list:
			return toStatus(ctx, s.log, &fieldError{field: "list", reason: "list.changed", err: errors.New("every chunk of an import names the same list")})
		}
		if received+len(req.GetEntries()) > maxImport {
			return toStatus(ctx, s.log, &fieldError{field: "entries", reason: "entries.too_many",
				err: fmt.Errorf("one import takes at most %d entries; split the file by list or by kind", maxImport)})
		}
		entries = s.entries(ctx, req.GetEntries(), received, now, entries, br)
		received += len(req.GetEntries())
	}
	if list == "" {
		return toStatus(ctx, s.log, &fieldError{field: "list", reason: "list.missing", err: errors.New("the import sent no chunk")})
	}
	if len(br.FieldViolations) > 0 {
		return invalidArgument(br)
	}
	if len(entries) == 0 {
		if _, err := s.store.ListEntries(ctx, store.ListEntryQuery{List: list, Limit: 1}); err != nil {
			return toStatus(ctx, s.log, err)
		}
		return stream.SendAndClose(&riskv1.ImportListEntriesResponse{})
	}
	ids, err := s.store.AddListEntries(ctx, list, entries)
	if err != nil {
		return toStatus(ctx, s.log, err)
	}
	distinct := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		distinct[id] = struct{}{}
	}
	return stream.SendAndClose(&riskv1.ImportListEntriesResponse{Entries: int64(len(distinct))})
}

// RemoveListEntry implements riskv1.ListServiceServer.
func (s *listService) RemoveListEntry(ctx context.Context, req *riskv1.RemoveListEntryRequest) (*riskv1.RemoveListEntryResponse, error) {
	if err := s.store.RemoveListEntry(ctx, req.GetList(), req.GetEntryId()); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &riskv1.RemoveListEntryResponse{}, nil
}

// listQuery identifies a listing's list, so a page token only continues
// the listing it came from.
func (s *listService) listQuery(list string) [8]byte {
	sum := s.keys.Content([]byte("risk.v1.ListListEntriesRequest\x00" + list))
	return [8]byte(sum[:8])
}

// ListListEntries implements riskv1.ListServiceServer.
func (s *listService) ListListEntries(ctx context.Context, req *riskv1.ListListEntriesRequest) (*riskv1.ListListEntriesResponse, error) {
	q := store.ListEntryQuery{List: req.GetList(), Limit: pageSize(req.GetPageSize())}
	query := s.listQuery(req.GetList())
	if t := req.GetPageToken(); t != "" {
		pos, err := parsePageToken(s.keys, t, tokenListEntry, query)
		if err != nil {
			return nil, toStatus(ctx, s.log, &fieldError{field: "page_token", reason: "page_token.invalid", err: err})
		}
		q.After = pos.ID
	}
	// One more than the page tells whether another follows.
	q.Limit++
	es, err := s.store.ListEntries(ctx, q)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	resp := &riskv1.ListListEntriesResponse{}
	if len(es) == q.Limit {
		es = es[:len(es)-1]
		resp.NextPageToken = makePageToken(s.keys, tokenListEntry, query, pagePosition{At: time.Unix(0, 0), ID: es[len(es)-1].ID})
	}
	resp.Entries = make([]*riskv1.ListEntry, len(es))
	for i, e := range es {
		out := &riskv1.ListEntry{EntryId: e.ID, List: e.List, Kind: riskv1.EntryKind(e.Value.ID.Kind), Reason: e.Reason,
			AddedBy: e.AddedBy, AddedAt: timestamppb.New(e.AddedAt)}
		if e.Value.IsRange() {
			out.IpRange = e.Value.Range.String()
		}
		if !e.Expires.IsZero() {
			out.ExpiresAt = timestamppb.New(e.Expires)
		}
		resp.Entries[i] = out
	}
	return resp, nil
}

// LookupListValue implements riskv1.ListServiceServer.
func (s *listService) LookupListValue(ctx context.Context, req *riskv1.LookupListValueRequest) (*riskv1.LookupListValueResponse, error) {
	probe := store.ListProbe{Now: s.clock()}
	if req.GetKind() == riskv1.EntryKind_ENTRY_KIND_IP && strings.Contains(req.GetValue(), "/") {
		return nil, toStatus(ctx, s.log, &fieldError{field: "value", reason: "value.range",
			err: errors.New("look up an address; a range is listed with ListListEntries")})
	}
	v, err := listValue(s.keys, req.GetKind(), req.GetValue())
	if err != nil {
		return nil, toStatus(ctx, s.log, &fieldError{field: "value", reason: "value.blank", err: err})
	}
	probe.IDs = []store.Identifier{v.ID}
	if v.ID.Kind == store.KindIP {
		probe.IP, _ = netip.ParseAddr(pseudonym.Normalise(store.KindIP, req.GetValue()))
	}
	ms, err := s.store.MatchLists(ctx, probe)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	resp := &riskv1.LookupListValueResponse{Matches: make([]*riskv1.ListMatch, len(ms))}
	for i, m := range ms {
		resp.Matches[i] = &riskv1.ListMatch{List: m.List, Purpose: riskv1.ListPurpose(m.Purpose), EntryId: m.EntryID}
	}
	return resp, nil
}
