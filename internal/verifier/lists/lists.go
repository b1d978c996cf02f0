// Package lists looks a request's identifiers up in the named lists that
// analysts keep by hand (store.NamedLists): a phone from a police notice on
// a block list, a partner's seller ID on a trust list. Every identifier of
// the request, hashed as its decision hashes it, and its client's IP
// address go to the store in one lookup, so a decision costs one read
// (one round trip on PostgreSQL) whatever the number of fields or entries.
//
// It tells the policy what matched: which lists, of which purpose, on
// which request field, and which entry (by ID, never by value). The
// default policy declines a block-list match, reviews a review-list match
// and lowers the score of a trust-list match.
package lists

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Reason codes this verifier finds, one per list purpose. Their score is
// 0: what a match does is the policy's (its rules on these codes).
const (
	CodeBlock  = "ON_BLOCK_LIST"
	CodeReview = "ON_REVIEW_LIST"
	CodeTrust  = "ON_TRUST_LIST"
)

// Reader is what the verifier reads: the lists' lookup.
type Reader interface {
	MatchLists(ctx context.Context, p store.ListProbe) ([]store.ListMatch, error)
}

// Verifier is the lists verifier.
type Verifier struct {
	lists Reader
	keys  *pseudonym.Keyer
}

var _ verifier.Verifier = (*Verifier)(nil)

// New returns a lists verifier over the store's lists.
func New(r Reader, keys *pseudonym.Keyer) *Verifier { return &Verifier{lists: r, keys: keys} }

// FieldIP names the client's IP address, matched by hash and by range.
const FieldIP = "client.ip_address"

// probe is one identifier looked up, and the request field it came from.
type probe struct {
	id    store.Identifier
	field string
}

// probes is what a request looks up. The hash of a value does not depend
// on its kind, only on its normalised form, so an identifier the decision
// already hashed (its history entry's subjects) is reused under the list
// kind whose normalisation is the same: a mobile's hash is the phone's, a
// recipient's is its e-mail's or phone's.
type probes struct {
	keys  *pseudonym.Keyer
	entry history.Entry
	out   []probe
}

// reuse returns the hash the entry holds for an identifier of kind.
func (p *probes) reuse(kind store.Kind) (store.Identifier, bool) {
	for _, id := range p.entry.Subjects {
		if id.Kind == kind {
			return id, true
		}
	}
	for _, id := range p.entry.Indexed {
		if id.Kind == kind {
			return id, true
		}
	}
	return store.Identifier{}, false
}

// add looks raw up under list kind, as field: with the entry's hash of
// kind from when it has one, else hashed here.
func (p *probes) add(field string, kind, from store.Kind, raw string) {
	id, ok := store.Identifier{}, false
	if from != 0 {
		id, ok = p.reuse(from)
	}
	if !ok {
		if id, ok = p.keys.Identifier(kind, raw); !ok {
			return
		}
	}
	id.Kind = kind
	p.out = append(p.out, probe{id: id, field: field})
}

// email adds an e-mail address and its domain.
func (p *probes) email(field string, from store.Kind, raw string) {
	if raw == "" {
		return
	}
	p.add(field, store.KindEmail, from, raw)
	p.add(field, store.KindEmailDomain, 0, raw)
}

func (p *probes) client(c *riskv1.Client) netip.Addr {
	p.add("client.device_id", store.KindDevice, store.KindDevice, c.GetDeviceId())
	if c.GetIpAddress() == "" {
		return netip.Addr{}
	}
	p.add(FieldIP, store.KindIP, 0, c.GetIpAddress())
	ip, _ := netip.ParseAddr(pseudonym.Normalise(store.KindIP, c.GetIpAddress()))
	return ip
}

// Verify looks the request's identifiers up in every list at once.
func (v *Verifier) Verify(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	entry, err := in.History(v.keys)
	if err != nil {
		return verifier.Result{}, err
	}
	p := probes{keys: v.keys, entry: entry, out: make([]probe, 0, 12)}
	var ip netip.Addr
	switch r := in.Request.(type) {
	case *riskv1.CheckSellerRequest:
		p.add("seller_id", store.KindSeller, store.KindSeller, r.GetSellerId())
		switch r.GetIdentity().GetType() {
		case riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID:
			p.add("identity.number", store.KindIDNumber, store.KindIDNumber, r.GetIdentity().GetNumber())
		case riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT:
			p.add("identity.mrz", store.KindIDNumber, store.KindIDNumber, r.GetIdentity().GetMrz())
		}
		p.add("license.uscc", store.KindLicense, store.KindLicense, r.GetLicense().GetUscc())
		p.add("contact.mobile", store.KindPhone, store.KindMobile, r.GetContact().GetMobile())
		p.add("contact.landline", store.KindPhone, 0, r.GetContact().GetLandline())
		p.email("contact.email", store.KindEmail, r.GetContact().GetEmail())
		p.add("payout.account_number", store.KindPayoutAccount, store.KindPayoutAccount, r.GetPayout().GetAccountNumber())
		ip = p.client(r.GetClient())
	case *riskv1.ScoreGiftCardPurchaseRequest:
		p.add("account_id", store.KindAccount, store.KindAccount, r.GetAccountId())
		p.add("payment.fingerprint", store.KindInstrument, store.KindInstrument, r.GetPayment().GetFingerprint())
		if e := r.GetRecipient().GetEmail(); e != "" {
			p.add("recipient.email", store.KindRecipient, store.KindRecipient, e)
			p.email("recipient.email", store.KindRecipient, e)
		} else if ph := r.GetRecipient().GetPhone(); ph != "" {
			p.add("recipient.phone", store.KindRecipient, store.KindRecipient, ph)
			p.add("recipient.phone", store.KindPhone, store.KindRecipient, ph)
		}
		ip = p.client(r.GetClient())
	case *riskv1.EvaluateRefundRequest:
		p.add("buyer_account_id", store.KindAccount, store.KindAccount, r.GetBuyerAccountId())
		p.add("seller_id", store.KindSeller, store.KindSeller, r.GetSellerId())
		p.add("destination.fingerprint", store.KindInstrument, 0, r.GetDestination().GetFingerprint())
		ip = p.client(r.GetClient())
	default:
		return verifier.Result{}, fmt.Errorf("lists verifier does not apply to %s", in.Check)
	}
	ids := make([]store.Identifier, 0, len(p.out))
	for _, pr := range p.out {
		if !slices.Contains(ids, pr.id) {
			ids = append(ids, pr.id)
		}
	}
	matches, err := v.lists.MatchLists(ctx, store.ListProbe{IDs: ids, IP: ip, Now: in.Now})
	if err != nil {
		return verifier.Result{}, err
	}
	return result(matches, p.out), nil
}

// hit is one match on one field.
type hit struct {
	m     store.ListMatch
	field string
}

// result turns matches into signals and findings. Without a match it
// gives the three purposes' signals only (every decision carries its
// signals, so each costs every decision); the others come with a match.
func result(matches []store.ListMatch, probes []probe) verifier.Result {
	res := verifier.Result{Signals: map[string]any{"lists.block": false, "lists.review": false, "lists.trust": false}}
	if len(matches) == 0 {
		return res
	}
	var hits []hit
	for _, m := range matches {
		if m.Value.IsRange() {
			hits = append(hits, hit{m, FieldIP})
			continue
		}
		for _, pr := range probes {
			if pr.id == m.Value.ID {
				hits = append(hits, hit{m, pr.field})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := strings.Compare(a.m.List, b.m.List); c != 0 {
			return c
		}
		if c := strings.Compare(a.m.EntryID, b.m.EntryID); c != 0 {
			return c
		}
		return strings.Compare(a.field, b.field)
	})
	hits = slices.Compact(hits)
	var names, fields, entries []string
	byPurpose := map[store.ListPurpose][]hit{}
	for _, h := range hits {
		names = append(names, h.m.List)
		fields = append(fields, h.field)
		entries = append(entries, h.m.List+":"+h.m.EntryID+"@"+h.field)
		byPurpose[h.m.Purpose] = append(byPurpose[h.m.Purpose], h)
		res.Signals["lists.list."+h.m.List] = true
	}
	res.Signals["lists.matched"] = joinSet(names)
	res.Signals["lists.fields"] = joinSet(fields)
	res.Signals["lists.entries"] = strings.Join(entries, ",")
	for _, pu := range []store.ListPurpose{store.PurposeBlock, store.PurposeReview, store.PurposeTrust} {
		hs := byPurpose[pu]
		if len(hs) == 0 {
			continue
		}
		fs := make([]string, len(hs))
		for i, h := range hs {
			fs[i] = h.field
		}
		res.Signals["lists."+pu.String()] = true
		res.Signals["lists."+pu.String()+".fields"] = joinSet(fs)
		res.Findings = append(res.Findings, finding(pu, hs))
	}
	return res
}

func joinSet(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// maxNamed bounds the entries a sentence names.
const maxNamed = 5

// finding says which entries of a purpose's lists matched, on which
// field: by list name and entry ID, never the value. Each purpose's
// finding is its own literal, which the reason-code reference is
// generated from (internal/docgen).
func finding(pu store.ListPurpose, hs []hit) verifier.Finding {
	var en, zh []string
	for i, h := range hs {
		if i == maxNamed {
			en = append(en, fmt.Sprintf("and %d more", len(hs)-i))
			zh = append(zh, fmt.Sprintf("另有%d项", len(hs)-i))
			break
		}
		k := h.m.Value.ID.Kind
		en = append(en, fmt.Sprintf("the %s (%s), list %q, entry %s", k, h.field, h.m.List, h.m.EntryID))
		zh = append(zh, fmt.Sprintf("%s（%s），名单“%s”，条目 %s", kindZH[k], h.field, h.m.List, h.m.EntryID))
	}
	names, namesZH := strings.Join(en, "; "), strings.Join(zh, "；")
	switch pu {
	case store.PurposeBlock:
		return verifier.Finding{Code: CodeBlock, Score: 0,
			Message:  fmt.Sprintf("On a block list: %s.", names),
			Messages: verifier.ZH(fmt.Sprintf("命中封禁名单：%s。", namesZH))}
	case store.PurposeReview:
		return verifier.Finding{Code: CodeReview, Score: 0,
			Message:  fmt.Sprintf("On a review list: %s.", names),
			Messages: verifier.ZH(fmt.Sprintf("命中审核名单：%s。", namesZH))}
	default:
		return verifier.Finding{Code: CodeTrust, Score: 0,
			Message:  fmt.Sprintf("On a trust list: %s.", names),
			Messages: verifier.ZH(fmt.Sprintf("命中信任名单：%s。", namesZH))}
	}
}

var kindZH = map[store.Kind]string{
	store.KindIDNumber: "身份证件号码", store.KindLicense: "营业执照", store.KindEmail: "邮箱",
	store.KindPayoutAccount: "收款账户", store.KindDevice: "设备", store.KindAccount: "账户",
	store.KindInstrument: "支付方式", store.KindRecipient: "收件人", store.KindSeller: "商家",
	store.KindIP: "IP地址", store.KindPhone: "电话号码", store.KindEmailDomain: "邮箱域名",
}
