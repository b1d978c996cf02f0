package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// runLists runs `riskd lists ARGS` as a user would and returns its output
// and whether it exited 0.
func runLists(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"lists"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err == nil
}

func dialLists(t *testing.T, addr string) riskv1.ListServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return riskv1.NewListServiceClient(conn)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Lists are shared by the replicas: a file imported through one is seen by
// the next decision on the other, and an entry removed on the other stops
// matching on the first at once. A file with bad lines imports nothing,
// and says which lines.
func TestListsImportOnOneReplicaDecideOnAnother(t *testing.T) {
	schema := sharedBackends(t)
	a, _ := startReplica(t, schema, replicaRedis)
	b, riskB := startReplica(t, schema, replicaRedis)
	listsB := dialLists(t, b.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	out, ok := runLists(t, "create", "--addr", a.Addr, "--purpose", "block", "--description", "police notices", "police")
	if !ok || !strings.Contains(out, "created") {
		t.Fatalf("lists create: %s", out)
	}

	// Rejected on this side (line 3: a kind; line 5: an expiry) and on
	// riskd's (line 4: not an address): nothing imported, lines named.
	bad := writeFile(t, "bad.csv", "kind,value,reason,expires_at\n"+
		"account,acct-listed,victim call,\n"+
		"fax,123,,\n"+
		"ip,999.0.0.1,,\n"+
		"device,dev-x,,yesterday\n")
	out, ok = runLists(t, "import", "--addr", a.Addr, "--list", "police", bad)
	if ok || !strings.Contains(out, "bad.csv:3:") || !strings.Contains(out, "bad.csv:5:") || !strings.Contains(out, "nothing imported") {
		t.Fatalf("import of a file with bad lines: exit ok %v, output:\n%s", ok, out)
	}
	serverBad := writeFile(t, "server-bad.csv", "kind,value\naccount,acct-listed\nip,999.0.0.1\nphone,no digits here\n")
	out, ok = runLists(t, "import", "--addr", a.Addr, "--list", "police", serverBad)
	if ok || !strings.Contains(out, "line 3:") || !strings.Contains(out, "line 4:") || !strings.Contains(out, "nothing imported") {
		t.Fatalf("import riskd rejects: exit ok %v, output:\n%s", ok, out)
	}
	look, err := listsB.LookupListValue(ctx, &riskv1.LookupListValueRequest{Kind: riskv1.EntryKind_ENTRY_KIND_ACCOUNT, Value: "acct-listed"})
	if err != nil || len(look.GetMatches()) != 0 {
		t.Fatalf("after refused imports the good line is listed: %v, %v", look.GetMatches(), err)
	}

	good := writeFile(t, "good.csv", "\uFEFFkind,value,reason\n"+
		"account,acct-listed,\"victim call, 2026-12-01\"\n"+
		"ip,198.51.100.0/24,botnet range\n"+
		"\n"+
		"phone,+86 139 0013 9000,police notice 118\n")
	out, ok = runLists(t, "import", "--addr", a.Addr, "--list", "police", good)
	if !ok || !strings.Contains(out, "3 entries imported") {
		t.Fatalf("import: exit ok %v, output:\n%s", ok, out)
	}

	// The next decision on the other replica sees the list.
	d, err := riskB.ScoreGiftCardPurchase(ctx, replicaOrder("lists-1", "acct-listed"))
	if err != nil {
		t.Fatal(err)
	}
	if d.GetDecision().GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !hasReason(d.GetDecision(), "ON_BLOCK_LIST") {
		t.Fatalf("listed account on the other replica: %v %v", d.GetDecision().GetOutcome(), d.GetDecision().GetReasons())
	}
	entries := signalNamed(t, d.GetDecision(), "lists.entries").GetStringValue()
	if !strings.HasPrefix(entries, "police:") || !strings.HasSuffix(entries, "@account_id") {
		t.Fatalf("lists.entries = %q", entries)
	}
	entryID := strings.TrimSuffix(strings.TrimPrefix(entries, "police:"), "@account_id")

	// Removed on B, the next decision on A passes.
	if _, err := listsB.RemoveListEntry(ctx, &riskv1.RemoveListEntryRequest{List: "police", EntryId: entryID}); err != nil {
		t.Fatal(err)
	}
	riskA := dial(t, a.Addr)
	d, err = riskA.ScoreGiftCardPurchase(ctx, replicaOrder("lists-2", "acct-listed"))
	if err != nil {
		t.Fatal(err)
	}
	if hasReason(d.GetDecision(), "ON_BLOCK_LIST") {
		t.Fatalf("removed entry still matched on the other replica: %v", d.GetDecision().GetReasons())
	}
	// The range and the phone went in with the file.
	ip := replicaOrder("lists-3", "acct-other")
	ip.Client.IpAddress = "198.51.100.77"
	if d, err = riskA.ScoreGiftCardPurchase(ctx, ip); err != nil || !hasReason(d.GetDecision(), "ON_BLOCK_LIST") {
		t.Fatalf("address in the imported range: %v, %v", d.GetDecision().GetReasons(), err)
	}
	look, err = listsB.LookupListValue(ctx, &riskv1.LookupListValueRequest{Kind: riskv1.EntryKind_ENTRY_KIND_PHONE, Value: "13900139000"})
	if err != nil || len(look.GetMatches()) != 1 {
		t.Fatalf("imported phone: %v, %v", look.GetMatches(), err)
	}
}

func TestParseListFile(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		file     string
		entries  int
		rejected []int // line numbers
		err      bool
	}{
		{"good", "kind,value,reason,expires_at\nphone,138 0013 8000,x,2027-01-01T00:00:00Z\nip,10.0.0.0/8,,\n", 2, nil, false},
		{"columns in any order, byte-order mark", "\uFEFFvalue,kind\nacct-1,account\n", 1, nil, false},
		{"blank lines skipped", "kind,value\n\naccount,a\n\n", 1, nil, false},
		{"quoted value across lines", "kind,value,reason\naccount,a,\"two\nlines\"\naccount,b,x\n", 2, nil, false},
		{"unknown kind", "kind,value\nfax,1\naccount,a\n", 1, []int{2}, false},
		{"empty value", "kind,value\naccount,\naccount,  \n", 0, []int{2, 3}, false},
		{"too few fields", "kind,value,reason\naccount\n", 0, []int{2}, false},
		{"expiry in the past", "kind,value,expires_at\naccount,a,2026-01-01T00:00:00Z\n", 0, []int{2}, false},
		{"expiry not a time", "kind,value,expires_at\naccount,a,tomorrow\n", 0, []int{2}, false},
		{"NUL in a value", "kind,value\naccount,a\x00b\n", 0, []int{2}, false},
		{"value too long", "kind,value\naccount," + strings.Repeat("x", 513) + "\n", 0, []int{2}, false},
		{"bad quote", "kind,value\naccount,\"a\"b\naccount,c\n", 1, []int{2}, false},
		{"no header", "", 0, nil, true},
		{"unknown column", "kind,value,colour\n", 0, nil, true},
		{"no value column", "kind,reason\n", 0, nil, true},
		{"column twice", "kind,value,kind\n", 0, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, rejected, err := parseListFile(strings.NewReader(tc.file), now)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if len(entries) != tc.entries {
				t.Errorf("%d entries, want %d", len(entries), tc.entries)
			}
			var lines []int
			for _, r := range rejected {
				lines = append(lines, r.line)
			}
			if len(lines) != len(tc.rejected) || (len(lines) > 0 && !equalInts(lines, tc.rejected)) {
				t.Errorf("rejected lines %v (%v), want %v", lines, rejected, tc.rejected)
			}
		})
	}
	entries, _, _ := parseListFile(strings.NewReader("kind,value,reason\naccount,a,x\n\nphone,\"1\n2\",y\n"), now)
	if len(entries) != 2 || entries[0].GetLine() != 2 || entries[1].GetLine() != 4 || entries[0].GetReason() != "x" {
		t.Errorf("entries %v: want lines 2 and 4", entries)
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParseListFile: whatever the file, the parser returns without
// panicking, every entry it keeps is one the API takes (a known kind, a
// value of 1 to 512 characters of UTF-8 without NUL, a line number past
// the header), and every rejection names a line.
//
//	go test -run='^$' -fuzz='^FuzzParseListFile$' -fuzztime=30s ./cmd/riskd/
func FuzzParseListFile(f *testing.F) {
	for _, s := range []string{
		"kind,value,reason,expires_at\nphone,138 0013 8000,x,2027-01-01T00:00:00Z\nip,10.0.0.0/8,,\n",
		"value,kind\n\"a,b\",account\n",
		"kind,value\nfax,1\n\"unterminated\n",
		"\uFEFFkind,value\naccount,\xff\n",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, file []byte) {
		entries, rejected, err := parseListFile(bytes.NewReader(file), now)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.GetKind() == riskv1.EntryKind_ENTRY_KIND_UNSPECIFIED || checkText(e.GetValue(), 1, 512) != "" ||
				checkText(e.GetReason(), 0, 500) != "" || e.GetLine() < 2 {
				t.Fatalf("kept an entry the API refuses: %v", e)
			}
			if e.GetExpiresAt() != nil && !e.GetExpiresAt().AsTime().After(now) {
				t.Fatalf("kept an expired entry: %v", e)
			}
		}
		for _, r := range rejected {
			if r.line < 1 || r.why == "" {
				t.Fatalf("rejection without a line or a reason: %+v", r)
			}
		}
	})
}

// A file whose lines are long (reasons of 500 Chinese characters) goes in
// chunks that riskd's 1 MiB message limit takes, all in one import.
func TestListsImportOfLongLines(t *testing.T) {
	p := startBinary(t)
	if out, ok := runLists(t, "create", "--addr", p.Addr, "--purpose", "review", "watch"); !ok {
		t.Fatalf("lists create: %s", out)
	}
	var b strings.Builder
	b.WriteString("kind,value,reason\n")
	reason := strings.Repeat("警", 500)
	const n = 1500
	for i := range n {
		fmt.Fprintf(&b, "device,dev-%d-%s,%s\n", i, strings.Repeat("x", 400), reason)
	}
	out, ok := runLists(t, "import", "--addr", p.Addr, "--list", "watch", writeFile(t, "long.csv", b.String()))
	if !ok || !strings.Contains(out, fmt.Sprintf("%d entries imported", n)) {
		t.Fatalf("import of long lines: exit ok %v, output:\n%s", ok, out)
	}
}
