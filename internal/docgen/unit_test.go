package docgen_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/docgen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// A file with a commented message, a commented and a bare field, and an
// enum whose second value is bare: Uncommented names exactly the bare ones.
func TestUncommentedNamesBareElements(t *testing.T) {
	loc := func(comment string, path ...int32) *descriptorpb.SourceCodeInfo_Location {
		l := &descriptorpb.SourceCodeInfo_Location{Path: path, Span: []int32{0, 0, 1}}
		if comment != "" {
			l.LeadingComments = proto.String(" " + comment + "\n")
		}
		return l
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("risk/x/v1/x.proto"),
		Package: proto.String("risk.x.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Thing"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("said"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String("said")},
				{Name: proto.String("bare"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String("bare")},
			},
		}},
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("Kind"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("KIND_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("KIND_BARE"), Number: proto.Int32(1)},
			},
		}},
		SourceCodeInfo: &descriptorpb.SourceCodeInfo{Location: []*descriptorpb.SourceCodeInfo_Location{
			loc("Thing is a thing.", 4, 0),
			loc("said is said.", 4, 0, 2, 0),
			loc("", 4, 0, 2, 1),
			loc("Kind is a kind.", 5, 0),
			loc("No kind.", 5, 0, 2, 0),
			loc("", 5, 0, 2, 1),
		}},
	}
	set, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{file}})
	if err != nil {
		t.Fatal(err)
	}
	files, err := docgen.LoadDescriptors(set)
	if err != nil {
		t.Fatal(err)
	}
	got := docgen.Uncommented(files)
	want := []string{
		"risk/x/v1/x.proto: field risk.x.v1.Thing.bare",
		"risk/x/v1/x.proto: enum value risk.x.v1.KIND_BARE",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Uncommented = %q, want %q", got, want)
	}
	page := string(docgen.APIReference(files))
	for _, s := range []string{"### risk.x.v1.Thing", "| `said` | 1 | `string` |  | said is said. |", "| `KIND_UNSPECIFIED` | 0 | No kind. |"} {
		if !strings.Contains(page, s) {
			t.Errorf("the reference lacks %q:\n%s", s, page)
		}
	}
}

// The reason reader takes the forms verifiers write findings in, and
// refuses one it cannot read rather than leaving the code out.
func TestVerifierReasonsReadsTheSource(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []docgen.Reason
		err       string
	}{{
		name: "constants, a variable set to constants, Sprintf and ZH",
		src: `package fam
const (
	CodeA = "FAM_A"
	low, high = 10, 30
)
func f(n int, strong bool) []verifier.Finding {
	score := low
	if strong {
		score = high
	}
	return []verifier.Finding{{Code: CodeA, Score: score, Message: fmt.Sprintf("Seen %d times.", n), Messages: verifier.ZH(fmt.Sprintf("出现%d次。", n))}}
}
func g() verifier.Finding { return verifier.Finding{Code: "FAM_B", Score: 5, Message: "Plain."} }
func remote(c string) verifier.Finding { return verifier.Finding{Code: strings.ToUpper(c), Score: 1, Message: "x"} }
`,
		want: []docgen.Reason{
			{Code: "FAM_A", Source: "fam", Score: "10 or 30", EN: "Seen … times.", ZH: "出现…次。"},
			{Code: "FAM_B", Source: "fam", Score: "5", EN: "Plain."},
		},
	}, {
		name: "a score from a call",
		src: `package fam
func f() verifier.Finding { return verifier.Finding{Code: "FAM_C", Score: weigh(), Message: "x"} }
`,
		err: "Score is not a constant",
	}, {
		name: "a message from a variable",
		src: `package fam
func f(m string) verifier.Finding { return verifier.Finding{Code: "FAM_D", Score: 1, Message: m} }
`,
		err: "Message is not a string",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fam")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "fam.go"), []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := docgen.VerifierReasons(filepath.Dir(dir))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Every code the default policy's rules name is in the table, with the
// rule's score and sentence: the table is read from the loaded policy.
func TestReasonCodesListEveryRuleOfTheDefaultPolicy(t *testing.T) {
	rs, err := docgen.PolicyReasons()
	if err != nil {
		t.Fatal(err)
	}
	page, err := docgen.ReasonCodes(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 20 {
		t.Fatalf("only %d rules read from the default policy", len(rs))
	}
	for _, r := range rs {
		if !strings.Contains(string(page), "| `"+r.Code+"` | "+r.Source+" | "+r.Score+" |") {
			t.Errorf("the table has no row for %s from %s with score %s", r.Code, r.Source, r.Score)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Set up":                         "set-up",
		"risk.v1.Decision":               "riskv1decision",
		"What each check catches":        "what-each-check-catches",
		"An analyst's loop: edit, check": "an-analysts-loop-edit-check",
		"Back up and restore (embedded)": "back-up-and-restore-embedded",
		"snake_case and CamelCase":       "snake_case-and-camelcase",
		"中文 标题":                          "中文-标题",
	} {
		if got := docgen.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
