package lists_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/lists"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// fixture is a real embedded store with two lists, and the verifier over it.
type fixture struct {
	st   *pebblestore.Store
	keys *pseudonym.Keyer
	v    *lists.Verifier
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := pseudonym.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, keys: keys, v: lists.New(st, keys), now: time.Now()}
	for name, p := range map[string]store.ListPurpose{"block": store.PurposeBlock, "trust": store.PurposeTrust} {
		if _, _, err := st.CreateList(context.Background(), store.List{Name: name, Purpose: p, CreatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

var seq int

// add lists a raw value (hashed as the API hashes it) and returns its ID.
func (f *fixture) add(t *testing.T, list string, kind store.Kind, raw string) string {
	t.Helper()
	seq++
	e := store.ListEntry{ID: fmt.Sprintf("entry-%03d", seq), AddedAt: f.now}
	if p, err := netip.ParsePrefix(raw); err == nil {
		e.Value = store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: p.Masked()}
	} else {
		id, ok := f.keys.Identifier(kind, raw)
		if !ok {
			t.Fatalf("%s %q is blank", kind, raw)
		}
		e.Value = store.ListValue{ID: id}
	}
	if _, err := f.st.AddListEntries(context.Background(), list, []store.ListEntry{e}); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func seller() *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		SellerId: "seller-7",
		Client:   &riskv1.Client{DeviceId: "dev-7", IpAddress: "203.0.113.9"},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: "11010519491231002X"},
		Contact:  &riskv1.Contact{Mobile: "13800138000", Landline: "0591-87654321", Email: "shop@mail.example"},
		Payout:   &riskv1.PayoutAccount{AccountNumber: "6222020200112233445"},
	}
}

func (f *fixture) verify(t *testing.T, req *riskv1.CheckSellerRequest) verifier.Result {
	t.Helper()
	res, err := f.v.Verify(context.Background(), verifier.Input{Check: riskv1.Check_CHECK_SELLER, DecisionID: "d-1", Request: req, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestNoMatchGivesThePurposesOnly(t *testing.T) {
	f := newFixture(t)
	f.add(t, "block", store.KindPhone, "13900139000")
	res := f.verify(t, seller())
	if len(res.Findings) != 0 || len(res.Signals) != 3 {
		t.Fatalf("no match: findings %v, signals %v; want none and three", res.Findings, res.Signals)
	}
	for _, s := range []string{"lists.block", "lists.review", "lists.trust"} {
		if res.Signals[s] != false {
			t.Errorf("%s = %v, want false", s, res.Signals[s])
		}
	}
}

// Table: what each match gives, in signals and in the finding's sentence.
func TestMatchesBecomeSignalsAndFindings(t *testing.T) {
	tests := []struct {
		name       string
		list       string
		kind       store.Kind
		raw        string
		code       string
		fields     string
		purposeSig string
	}{
		{"mobile and landline share a phone entry's kind", "block", store.KindPhone, "+86 138 0013 8000", lists.CodeBlock, "contact.mobile", "lists.block"},
		{"landline", "block", store.KindPhone, "0591 8765 4321", lists.CodeBlock, "contact.landline", "lists.block"},
		{"e-mail domain", "block", store.KindEmailDomain, "MAIL.example", lists.CodeBlock, "contact.email", "lists.block"},
		{"range", "block", store.KindIP, "203.0.113.0/24", lists.CodeBlock, "client.ip_address", "lists.block"},
		{"hashed address", "trust", store.KindIP, "203.0.113.9", lists.CodeTrust, "client.ip_address", "lists.trust"},
		{"identity number", "trust", store.KindIDNumber, "11010519491231002x", lists.CodeTrust, "identity.number", "lists.trust"},
		{"payout account", "trust", store.KindPayoutAccount, "6222 0202 0011 2233 445", lists.CodeTrust, "payout.account_number", "lists.trust"},
		{"seller", "trust", store.KindSeller, "seller-7", lists.CodeTrust, "seller_id", "lists.trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.add(t, tc.list, tc.kind, tc.raw)
			res := f.verify(t, seller())
			if len(res.Findings) != 1 || res.Findings[0].Code != tc.code || res.Findings[0].Score != 0 {
				t.Fatalf("findings %+v, want one %s at score 0", res.Findings, tc.code)
			}
			msg := res.Findings[0].Message
			for _, want := range []string{id, tc.list, tc.fields} {
				if !strings.Contains(msg, want) {
					t.Errorf("sentence %q does not name %q", msg, want)
				}
			}
			if zh := res.Findings[0].Messages["zh-CN"]; !strings.Contains(zh, id) || !strings.Contains(zh, "名单") {
				t.Errorf("zh-CN sentence %q", zh)
			}
			if strings.Contains(msg, tc.raw) {
				t.Errorf("sentence %q holds the listed value", msg)
			}
			if res.Signals[tc.purposeSig] != true || res.Signals[tc.purposeSig+".fields"] != tc.fields ||
				res.Signals["lists.matched"] != tc.list || res.Signals["lists.list."+tc.list] != true ||
				res.Signals["lists.entries"] != tc.list+":"+id+"@"+tc.fields {
				t.Errorf("signals %v", res.Signals)
			}
		})
	}
}

// One phone entry matching both the mobile and the landline names both
// fields; entries on two lists give two findings.
func TestSeveralMatches(t *testing.T) {
	f := newFixture(t)
	req := seller()
	req.Contact.Landline = "138 0013 8000" // the mobile, typed again
	blocked := f.add(t, "block", store.KindPhone, "13800138000")
	trusted := f.add(t, "trust", store.KindDevice, "dev-7")
	res := f.verify(t, req)
	if len(res.Findings) != 2 || res.Findings[0].Code != lists.CodeBlock || res.Findings[1].Code != lists.CodeTrust {
		t.Fatalf("findings %+v, want block then trust", res.Findings)
	}
	want := "block:" + blocked + "@contact.landline,block:" + blocked + "@contact.mobile,trust:" + trusted + "@client.device_id"
	if res.Signals["lists.entries"] != want {
		t.Errorf("lists.entries = %v, want %s", res.Signals["lists.entries"], want)
	}
	if res.Signals["lists.fields"] != "client.device_id,contact.landline,contact.mobile" || res.Signals["lists.matched"] != "block,trust" {
		t.Errorf("signals %v", res.Signals)
	}
}
