package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const listsUsage = `usage: riskd lists import --list NAME [--addr ADDR] FILE
       riskd lists create --purpose block|review|trust [--description TEXT] [--addr ADDR] NAME

import reads a CSV file with a header row naming its columns: kind and
value, and optionally reason and expires_at (RFC 3339). kind is one of
phone, email, email_domain, device, instrument, payout_account, recipient,
id_number, license, account, seller, ip (an address or a CIDR range).
Every line is checked first; if any is rejected, each is reported with its
line number and nothing is sent. The lines are then sent to the running
riskd at --addr (any replica: the lists are in the shared store) and
written in one transaction: all of them, or, if riskd rejects any, none.

The caller's bearer token, if riskd requires one, is read from RISKD_TOKEN
or --token-file (never a flag's value: ps would show it); it needs the grant
/risk.v1.ListService/ImportListEntries (or CreateList).
`

// listKinds are the kind names of a list file, the API's entry kinds.
var listKinds = map[string]riskv1.EntryKind{
	"phone": riskv1.EntryKind_ENTRY_KIND_PHONE, "email": riskv1.EntryKind_ENTRY_KIND_EMAIL,
	"email_domain": riskv1.EntryKind_ENTRY_KIND_EMAIL_DOMAIN, "device": riskv1.EntryKind_ENTRY_KIND_DEVICE,
	"instrument": riskv1.EntryKind_ENTRY_KIND_INSTRUMENT, "payout_account": riskv1.EntryKind_ENTRY_KIND_PAYOUT_ACCOUNT,
	"recipient": riskv1.EntryKind_ENTRY_KIND_RECIPIENT, "id_number": riskv1.EntryKind_ENTRY_KIND_ID_NUMBER,
	"license": riskv1.EntryKind_ENTRY_KIND_LICENSE, "account": riskv1.EntryKind_ENTRY_KIND_ACCOUNT,
	"seller": riskv1.EntryKind_ENTRY_KIND_SELLER, "ip": riskv1.EntryKind_ENTRY_KIND_IP,
}

var listPurposes = map[string]riskv1.ListPurpose{
	"block": riskv1.ListPurpose_LIST_PURPOSE_BLOCK, "review": riskv1.ListPurpose_LIST_PURPOSE_REVIEW,
	"trust": riskv1.ListPurpose_LIST_PURPOSE_TRUST,
}

// importChunk is the most entries per message of the import stream (the
// API's most per chunk), and importChunkBytes about the most bytes.
const (
	importChunk      = 1000
	importChunkBytes = 256 << 10
)

// listsCommand is `riskd lists import` and `riskd lists create`.
func listsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(listsUsage)
	}
	fs := flag.NewFlagSet("riskd lists "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, listsUsage) }
	rem := addRemoteFlags(fs, getenv)
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	var list, purpose, description string
	switch args[0] {
	case "import":
		fs.StringVar(&list, "list", "", "the list to add the file's entries to")
	case "create":
		fs.StringVar(&purpose, "purpose", "", "block, review or trust")
		fs.StringVar(&description, "description", "", "what the list is for")
	default:
		return fmt.Errorf("unknown lists command %q (want import or create)\n%s", args[0], listsUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(listsUsage)
	}
	conn, err := rem.dial(getenv)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := riskv1.NewListServiceClient(conn)
	if args[0] == "create" {
		p, ok := listPurposes[purpose]
		if !ok {
			return errors.New("--purpose must be block, review or trust")
		}
		resp, err := client.CreateList(ctx, &riskv1.CreateListRequest{Name: fs.Arg(0), Purpose: p, Description: description})
		if err != nil {
			return fmt.Errorf("create: %s", status.Convert(err).Message())
		}
		what := "created"
		if !resp.GetCreated() {
			what = "exists already"
		}
		fmt.Fprintf(stdout, "list %s (%s) %s\n", resp.GetList().GetName(), purpose, what)
		return nil
	}
	if list == "" {
		return errors.New("--list is required")
	}
	return importList(ctx, client, list, fs.Arg(0), time.Now(), stdout)
}

// importList checks the file, then sends it in one import stream.
func importList(ctx context.Context, client riskv1.ListServiceClient, list, file string, now time.Time, stdout io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	entries, rejected, err := parseListFile(f, now)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(rejected) > 0 {
		for _, r := range rejected {
			fmt.Fprintf(stdout, "%s:%d: %s\n", file, r.line, r.why)
		}
		return fmt.Errorf("%s: %d lines rejected; nothing imported", file, len(rejected))
	}
	stream, err := client.ImportListEntries(ctx)
	if err != nil {
		return err
	}
	for start := 0; start < len(entries) || start == 0; {
		// A chunk stays under riskd's default message size (1 MiB): long
		// values and reasons can make 1,000 entries bigger than that.
		end, size := start, 0
		for end < len(entries) && end-start < importChunk && size < importChunkBytes {
			size += proto.Size(entries[end])
			end++
		}
		if err := stream.Send(&riskv1.ImportListEntriesRequest{List: list, Entries: entries[start:end]}); err != nil {
			break // the answer below says why
		}
		if start = end; start == 0 {
			break // an empty file: one empty chunk names the list
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.InvalidArgument {
			n := 0
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fmt.Fprintf(stdout, "%s: %s\n", file, v.GetDescription())
						n++
					}
				}
			}
			if n > 0 {
				return fmt.Errorf("%s: riskd rejected %d lines; nothing imported", file, n)
			}
		}
		return fmt.Errorf("%s: nothing imported: %s", file, st.Message())
	}
	fmt.Fprintf(stdout, "%s: %d entries imported into list %s\n", file, resp.GetEntries(), list)
	return nil
}

// rejectedLine is a line of a list file that cannot be imported.
type rejectedLine struct {
	line int
	why  string
}

// parseListFile reads a list file (CSV with a header row) into entries,
// each with its line, and the lines it cannot take with why. err is for a
// file that is not CSV at all or has no usable header. Values are checked
// as far as riskd's API bounds them (a kind, a value of 1 to 512
// characters, a reason of at most 500, an expiry in the future); riskd
// checks the rest (a value blank once normalised, an address that is not
// one) and names those lines itself.
func parseListFile(r io.Reader, now time.Time) ([]*riskv1.NewListEntry, []rejectedLine, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New("empty file: want a header row (kind,value[,reason][,expires_at])")
		}
		return nil, nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		switch h {
		case "kind", "value", "reason", "expires_at":
			if _, dup := col[h]; dup {
				return nil, nil, fmt.Errorf("line 1: column %s twice", h)
			}
			col[h] = i
		default:
			return nil, nil, fmt.Errorf("line 1: unknown column %q (want kind, value, reason, expires_at)", h)
		}
	}
	if _, ok := col["kind"]; !ok {
		return nil, nil, errors.New("line 1: no kind column")
	}
	if _, ok := col["value"]; !ok {
		return nil, nil, errors.New("line 1: no value column")
	}
	var entries []*riskv1.NewListEntry
	var rejected []rejectedLine
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, nil, err
			}
			rejected = append(rejected, rejectedLine{pe.StartLine, pe.Err.Error()})
			continue
		}
		line, _ := cr.FieldPos(0) // valid only after a record was read
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		e, why := parseListLine(rec, col, now)
		if why != "" {
			rejected = append(rejected, rejectedLine{line, why})
			continue
		}
		e.Line = uint32(line)
		entries = append(entries, e)
	}
	return entries, rejected, nil
}

// parseListLine reads one record; why says what is wrong with it.
func parseListLine(rec []string, col map[string]int, now time.Time) (*riskv1.NewListEntry, string) {
	field := func(name string) (string, bool) {
		i, ok := col[name]
		if !ok {
			return "", true
		}
		if i >= len(rec) {
			return "", false
		}
		return rec[i], true
	}
	e := &riskv1.NewListEntry{}
	kind, ok := field("kind")
	if !ok {
		return nil, fmt.Sprintf("%d fields, fewer than the header's", len(rec))
	}
	if e.Kind, ok = listKinds[strings.ToLower(strings.TrimSpace(kind))]; !ok {
		return nil, fmt.Sprintf("unknown kind %q", truncate(kind))
	}
	value, ok := field("value")
	if !ok {
		return nil, fmt.Sprintf("%d fields, fewer than the header's", len(rec))
	}
	if why := checkText(value, 1, 512); why != "" {
		return nil, "value " + why
	}
	e.Value = value
	reason, ok := field("reason")
	if !ok {
		return nil, fmt.Sprintf("%d fields, fewer than the header's", len(rec))
	}
	if why := checkText(reason, 0, 500); why != "" {
		return nil, "reason " + why
	}
	e.Reason = reason
	expires, ok := field("expires_at")
	if !ok {
		return nil, fmt.Sprintf("%d fields, fewer than the header's", len(rec))
	}
	if expires = strings.TrimSpace(expires); expires != "" {
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			return nil, "expires_at is not an RFC 3339 time (2026-12-31T00:00:00Z)"
		}
		if !t.After(now) {
			return nil, "expires_at is not in the future"
		}
		e.ExpiresAt = timestamppb.New(t)
	}
	return e, ""
}

// checkText says what the API would refuse in a text field, "" if nothing.
func checkText(s string, minLen, maxLen int) string {
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return "is not UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL character"
	case n < minLen || strings.TrimSpace(s) == "" && minLen > 0:
		return "is empty"
	case n > maxLen:
		return fmt.Sprintf("is longer than %d characters", maxLen)
	}
	return ""
}

// truncate keeps a rejected kind short in the report.
func truncate(s string) string {
	if len(s) > 32 {
		return string(bytes.ToValidUTF8([]byte(s[:32]), nil)) + "..."
	}
	return s
}
