package main

import (
	"strings"
	"testing"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

func TestParseSubjects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []*riskv1.Subject
		err   string
	}{
		{"one", []string{"account=acct-1"}, []*riskv1.Subject{{Kind: riskv1.SubjectKind_SUBJECT_KIND_ACCOUNT, Value: "acct-1"}}, ""},
		{"value keeps its = and blanks", []string{"email= a=b@example.com ", "", "\r"},
			[]*riskv1.Subject{{Kind: riskv1.SubjectKind_SUBJECT_KIND_EMAIL, Value: " a=b@example.com "}}, ""},
		{"crlf", []string{"mobile=+86 138 0013 8000\r", "payout_account=6222 0000"}, []*riskv1.Subject{
			{Kind: riskv1.SubjectKind_SUBJECT_KIND_MOBILE, Value: "+86 138 0013 8000"},
			{Kind: riskv1.SubjectKind_SUBJECT_KIND_PAYOUT_ACCOUNT, Value: "6222 0000"}}, ""},
		{"unknown kind", []string{"phone=1"}, nil, `unknown kind "phone"`},
		{"a kind the API does not take", []string{"ip=192.0.2.1"}, nil, `unknown kind "ip"`},
		{"no value", []string{"account="}, nil, "subject 1: want KIND=VALUE"},
		{"no =", []string{"", "account acct-1"}, nil, "subject 2: want KIND=VALUE"},
		{"nothing", []string{"", " "}, nil, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSubjects(tc.lines)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i].GetKind() != tc.want[i].GetKind() || got[i].GetValue() != tc.want[i].GetValue() {
					t.Errorf("subject %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzParseSubjects: whatever is on standard input, parseSubjects returns
// subjects of kinds the API takes with non-empty values, or an error;
// never a panic.
func FuzzParseSubjects(f *testing.F) {
	for _, s := range []string{"account=a\nemail=b@c", "=", "account==", "x\n\n\r\n", "device=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseSubjects(strings.Split(in, "\n"))
		if err != nil {
			return
		}
		for _, s := range got {
			if _, ok := riskv1.SubjectKind_name[int32(s.GetKind())]; !ok || s.GetKind() == 0 || s.GetValue() == "" {
				t.Fatalf("subject %v from %q", s, in)
			}
		}
	})
}
