package docgen_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/docgen"
)

// root is the repository, two levels above this package.
const root = "../.."

// descriptors builds the API's descriptors with their comments, as
// scripts/generate.sh does, with the pinned buf.
func descriptors(t *testing.T) []byte {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "api.binpb")
	cmd := exec.Command(pinnedBuf(t, abs), "build", "--as-file-descriptor-set", "--path", "proto/risk", "-o", out)
	cmd.Dir = abs
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf build: %v\n%s", err, b)
	}
	set, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// pinnedBuf is .bin/buf as scripts/tools.sh installs it, failing the test
// with what to run when it is missing or not the pinned version.
func pinnedBuf(t *testing.T, root string) string {
	t.Helper()
	const fix = "run scripts/tools.sh buf from the repository root (scripts/test.sh does)"
	bin := filepath.Join(root, ".bin", "buf")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("%s is missing or not executable: %s", bin, fix)
	}
	tools, err := os.ReadFile(filepath.Join(root, "scripts", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*\[buf\]=(\S+)\s*$`).FindSubmatch(tools)
	if m == nil {
		t.Fatal("scripts/tools.sh pins no buf: update this test")
	}
	got, _ := os.ReadFile(filepath.Join(root, ".bin", ".buf.version"))
	if want := string(m[1]); strings.TrimSpace(string(got)) != want {
		t.Fatalf("%s is %q, not the pinned %s: %s", bin, strings.TrimSpace(string(got)), want, fix)
	}
	return bin
}

// Guards (issue 23, items 1-3): every generated page of docs/ is what the
// code renders now, so a change to a .proto comment, a reason code or a
// configuration flag that was not regenerated fails the suite, as stale
// generated Go code does.
func TestGeneratedPagesAreCurrent(t *testing.T) {
	pages, err := docgen.Pages(descriptors(t), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		got, err := os.ReadFile(p.Path(root))
		if err != nil {
			t.Errorf("%s: %v: run scripts/generate.sh and commit the result", p.Name, err)
			continue
		}
		if !bytes.Equal(got, p.Content) {
			t.Errorf("%s is stale (%s): run scripts/generate.sh and commit the result", p.Name, firstDiff(got, p.Content))
		}
	}
}

// firstDiff names the first line where the committed page and the
// rendered one differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(i+1) + ": committed " + quote(gl) + ", rendered " + quote(wl)
		}
	}
	return "trailing bytes"
}

func quote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return "\"" + s + "\""
}

func itoa(i int) string { return strconv.Itoa(i) }

// Guards (issue 23, item 1): every service, RPC, message, field, enum, enum
// value and extension of proto/risk has a leading comment, which is what
// the API reference shows a caller. An element added without one fails
// here by name.
func TestEveryAPIElementHasAComment(t *testing.T) {
	files, err := docgen.LoadDescriptors(descriptors(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range docgen.Uncommented(files) {
		t.Errorf("no comment: %s", m)
	}
}
