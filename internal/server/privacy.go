package server

// The privacy desk's API (risk.v1.PrivacyService): erasure and access
// requests about one person.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxExport bounds the decisions one export returns: a subject with more
// (an account deciding every minute for a year) is exported whole through
// ListDecisions' pages instead.
const maxExport = 10000

// privacyService answers risk.v1.PrivacyService. Requests arrive
// validated.
type privacyService struct {
	riskv1.UnimplementedPrivacyServiceServer
	store store.Store
	keys  *pseudonym.Keyer
	clock func() time.Time
	log   *slog.Logger
}

var _ riskv1.PrivacyServiceServer = (*privacyService)(nil)

// erasure derives every stored form of the subjects, as a decision stores
// them (internal/history): the keyed hash; for an account or seller ID
// also the ID in clear as a link's subject, and its keyed ref on the
// events it placed under shared keys, declined or not.
func (p *privacyService) erasure(subjects []*riskv1.Subject) (store.Erasure, error) {
	var e store.Erasure
	for i, s := range subjects {
		kind := store.Kind(s.GetKind())
		id, ok := p.keys.Identifier(kind, s.GetValue())
		if !ok {
			return e, &fieldError{field: fmt.Sprintf("subjects[%d].value", i), reason: "subject.blank",
				err: errors.New("is blank once normalised as its kind")}
		}
		if !slices.Contains(e.IDs, id) {
			e.IDs = append(e.IDs, id)
		}
		var prefix string
		switch kind {
		case store.KindAccount:
			prefix = history.SubjectAccount
		case store.KindSeller:
			prefix = history.SubjectSeller
		default:
			continue
		}
		ref := p.keys.Ref(s.GetValue())
		e.LinkSubjects = append(e.LinkSubjects, prefix+s.GetValue())
		e.Refs = append(e.Refs, ref, history.Declined(ref))
	}
	return e, nil
}

// EraseSubject implements riskv1.PrivacyServiceServer.
func (p *privacyService) EraseSubject(ctx context.Context, req *riskv1.EraseSubjectRequest) (*riskv1.EraseSubjectResponse, error) {
	e, err := p.erasure(req.GetSubjects())
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	eraser, ok := p.store.(store.Eraser)
	if !ok {
		return nil, toStatus(ctx, p.log, errors.New("the store cannot erase"))
	}
	var rid [16]byte
	_, _ = rand.Read(rid[:])
	e.Receipt = store.ErasureRecord{ID: hex.EncodeToString(rid[:]), At: p.clock().UTC(), Caller: callerName(ctx)}
	for _, id := range e.IDs {
		if !slices.Contains(e.Receipt.Kinds, id.Kind.Name()) {
			e.Receipt.Kinds = append(e.Receipt.Kinds, id.Kind.Name())
		}
	}
	// List entries first, in a transaction of their own (a repeat finds
	// none, so a crash between the two is mended by sending it again).
	n, err := p.store.DeleteListValues(ctx, listForms(e.IDs))
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	e.Prior.ListEntries = n
	out, err := eraser.Erase(ctx, e)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	out.Counts.Add(e.Prior)
	// The store's erasure log has the entry (in the erasure's own
	// transaction); the service log gets the same, never a value or hash.
	c := out.Counts
	p.log.InfoContext(ctx, "erasure", "erasure_id", e.Receipt.ID, "caller", e.Receipt.Caller, "kinds", e.Receipt.Kinds,
		"decisions", c.Decisions, "subject_index", c.SubjectIndex, "events", c.Events, "links", c.Links, "marks", c.Marks, "batches", c.Batches, "list_entries", c.ListEntries)
	return &riskv1.EraseSubjectResponse{ErasureId: e.Receipt.ID, Counts: &riskv1.ErasureCounts{
		Decisions: int64(c.Decisions), SubjectIndex: int64(c.SubjectIndex), Events: int64(c.Events),
		Links: int64(c.Links), Marks: int64(c.Marks), Batches: int64(c.Batches), ListEntries: int64(c.ListEntries),
	}}, nil
}

// listForms are the list values an erasure takes off every list: each
// identifier under its own kind, and a mobile, landline or recipient also
// as a list's phone (hashes do not carry the kind, and a phone list entry
// is hashed by the mobile's rule: the same hash when it is one number).
func listForms(ids []store.Identifier) []store.Identifier {
	out := slices.Clone(ids)
	for _, id := range ids {
		switch id.Kind {
		case store.KindMobile, store.KindLandline, store.KindRecipient:
			out = append(out, store.Identifier{Kind: store.KindPhone, Hash: id.Hash})
		}
	}
	return out
}

// ExportSubject implements riskv1.PrivacyServiceServer.
func (p *privacyService) ExportSubject(ctx context.Context, req *riskv1.ExportSubjectRequest) (*riskv1.ExportSubjectResponse, error) {
	id, ok := p.keys.Identifier(store.Kind(req.GetSubject().GetKind()), req.GetSubject().GetValue())
	if !ok {
		return nil, toStatus(ctx, p.log, &fieldError{field: "subject.value", reason: "subject.blank",
			err: errors.New("is blank once normalised as its kind")})
	}
	out := &riskv1.ExportSubjectResponse{}
	q := store.DecisionQuery{Subject: &id, Limit: 500, MaxScan: maxScan}
	for len(out.Decisions) < maxExport {
		page, err := p.store.ListDecisions(ctx, q)
		if err != nil {
			return nil, toStatus(ctx, p.log, err)
		}
		for _, cd := range page.Decisions {
			// Signals may describe others sharing a device or card.
			d := cd.Decision
			d.Signals = nil
			out.Decisions = append(out.Decisions, d)
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	marks, err := p.store.Marks(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	for _, m := range marks {
		out.Outcomes = append(out.Outcomes, &riskv1.SubjectOutcome{DecisionId: m.DecisionID, Label: m.Label, At: timestamppb.New(m.At)})
	}
	return out, nil
}
