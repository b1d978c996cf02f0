// Package links finds who comes back. Sellers (T2 of docs/fraud-patterns.md): a new
// seller whose identity number, licence, phones, e-mail, payout account,
// address or device was already used by another seller, above all by a
// banned one, and devices or payout accounts that many sellers were created
// from. Purchases and refunds (G3): an account, device, instrument or
// recipient that a reported fraud or chargeback marked.
//
// It reads only keyed hashes from the store: the same ones the seller's own
// decision will write, derived by the history package, so what is looked up
// is exactly what was stored.
package links

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Reason codes this verifier finds.
const (
	CodeLinkedBanned = "LINKED_TO_BANNED_SELLER"
	CodeLinkedOther  = "LINKED_TO_OTHER_SELLER"
	CodeManySellers  = "MANY_SELLERS_ONE_DEVICE"
	CodeLinkedFraud  = "LINKED_TO_CONFIRMED_FRAUD"
)

// Scores. A shared device or IP address is weak evidence (family members,
// internet cafés, shared offices); every other identifier is strong.
const (
	scoreBannedStrong = 60
	scoreBannedWeak   = 30
	scoreOther        = 30
	scoreMany         = 30
	scoreFraud        = 70
)

// Defaults for MANY_SELLERS_ONE_DEVICE: this many other sellers created
// from one device or payout account within the window.
const (
	DefaultManyWindow = 30 * 24 * time.Hour
	DefaultManyOthers = 2
)

// maxLinks bounds the subjects read per identifier: enough to tell "shared
// with others" and to meet a banned one, without reading a popular
// identifier's whole crowd on every check.
const maxLinks = 100

// maxSellerEvents bounds one device's or account's scan; far fewer are
// already a crowd.
const maxSellerEvents = 1000

// Verifier is the links verifier.
type Verifier struct {
	store      history.Reader
	keys       *pseudonym.Keyer
	manyWindow time.Duration
	manyOthers int64
}

var _ verifier.Verifier = (*Verifier)(nil)

// New returns a links verifier over the store.
func New(r history.Reader, keys *pseudonym.Keyer) *Verifier {
	return &Verifier{store: r, keys: keys, manyWindow: DefaultManyWindow, manyOthers: DefaultManyOthers}
}

func weak(k store.Kind) bool { return k == store.KindDevice || k == store.KindIP }

// Verify looks up every identifier of the request: for a seller, links to
// other and banned sellers; for a purchase or refund, links to confirmed
// fraud.
func (v *Verifier) Verify(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	switch req := in.Request.(type) {
	case *riskv1.CheckSellerRequest:
		return v.seller(ctx, in, req)
	case *riskv1.ScoreGiftCardPurchaseRequest, *riskv1.EvaluateRefundRequest:
		return v.fraud(ctx, in)
	}
	return verifier.Result{}, fmt.Errorf("links verifier does not apply to %s", in.Check)
}

// fraudLabels are the outcomes that make an identifier a fraud's.
var fraudLabels = []riskv1.OutcomeLabel{riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}

// fraud finds identifiers of the request (account, device, instrument,
// recipient) that a reported fraud or chargeback marked (G3).
func (v *Verifier) fraud(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	entry, err := in.History(v.keys)
	if err != nil {
		return verifier.Result{}, err
	}
	var kinds []store.Kind
	for _, id := range entry.Subjects {
		marks, err := v.store.Marks(ctx, id)
		if err != nil {
			return verifier.Result{}, err
		}
		if slices.ContainsFunc(marks, func(m store.Mark) bool { return slices.Contains(fraudLabels, m.Label) }) {
			kinds = appendKind(kinds, id.Kind)
		}
	}
	res := verifier.Result{Signals: map[string]any{"links.confirmed_fraud": len(kinds) > 0}}
	if len(kinds) > 0 {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeLinkedFraud, Score: scoreFraud,
			Message:  fmt.Sprintf("The %s was used in a purchase reported as fraud.", kindList(kinds)),
			Messages: verifier.ZH(fmt.Sprintf("本订单的%s曾用于被确认的欺诈订单。", kindListZH(kinds)))})
	}
	return res, nil
}

func (v *Verifier) seller(ctx context.Context, in verifier.Input, req *riskv1.CheckSellerRequest) (verifier.Result, error) {
	entry, err := in.History(v.keys)
	if err != nil {
		return verifier.Result{}, err
	}
	self := history.SubjectSeller + req.GetSellerId()
	var bannedKinds, otherKinds []store.Kind
	others := map[string]bool{} // other sellers met, to check for bans
	sharedWith := map[string][]store.Kind{}
	selfBanned := false
	for _, id := range entry.Subjects {
		if id.Kind == store.KindSeller {
			// The seller itself, banned before (by a report on one of its
			// decisions, or by RecordEvents) and back under the same ID.
			marks, err := v.store.Marks(ctx, id)
			if err != nil {
				return verifier.Result{}, err
			}
			selfBanned = banned(marks)
			continue
		}
		marks, err := v.store.Marks(ctx, id)
		if err != nil {
			return verifier.Result{}, err
		}
		if banned(marks) {
			bannedKinds = appendKind(bannedKinds, id.Kind)
		}
		links, err := v.store.Linked(ctx, id, maxLinks)
		if err != nil {
			return verifier.Result{}, err
		}
		for _, l := range links {
			if l.Subject == self || !strings.HasPrefix(l.Subject, history.SubjectSeller) {
				continue
			}
			others[l.Subject] = true
			sharedWith[l.Subject] = appendKind(sharedWith[l.Subject], id.Kind)
		}
	}
	// A seller banned by an outcome recorded against the seller itself
	// (RecordEvents) carries the mark on its seller identifier.
	checked := 0
	for subject := range others {
		if checked++; checked > maxLinks {
			break // enough: the identifiers' own marks carry most bans
		}
		sid, ok := v.keys.Identifier(store.KindSeller, strings.TrimPrefix(subject, history.SubjectSeller))
		if !ok {
			continue
		}
		marks, err := v.store.Marks(ctx, sid)
		if err != nil {
			return verifier.Result{}, err
		}
		if banned(marks) {
			for _, k := range sharedWith[subject] {
				bannedKinds = appendKind(bannedKinds, k)
			}
			continue
		}
		for _, k := range sharedWith[subject] {
			otherKinds = appendKind(otherKinds, k)
		}
	}

	res := verifier.Result{Signals: map[string]any{
		"links.banned_strong": selfBanned || slices.ContainsFunc(bannedKinds, func(k store.Kind) bool { return !weak(k) }),
		"links.banned":        selfBanned || len(bannedKinds) > 0,
		"links.other_sellers": int64(len(others)),
	}}
	if selfBanned {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeLinkedBanned, Score: scoreBannedStrong,
			Message: "This seller was banned before.", Messages: verifier.ZH("该商家此前已被封禁。")})
	} else if len(bannedKinds) > 0 {
		score := scoreBannedWeak
		if res.Signals["links.banned_strong"].(bool) {
			score = scoreBannedStrong
		}
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeLinkedBanned, Score: score,
			Message:  fmt.Sprintf("Shares its %s with a banned seller.", kindList(bannedKinds)),
			Messages: verifier.ZH(fmt.Sprintf("与已被封禁的商家共用%s。", kindListZH(bannedKinds)))})
	}
	otherKinds = slices.DeleteFunc(otherKinds, func(k store.Kind) bool { return slices.Contains(bannedKinds, k) })
	if len(otherKinds) > 0 {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeLinkedOther, Score: scoreOther,
			Message:  fmt.Sprintf("Shares its %s with another seller.", kindList(otherKinds)),
			Messages: verifier.ZH(fmt.Sprintf("与其他商家共用%s。", kindListZH(otherKinds)))})
	}

	// Many sellers from one device or payout account in the window.
	var crowded []store.Kind
	for _, e := range entry.Events {
		if e.Series != history.SeriesSeller {
			continue
		}
		past, err := v.store.Events(ctx, history.SeriesSeller, e.Key, in.Now.Add(-v.manyWindow), in.Now.Add(time.Nanosecond), maxSellerEvents)
		if err != nil {
			return verifier.Result{}, err
		}
		// Other sellers only: this seller's own earlier checks are not a crowd.
		refs := map[string]bool{}
		for _, p := range past {
			if p.Ref != "" && p.Ref != e.Ref {
				refs[p.Ref] = true
			}
		}
		n := int64(len(refs))
		res.Signals["links.sellers_per_"+e.Key.Kind.Name()] = n
		if n >= v.manyOthers {
			crowded = appendKind(crowded, e.Key.Kind)
		}
	}
	if len(crowded) > 0 {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeManySellers, Score: scoreMany,
			Message:  fmt.Sprintf("Several sellers were created from the same %s recently.", kindList(crowded)),
			Messages: verifier.ZH(fmt.Sprintf("近期同一%s注册了多个商家。", kindListZH(crowded)))})
	}
	return res, nil
}

func banned(marks []store.Mark) bool {
	return slices.ContainsFunc(marks, func(m store.Mark) bool { return m.Label == riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED })
}

func appendKind(ks []store.Kind, k store.Kind) []store.Kind {
	if slices.Contains(ks, k) {
		return ks
	}
	return append(ks, k)
}

var kindsZH = map[store.Kind]string{
	store.KindIDNumber: "身份证件号码", store.KindLicense: "营业执照", store.KindMobile: "手机号",
	store.KindLandline: "座机", store.KindEmail: "邮箱", store.KindPayoutAccount: "收款账户",
	store.KindDevice: "设备", store.KindAddress: "地址", store.KindAccount: "账户",
	store.KindInstrument: "支付方式", store.KindRecipient: "收件人", store.KindSeller: "商家",
	store.KindChatHandle: "聊天账号", store.KindIP: "IP地址",
}

// kindListZH is kindList in Chinese ("手机号、收款账户").
func kindListZH(ks []store.Kind) string {
	slices.Sort(ks)
	words := make([]string, len(ks))
	for i, k := range ks {
		words[i] = kindsZH[k]
	}
	return strings.Join(words, "、")
}

// kindList names kinds in words ("mobile and payout account"), never values.
func kindList(ks []store.Kind) string {
	slices.Sort(ks)
	words := make([]string, len(ks))
	for i, k := range ks {
		words[i] = k.String()
	}
	switch len(words) {
	case 1:
		return words[0]
	default:
		return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
	}
}
