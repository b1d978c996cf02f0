package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// namedListTests are the named lists' (store.NamedLists).
var namedListTests = []test{
	{"a list is created once; again with its purpose is a no-op, with another refused", testListCreate},
	{"a lookup finds every list's live entry of the same kind and hash, and nothing else", testListMatch},
	{"adding a value already on a list keeps its ID and takes the new reason and expiry", testListReAdd},
	{"an entry stops matching at its expiry", testListExpiry},
	{"an IP range matches the addresses inside it, of its family only", testListRanges},
	{"an add to an unknown list, or with one bad entry, writes nothing", testListAllOrNothing},
	{"a removed entry matches no more; removing it again is ErrNoListEntry", testListRemove},
	{"entries page in ID order, never repeating or skipping one", testListPaging},
	{"deleting values removes their entries from every list, and only those", testListDeleteValues},
	{"thousands of entries in one add all land", testListManyEntries},
}

// newList creates a list or fails the test.
func newList(t *testing.T, s store.Store, name string, p store.ListPurpose) store.List {
	t.Helper()
	l, created, err := s.CreateList(t.Context(), store.List{Name: name, Purpose: p, Description: "for " + name, CreatedBy: "ana", CreatedAt: base})
	if err != nil || !created {
		t.Fatalf("CreateList(%s) = created %v, %v", name, created, err)
	}
	return l
}

// entry is a list entry with a new ID.
func entry(t testing.TB, id store.Identifier, reason string) store.ListEntry {
	return store.ListEntry{ID: newID(t), Value: store.ListValue{ID: id}, Reason: reason, AddedBy: "ana", AddedAt: base}
}

func rangeEntry(t testing.TB, cidr string) store.ListEntry {
	return store.ListEntry{ID: newID(t), Value: store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: netip.MustParsePrefix(cidr).Masked()},
		Reason: "range " + cidr, AddedBy: "ana", AddedAt: base}
}

func mustAdd(t *testing.T, s store.Store, list string, entries ...store.ListEntry) []string {
	t.Helper()
	ids, err := s.AddListEntries(t.Context(), list, entries)
	if err != nil {
		t.Fatalf("AddListEntries(%s): %v", list, err)
	}
	if len(ids) != len(entries) {
		t.Fatalf("AddListEntries(%s) returned %d IDs for %d entries", list, len(ids), len(entries))
	}
	return ids
}

func mustMatch(t *testing.T, s store.Store, p store.ListProbe) []store.ListMatch {
	t.Helper()
	ms, err := s.MatchLists(t.Context(), p)
	if err != nil {
		t.Fatalf("MatchLists: %v", err)
	}
	slices.SortFunc(ms, func(a, b store.ListMatch) int { return strings.Compare(a.EntryID, b.EntryID) })
	return ms
}

// matchedIDs are the entry IDs of matches, sorted.
func matchedIDs(ms []store.ListMatch) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.EntryID
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func wantEntries(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: entries %v, want %v", what, got, want)
	}
}

func testListCreate(t *testing.T, s store.Store) {
	want := newList(t, s, "police-notices", store.PurposeBlock)
	newList(t, s, "vip", store.PurposeTrust)
	again, created, err := s.CreateList(t.Context(), store.List{Name: "police-notices", Purpose: store.PurposeBlock, Description: "other words", CreatedAt: base.Add(day)})
	if err != nil || created {
		t.Fatalf("CreateList again: created %v, %v; want the stored list", created, err)
	}
	if again.Description != want.Description || !again.CreatedAt.Equal(base) || again.CreatedBy != "ana" {
		t.Errorf("CreateList again returned %+v, want the first one %+v", again, want)
	}
	if _, _, err := s.CreateList(t.Context(), store.List{Name: "police-notices", Purpose: store.PurposeTrust, CreatedAt: base}); !errors.Is(err, store.ErrListExists) {
		t.Errorf("CreateList with another purpose: %v, want ErrListExists", err)
	}
	ls, err := s.Lists(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Name != "police-notices" || ls[0].Purpose != store.PurposeBlock || ls[1].Name != "vip" || ls[1].Purpose != store.PurposeTrust {
		t.Errorf("Lists = %+v, want police-notices (block) then vip (trust)", ls)
	}
	if !ls[0].CreatedAt.Equal(base) || ls[0].Description != "for police-notices" {
		t.Errorf("Lists[0] = %+v: time or description lost", ls[0])
	}
}

func testListMatch(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	newList(t, s, "trust", store.PurposeTrust)
	phone, device := ident(store.KindPhone, "13800138000"), ident(store.KindDevice, "dev-1")
	blocked := mustAdd(t, s, "block", entry(t, phone, "police notice"), entry(t, device, "victim call"))
	trusted := mustAdd(t, s, "trust", entry(t, phone, "our own shop"))

	ms := mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{phone, ident(store.KindAccount, "acct-9")}, Now: base})
	wantEntries(t, "probe of the phone", matchedIDs(ms), sorted(blocked[0], trusted[0]))
	for _, m := range ms {
		want := map[string]store.ListPurpose{blocked[0]: store.PurposeBlock, trusted[0]: store.PurposeTrust}[m.EntryID]
		wantList := map[string]string{blocked[0]: "block", trusted[0]: "trust"}[m.EntryID]
		if m.Purpose != want || m.List != wantList || m.Value.ID != phone || m.Value.IsRange() {
			t.Errorf("match %+v: want list %s, purpose %v, value the phone", m, wantList, want)
		}
	}
	// The same hash under another kind is another identifier: a device
	// named like a phone number does not match the phone's entry.
	sameHash := store.Identifier{Kind: store.KindDevice, Hash: phone.Hash}
	wantEntries(t, "same hash, other kind", matchedIDs(mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{sameHash}, Now: base})), nil)
	wantEntries(t, "both identifiers at once", matchedIDs(mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{device, phone}, Now: base})),
		sorted(blocked[0], blocked[1], trusted[0]))
	wantEntries(t, "no identifiers", matchedIDs(mustMatch(t, s, store.ListProbe{Now: base})), nil)
}

func testListReAdd(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	newList(t, s, "review", store.PurposeReview)
	acct := ident(store.KindAccount, "acct-1")
	first := mustAdd(t, s, "block", entry(t, acct, "first"))
	again := entry(t, acct, "second")
	again.Expires = base.Add(day)
	again.AddedBy = "bo"
	ids := mustAdd(t, s, "block", again)
	if ids[0] != first[0] {
		t.Errorf("re-adding a value gave ID %s, want the entry's own %s", ids[0], first[0])
	}
	// The same value twice in one call is one entry too.
	other := ident(store.KindAccount, "acct-2")
	twice := mustAdd(t, s, "block", entry(t, other, "a"), entry(t, other, "b"))
	if twice[0] != twice[1] {
		t.Errorf("one value twice in a call gave IDs %v, want one", twice)
	}
	// On another list the same value is another entry.
	onReview := mustAdd(t, s, "review", entry(t, acct, "other list"))
	if onReview[0] == first[0] {
		t.Error("the same value on another list shares the first list's entry ID")
	}
	es, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("block list holds %d entries, want 2: %+v", len(es), es)
	}
	got := es[slices.IndexFunc(es, func(e store.ListEntry) bool { return e.ID == first[0] })]
	if got.Reason != "second" || got.AddedBy != "bo" || !got.Expires.Equal(base.Add(day)) || got.Value.ID != acct || got.List != "block" {
		t.Errorf("re-added entry = %+v, want reason second, by bo, expiring a day later", got)
	}
	if e := es[slices.IndexFunc(es, func(e store.ListEntry) bool { return e.ID == twice[0] })]; e.Reason != "b" {
		t.Errorf("the value given twice kept reason %q, want the later b", e.Reason)
	}
}

func testListExpiry(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	acct := ident(store.KindAccount, "acct-1")
	e := entry(t, acct, "for a day")
	e.Expires = base.Add(day)
	ids := mustAdd(t, s, "block", e)
	probe := func(at time.Time) []string {
		return matchedIDs(mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{acct}, Now: at}))
	}
	wantEntries(t, "before expiry", probe(base.Add(day-time.Second)), ids)
	wantEntries(t, "at expiry", probe(base.Add(day)), nil)
	wantEntries(t, "after expiry", probe(base.Add(2*day)), nil)
	// An expired entry is still listed, with its expiry, until removed.
	es, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", Limit: 10})
	if err != nil || len(es) != 1 || !es[0].Expires.Equal(base.Add(day)) {
		t.Errorf("ListEntries = %+v, %v; want the entry with its expiry", es, err)
	}
}

func testListRanges(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	ip := ident(store.KindIP, "192.0.2.7")
	ids := mustAdd(t, s, "block", rangeEntry(t, "10.0.0.0/8"), rangeEntry(t, "2001:db8::/32"), entry(t, ip, "one address"), rangeEntry(t, "198.51.100.7/32"))
	tests := []struct {
		ip   string
		want []string
	}{
		{"10.1.2.3", []string{ids[0]}},
		{"10.255.255.255", []string{ids[0]}},
		{"11.0.0.1", nil},
		{"::ffff:10.1.2.3", []string{ids[0]}},
		{"2001:db8:1::9", []string{ids[1]}},
		{"2001:db9::1", nil},
		{"198.51.100.7", []string{ids[3]}},
		{"198.51.100.8", nil},
		// A single address is hashed, found by its probe, not as a range.
		{"192.0.2.7", nil},
	}
	for _, tc := range tests {
		got := matchedIDs(mustMatch(t, s, store.ListProbe{IP: netip.MustParseAddr(tc.ip), Now: base}))
		wantEntries(t, "address "+tc.ip, got, sorted(tc.want...))
	}
	wantEntries(t, "the hashed address", matchedIDs(mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{ip}, Now: base})), ids[2:3])
	ms := mustMatch(t, s, store.ListProbe{IP: netip.MustParseAddr("10.9.9.9"), Now: base})
	if len(ms) != 1 || ms[0].Value.Range != netip.MustParsePrefix("10.0.0.0/8") || ms[0].Purpose != store.PurposeBlock {
		t.Errorf("range match = %+v, want the 10.0.0.0/8 entry as a block", ms)
	}
	// The same range again is the same entry.
	if again := mustAdd(t, s, "block", rangeEntry(t, "10.0.0.0/8")); again[0] != ids[0] {
		t.Errorf("re-adding a range gave ID %s, want %s", again[0], ids[0])
	}
	es, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", Limit: 10})
	if err != nil || len(es) != 4 {
		t.Fatalf("ListEntries = %d entries, %v; want 4", len(es), err)
	}
	if e := es[slices.IndexFunc(es, func(e store.ListEntry) bool { return e.ID == ids[1] })]; e.Value.Range != netip.MustParsePrefix("2001:db8::/32") || e.Value.ID.Kind != store.KindIP {
		t.Errorf("listed range = %+v, want 2001:db8::/32 of kind ip", e.Value)
	}
}

func testListAllOrNothing(t *testing.T, s store.Store) {
	acct := ident(store.KindAccount, "acct-1")
	if _, err := s.AddListEntries(t.Context(), "nowhere", []store.ListEntry{entry(t, acct, "x")}); !errors.Is(err, store.ErrNoList) {
		t.Errorf("add to an unknown list: %v, want ErrNoList", err)
	}
	newList(t, s, "block", store.PurposeBlock)
	bad := entry(t, ident(store.KindAccount, "acct-2"), "bad")
	bad.Value.ID.Kind = 0
	if _, err := s.AddListEntries(t.Context(), "block", []store.ListEntry{entry(t, acct, "good"), bad}); err == nil {
		t.Error("add with an entry of no kind: no error")
	}
	noID := entry(t, acct, "no id")
	noID.ID = ""
	if _, err := s.AddListEntries(t.Context(), "block", []store.ListEntry{noID}); err == nil {
		t.Error("add with an entry without ID: no error")
	}
	wantEntries(t, "after refused adds", matchedIDs(mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{acct}, Now: base})), nil)
	if es, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", Limit: 10}); err != nil || len(es) != 0 {
		t.Errorf("ListEntries after refused adds = %+v, %v; want none", es, err)
	}
	if _, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "nowhere", Limit: 10}); !errors.Is(err, store.ErrNoList) {
		t.Errorf("ListEntries of an unknown list: %v, want ErrNoList", err)
	}
}

func testListRemove(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	newList(t, s, "other", store.PurposeBlock)
	acct, rng := ident(store.KindAccount, "acct-1"), rangeEntry(t, "10.0.0.0/8")
	ids := mustAdd(t, s, "block", entry(t, acct, "x"), rng)
	if err := s.RemoveListEntry(t.Context(), "other", ids[0]); !errors.Is(err, store.ErrNoListEntry) {
		t.Errorf("remove through another list: %v, want ErrNoListEntry", err)
	}
	for _, id := range ids {
		if err := s.RemoveListEntry(t.Context(), "block", id); err != nil {
			t.Fatalf("RemoveListEntry: %v", err)
		}
	}
	p := store.ListProbe{IDs: []store.Identifier{acct}, IP: netip.MustParseAddr("10.0.0.1"), Now: base}
	wantEntries(t, "after remove", matchedIDs(mustMatch(t, s, p)), nil)
	if err := s.RemoveListEntry(t.Context(), "block", ids[0]); !errors.Is(err, store.ErrNoListEntry) {
		t.Errorf("remove again: %v, want ErrNoListEntry", err)
	}
	// The value can come back, as a new entry.
	again := mustAdd(t, s, "block", entry(t, acct, "back"))
	if again[0] == ids[0] {
		t.Error("a removed value came back with its old ID")
	}
	wantEntries(t, "added back", matchedIDs(mustMatch(t, s, p)), again)
}

func testListPaging(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	newList(t, s, "other", store.PurposeBlock)
	var all []string
	for i := range 7 {
		all = append(all, mustAdd(t, s, "block", entry(t, ident(store.KindDevice, fmt.Sprint("dev-", i)), "x"))...)
	}
	mustAdd(t, s, "other", entry(t, ident(store.KindDevice, "dev-other"), "x"))
	var got []string
	after := ""
	for range 10 {
		page, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(page))
		}
		for _, e := range page {
			got = append(got, e.ID)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, sorted(all...)) {
		t.Errorf("paged entries %v, want %v in ID order", got, sorted(all...))
	}
}

func testListDeleteValues(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	newList(t, s, "trust", store.PurposeTrust)
	phone, other := ident(store.KindPhone, "13800138000"), ident(store.KindPhone, "13900139000")
	mustAdd(t, s, "block", entry(t, phone, "x"), rangeEntry(t, "10.0.0.0/8"))
	mustAdd(t, s, "trust", entry(t, phone, "y"))
	kept := mustAdd(t, s, "trust", entry(t, other, "z"))
	// Kind counts: a device with the phone's hash is not the phone.
	mustAdd(t, s, "block", entry(t, store.Identifier{Kind: store.KindDevice, Hash: phone.Hash}, "same hash"))
	n, err := s.DeleteListValues(t.Context(), []store.Identifier{phone})
	if err != nil || n != 2 {
		t.Fatalf("DeleteListValues = %d, %v; want 2", n, err)
	}
	p := store.ListProbe{IDs: []store.Identifier{phone, other}, IP: netip.MustParseAddr("10.0.0.1"), Now: base}
	ms := mustMatch(t, s, p)
	if len(ms) != 2 || !slices.ContainsFunc(ms, func(m store.ListMatch) bool { return m.EntryID == kept[0] }) ||
		!slices.ContainsFunc(ms, func(m store.ListMatch) bool { return m.Value.IsRange() }) {
		t.Errorf("after deleting the phone: %+v, want the other phone's entry and the range", ms)
	}
	if n, err := s.DeleteListValues(t.Context(), []store.Identifier{phone}); err != nil || n != 0 {
		t.Errorf("DeleteListValues again = %d, %v; want 0", n, err)
	}
	es, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", Limit: 10})
	if err != nil || len(es) != 2 {
		t.Errorf("block list after the delete = %+v, %v; want the range and the device", es, err)
	}
}

func testListManyEntries(t *testing.T, s store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	const n = 3000
	entries := make([]store.ListEntry, n)
	for i := range entries {
		entries[i] = entry(t, ident(store.KindInstrument, fmt.Sprint("fp-", i)), "bulk")
	}
	mustAdd(t, s, "block", entries...)
	for _, i := range []int{0, 1234, n - 1} {
		ms := mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{entries[i].Value.ID}, Now: base})
		wantEntries(t, fmt.Sprint("entry ", i), matchedIDs(ms), []string{entries[i].ID})
	}
	var count int
	after := ""
	for {
		page, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		count += len(page)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	if count != n {
		t.Errorf("listed %d entries, want %d", count, n)
	}
}

// testDurableLists: lists and entries, ranges and expiries survive a
// reopen.
func testDurableLists(t *testing.T, s store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	newList(t, s, "block", store.PurposeBlock)
	acct := ident(store.KindAccount, "acct-1")
	e := entry(t, acct, "kept")
	e.Expires = base.Add(day)
	ids := mustAdd(t, s, "block", e, rangeEntry(t, "10.0.0.0/8"))
	s = reopen(t, s)
	ls, err := s.Lists(t.Context())
	if err != nil || len(ls) != 1 || ls[0].Purpose != store.PurposeBlock {
		t.Fatalf("Lists after reopen = %+v, %v", ls, err)
	}
	ms := mustMatch(t, s, store.ListProbe{IDs: []store.Identifier{acct}, IP: netip.MustParseAddr("10.0.0.1"), Now: base})
	wantEntries(t, "after reopen", matchedIDs(ms), sorted(ids...))
	es, err := s.ListEntries(t.Context(), store.ListEntryQuery{List: "block", Limit: 10})
	if err != nil || len(es) != 2 {
		t.Fatalf("ListEntries after reopen = %+v, %v", es, err)
	}
	for _, got := range es {
		if got.ID == ids[0] && (got.Reason != "kept" || !got.Expires.Equal(base.Add(day)) || !got.AddedAt.Equal(base) || got.AddedBy != "ana") {
			t.Errorf("entry after reopen = %+v", got)
		}
	}
}
