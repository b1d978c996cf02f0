package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Hostile text (issue 18, item 4): every string a store keeps (request
// and decision IDs, event IDs, series, refs, subjects, the IDs marks and
// outcomes name, notes, batch event IDs, text inside a decision) may hold
// whatever the API's validation lets through, and must read back byte for
// byte, on every backend alike. Validation refuses NUL in all of them
// (PostgreSQL text cannot hold it; see package store), so no value here has
// one; every other control character, format characters, emoji and the
// longest values the API allows are here, as are strings that a store
// normalising Unicode, folding case or trimming blanks would confuse.

var textTests = []test{
	{"hostile text in every string a store keeps reads back byte for byte", testTextReadsBack},
	{"strings that differ in any byte are different IDs, subjects and refs", testTextDistinct},
	{"an ID of hostile text that names nothing is not found", testTextNotFound},
	{"hostile text expires like any other", testTextExpires},
}

// hostileTexts are the values, each written into every string at once.
var hostileTexts = []struct{ name, value string }{
	{"C0 controls", "\x01\x02\x1f"},
	{"tab, line feed, carriage return", "a\tb\nc\r\n"},
	{"escape sequence", "\x1b[2J\x1b]0;title\x07"},
	{"DEL", "a\x7fb"},
	{"C1 controls", "\u0080\u0085\u009b\u009f"},
	{"right-to-left override and isolates", "\u202eabc\u202c\u2067d\u2069"},
	{"zero-width characters and byte order mark", "a\u200b\u200c\u200d\ufeffb"},
	{"line and paragraph separators", "a\u2028b\u2029c"},
	{"four-byte characters", "🎁👨‍👩‍👧‍👦\U00020000"},
	{"noncharacters and the last code point", "\ufffe\uffff\U0010ffff\ufffd"},
	{"quotes, backslashes and SQL", `'"\%_; DROP TABLE decisions; --`},
	{"separators riskd uses in IDs", "event:a/b/c:d"},
	{"leading and trailing blanks", " \u3000a\u00a0 "},
	{"combining marks", "e\u0301\u0308"},
	// The API's longest identifiers: 128 four-byte characters.
	{"128 four-byte characters", strings.Repeat("🎁", 128)},
}

// longNote is the longest note the API takes: 2000 four-byte characters,
// with control characters in it.
var longNote = strings.Repeat("🎁", 1997) + "\t\n\x1b"

// textWritten is what writeText wrote, to read back.
type textWritten struct {
	commits         []store.Commit
	outcomes        []store.Outcome
	batches         []store.Batch
	account, device store.Identifier
	events, series  []store.Event // series: one event per hostile series
	links           []store.Link
	marks           []store.Mark
	// recorded are the batch entries' own keys: their events, links and marks.
	recorded           store.Identifier
	recordedEvents     []store.Event
	recordedLinks      []store.Link
	recordedMarks      []store.Mark
	recordedDevice     store.Identifier
	recordedSubjectsOf map[string][]store.Identifier
}

// writeText writes every hostile value into every string, through Commit,
// ReportOutcome and Record, each value at a time of its own so that every
// read has one order.
func writeText(t *testing.T, s store.Store) textWritten {
	t.Helper()
	w := textWritten{
		account: ident(store.KindAccount, "acct-text"), device: ident(store.KindDevice, "dev-text"),
		recorded: ident(store.KindAccount, "acct-recorded"), recordedDevice: ident(store.KindDevice, "dev-recorded"),
		recordedSubjectsOf: map[string][]store.Identifier{},
	}
	for i, h := range hostileTexts {
		v := h.value
		at := base.Add(time.Duration(i) * time.Minute)
		d := decision(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "req/"+v, at)
		d.DecisionId = "dec/" + v
		d.Reasons[0].Message = v
		d.Signals[3].Value = &riskv1.Signal_StringValue{StringValue: v}
		e := event("evt/"+v, seriesGiftCard, w.account, at, int64(i+1))
		e.Ref = v
		other := event("evt/"+v, "series/"+v, w.account, at, int64(i+1))
		other.Ref = "ref/" + v
		l := store.Link{ID: w.device, Subject: "account:" + v, At: at}
		c := store.Commit{
			Decision: d, RequestHash: contentHash(v), Subjects: []store.Identifier{w.account},
			Events: []store.Event{e, other}, Links: []store.Link{l}, Facts: []byte(v),
		}
		mustCommit(t, s, c, true)
		w.commits = append(w.commits, c)
		w.events, w.series, w.links = append(w.events, e), append(w.series, other), append(w.links, l)

		note := v
		if i == 0 {
			note = longNote
		}
		o := store.Outcome{DecisionID: d.DecisionId, Label: fraud, Note: note, At: at.Add(time.Second)}
		mustReport(t, s, o)
		w.outcomes = append(w.outcomes, o)
		w.marks = append(w.marks, store.Mark{Label: fraud, DecisionID: d.DecisionId, At: o.At})

		rat := base.Add(day + time.Duration(i)*time.Minute)
		re := event("event:batch/"+v+"/giftcard/0", seriesGiftCard, w.recorded, rat, int64(i+1))
		re.Ref = v
		rl := store.Link{ID: w.recordedDevice, Subject: "account:" + v, At: rat}
		rm := store.Mark{Label: chargeback, DecisionID: "event:batch/" + v, At: rat}
		subjects := []store.Identifier{w.recorded, ident(store.KindRecipient, v)}
		w.batches = append(w.batches, store.Batch{EventID: "batch/" + v, Subjects: subjects,
			Events: []store.Event{re}, Links: []store.Link{rl}, Marks: []store.IdentifierMark{{ID: w.recorded, Mark: rm}}})
		w.recordedEvents, w.recordedLinks, w.recordedMarks = append(w.recordedEvents, re), append(w.recordedLinks, rl), append(w.recordedMarks, rm)
		w.recordedSubjectsOf["batch/"+v] = subjects
	}
	mustRecord(t, s, w.batches, len(w.batches), 0)
	return w
}

// checkText reads back everything writeText wrote.
func checkText(t *testing.T, s store.Store, w textWritten) {
	t.Helper()
	for i, c := range w.commits {
		name := hostileTexts[i].name
		wantDecision(t, name+": Decision", mustDecision(t, s, c.Decision.GetDecisionId()), c.Decision)
		got, hash, err := s.DecisionByRequest(t.Context(), c.Decision.GetCheck(), c.Decision.GetRequestId())
		if err != nil {
			t.Errorf("%s: DecisionByRequest: %v", name, err)
		} else {
			wantDecision(t, name+": DecisionByRequest", got, c.Decision)
			if hash != c.RequestHash {
				t.Errorf("%s: DecisionByRequest hash differs", name)
			}
		}
		if facts, err := s.Facts(t.Context(), c.Decision.GetDecisionId()); err != nil || string(facts) != string(c.Facts) {
			t.Errorf("%s: Facts = %q, %v, want %q", name, facts, err, c.Facts)
		}
		if subjects, err := s.Subjects(t.Context(), c.Decision.GetDecisionId()); err != nil || !slices.Equal(subjects, c.Subjects) {
			t.Errorf("%s: Subjects = %v, %v, want %v", name, subjects, err, c.Subjects)
		}
		wantEvents(t, name+": Events of its own series", mustEvents(t, s, w.series[i].Series, w.account, base.Add(-day), base.Add(2*day), 0), w.series[i:i+1])
		// A replay of the same request is found by its hostile request ID.
		mustCommit(t, s, replayOf(t, c, c.RequestHash), false)
	}
	since, until := base.Add(-day), base.Add(2*day)
	wantEvents(t, "Events", mustEvents(t, s, seriesGiftCard, w.account, since, until, 0), w.events)
	wantLinks(t, "Linked", mustLinked(t, s, w.device), w.links)
	wantMarks(t, "Marks", mustMarks(t, s, w.account), w.marks)
	var outcomes []store.Outcome
	if err := s.ScanOutcomes(t.Context(), since, until, func(o store.Outcome) error {
		outcomes = append(outcomes, o)
		return nil
	}); err != nil {
		t.Fatalf("ScanOutcomes: %v", err)
	}
	if len(outcomes) != len(w.outcomes) {
		t.Fatalf("ScanOutcomes: %d outcomes, want %d", len(outcomes), len(w.outcomes))
	}
	for i, o := range outcomes {
		want := w.outcomes[i]
		if o.DecisionID != want.DecisionID || o.Label != want.Label || o.Note != want.Note || !o.At.Equal(want.At) {
			t.Errorf("%s: outcome %+q, want %+q", hostileTexts[i].name, o, want)
		}
	}

	wantEvents(t, "recorded Events", mustEvents(t, s, seriesGiftCard, w.recorded, since, until, 0), w.recordedEvents)
	wantLinks(t, "recorded Linked", mustLinked(t, s, w.recordedDevice), w.recordedLinks)
	wantMarks(t, "recorded Marks", mustMarks(t, s, w.recorded), w.recordedMarks)
	for id, want := range w.recordedSubjectsOf {
		if got, err := s.RecordedSubjects(t.Context(), id); err != nil || !slices.Equal(got, want) {
			t.Errorf("RecordedSubjects(%+q) = %v, %v, want %v", id, got, err, want)
		}
	}
	// Every entry is found again by its hostile event ID.
	mustRecord(t, s, w.batches, 0, len(w.batches))
}

func testTextReadsBack(t *testing.T, s store.Store) {
	checkText(t, s, writeText(t, s))
}

func testDurableText(t *testing.T, s store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	w := writeText(t, s)
	checkText(t, reopen(t, s), w)
}

// textPairs differ in bytes but not to a store that normalised Unicode
// (NFC, NFKC), folded case, trimmed blanks or compared by a linguistic
// collation: each is two IDs, two subjects, two refs.
var textPairs = [][2]string{
	{"caf\u00e9", "cafe\u0301"},        // NFC and NFD
	{"\ufb01le", "file"},               // a ligature and its NFKC form
	{"Account", "account"},             // case
	{"stra\u00dfe", "strasse"},         // ß and its case folding
	{"a", "a "},                        // a trailing blank
	{"b", "b\u200d"},                   // an invisible joiner
	{"line\r\n", "line\n"},             // line ends
	{"\u202eab", "ab"},                 // a bidi override
	{"1", "\uff11"},                    // full-width digit
	{"a\u0085", "a\u2028"},             // two line separators
	{"\U0001f381", "\U0001f381\ufe0f"}, // emoji and emoji presentation
}

func testTextDistinct(t *testing.T, s store.Store) {
	key, device := ident(store.KindAccount, "acct-pairs"), ident(store.KindDevice, "dev-pairs")
	var events []store.Event
	var links []store.Link
	var batches []store.Batch
	for i, p := range textPairs {
		at := base.Add(time.Duration(i) * time.Minute)
		for j, v := range p {
			name := fmt.Sprintf("pair %d (%+q)", i, v)
			// Not a replay, and not a conflict: another request.
			c := commitDecision(t, s, riskv1.Check_CHECK_REFUND, "req/"+v, at, nil)
			got, _, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_REFUND, "req/"+v)
			if err != nil {
				t.Fatalf("%s: DecisionByRequest: %v", name, err)
			}
			wantDecision(t, name+": DecisionByRequest", got, c.Decision)
			// Each its own time: one order to compare, whatever a backend
			// does with ties.
			e := event("evt/"+v, seriesRefund, key, at.Add(time.Duration(j)*time.Second), 1)
			e.Ref = v
			events = append(events, e)
			links = append(links, store.Link{ID: device, Subject: "account:" + v, At: at.Add(time.Duration(j) * time.Second)})
			batches = append(batches, store.Batch{EventID: "batch/" + v, Subjects: []store.Identifier{ident(store.KindRecipient, v)}})
		}
	}
	mustRecord(t, s, []store.Batch{{EventID: "pairs", Events: events, Links: links}}, 1, 0)
	wantEvents(t, "Events", mustEvents(t, s, seriesRefund, key, base.Add(-day), base.Add(day), 0), events)
	wantAggregate(t, "Aggregate", mustAggregate(t, s, seriesRefund, key, base.Add(-day), base.Add(day)),
		store.Aggregate{Count: int64(len(events)), Amount: int64(len(events)), Quantity: int64(len(events)), DistinctRefs: int64(len(events))})
	wantLinks(t, "Linked", mustLinked(t, s, device), links)
	mustRecord(t, s, batches, len(batches), 0)
	for _, b := range batches {
		if got, err := s.RecordedSubjects(t.Context(), b.EventID); err != nil || !slices.Equal(got, b.Subjects) {
			t.Errorf("RecordedSubjects(%+q) = %v, %v, want %v", b.EventID, got, err, b.Subjects)
		}
	}
}

func testTextNotFound(t *testing.T, s store.Store) {
	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "req/known", base, nil)
	mustRecord(t, s, []store.Batch{{EventID: "batch/known"}}, 1, 0)
	for _, h := range hostileTexts {
		v := h.value
		_, err := s.Decision(t.Context(), "dec/"+v)
		wantNotFound(t, h.name+": Decision", err)
		_, _, err = s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_SELLER, "req/"+v)
		wantNotFound(t, h.name+": DecisionByRequest", err)
		_, err = s.Subjects(t.Context(), "dec/"+v)
		wantNotFound(t, h.name+": Subjects", err)
		_, err = s.Facts(t.Context(), "dec/"+v)
		wantNotFound(t, h.name+": Facts", err)
		_, err = s.RecordedSubjects(t.Context(), "batch/"+v)
		wantNotFound(t, h.name+": RecordedSubjects", err)
		err = s.ReportOutcome(t.Context(), store.Outcome{DecisionID: "dec/" + v, Label: fraud, Note: v, At: base})
		wantNotFound(t, h.name+": ReportOutcome", err)
	}
}

func testTextExpires(t *testing.T, s store.Store) {
	w := writeText(t, s)
	// Long after everything: all of it is due.
	expireAll(t, s, base.Add(2*day+retention.Decisions), 1000)
	for i, c := range w.commits {
		name := hostileTexts[i].name
		_, err := s.Decision(t.Context(), c.Decision.GetDecisionId())
		wantNotFound(t, name+": Decision after Expire", err)
		_, _, err = s.DecisionByRequest(t.Context(), c.Decision.GetCheck(), c.Decision.GetRequestId())
		wantNotFound(t, name+": DecisionByRequest after Expire", err)
	}
	since, until := base.Add(-day), base.Add(2*day)
	for _, k := range []store.Identifier{w.account, w.recorded} {
		if es := mustEvents(t, s, seriesGiftCard, k, since, until, 0); len(es) != 0 {
			t.Errorf("Events after Expire:\n%s", formatEvents(es))
		}
		if ms := mustMarks(t, s, k); len(ms) != 0 {
			t.Errorf("Marks after Expire:\n%s", formatMarks(ms))
		}
	}
	for _, d := range []store.Identifier{w.device, w.recordedDevice} {
		if ls := mustLinked(t, s, d); len(ls) != 0 {
			t.Errorf("Linked after Expire:\n%s", formatLinks(ls))
		}
	}
	// Expired with their decisions, the request IDs are free again. (A
	// batch entry's ID need only last as long as its events: whether it
	// is kept longer is the backend's choice.)
	for _, c := range w.commits {
		mustCommit(t, s, store.Commit{Decision: decision(t, c.Decision.GetCheck(), c.Decision.GetRequestId(), base.Add(3*day+retention.Decisions)),
			RequestHash: contentHash("again")}, true)
	}
}
