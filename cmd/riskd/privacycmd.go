package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const privacyUsage = `usage: riskd erase|export [--addr ADDR] [--tls] [--tls-ca FILE] [--token-file FILE] [KIND=VALUE...]
  KIND is account, seller, mobile, landline, email, id_number, license, payout_account,
  device, address, instrument, recipient or chat_handle. With no KIND=VALUE arguments the
  subjects are read from standard input, one KIND=VALUE a line, which keeps them out of
  the process list (ps shows arguments). export takes one subject.`

// privacyCommand is `riskd erase` and `riskd export`: a person's erasure
// and access requests, sent to a running riskd (risk.v1.PrivacyService).
func privacyCommand(ctx context.Context, cmd string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("riskd "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, privacyUsage) }
	rem := addRemoteFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	lines := fs.Args()
	if len(lines) == 0 {
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return err
		}
		lines = strings.Split(string(b), "\n")
	}
	subjects, err := parseSubjects(lines)
	if err != nil {
		return err
	}
	if cmd == "export" && len(subjects) != 1 {
		return fmt.Errorf("riskd export takes one subject, not %d", len(subjects))
	}
	conn, err := rem.dial(getenv)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	privacy := riskv1.NewPrivacyServiceClient(conn)
	var out proto.Message
	switch cmd {
	case "erase":
		resp, err := privacy.EraseSubject(ctx, &riskv1.EraseSubjectRequest{Subjects: subjects})
		if err != nil {
			return fmt.Errorf("erase: %s", status.Convert(err).Message())
		}
		out = resp
	default:
		resp, err := privacy.ExportSubject(ctx, &riskv1.ExportSubjectRequest{Subject: subjects[0]})
		if err != nil {
			return fmt.Errorf("export: %s", status.Convert(err).Message())
		}
		out = resp
	}
	b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

// parseSubjects reads KIND=VALUE lines (blank lines skipped). The value
// is everything after the first "=", kept as typed: riskd normalises it.
func parseSubjects(lines []string) ([]*riskv1.Subject, error) {
	var out []*riskv1.Subject
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		name, value, ok := strings.Cut(l, "=")
		if !ok || value == "" {
			return nil, fmt.Errorf("subject %d: want KIND=VALUE", i+1)
		}
		kind, ok := subjectKind(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("subject %d: unknown kind %q", i+1, strings.TrimSpace(name))
		}
		out = append(out, &riskv1.Subject{Kind: kind, Value: value})
	}
	if len(out) == 0 {
		return nil, errors.New(privacyUsage)
	}
	return out, nil
}

// subjectKind reads a kind by its stable name (store.Kind.Name), among
// those the API takes.
func subjectKind(name string) (riskv1.SubjectKind, bool) {
	for k := store.Kind(1); k.Valid(); k++ {
		if _, api := riskv1.SubjectKind_name[int32(k)]; api && k.Name() == name {
			return riskv1.SubjectKind(k), true
		}
	}
	return 0, false
}
