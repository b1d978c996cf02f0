package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository, two levels above this package.
const root = "../.."

// section returns the text of the README section under heading, up to the
// next heading of the same level.
func section(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	s = s[i+len(heading)+2:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

var pathLike = regexp.MustCompile("`((?:cmd|internal|proto|examples|scripts)/[^`]*)`")

// Guards (issue 17, item 6): every file and directory the map of one
// decision names exists, and every file under a directory it names as
// "dir/ (a.go, b.go)" too, so a reader following it never hits a dead end.
func TestDecisionMapNamesRealFiles(t *testing.T) {
	text := section(t, "## The path of one decision")
	named := 0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		var dir string
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(line, -1) {
			p := m[1]
			switch {
			case pathLike.MatchString("`" + p + "`"):
				if strings.HasSuffix(p, "/") {
					dir = p
				}
			case dir != "" && strings.HasSuffix(p, ".go"):
				p = dir + p // a file of the directory just named
			default:
				continue // an identifier such as `Decide`
			}
			named++
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("the map names %s, which does not exist: %v", p, err)
			}
		}
	}
	if named < 30 {
		t.Fatalf("the map names only %d paths; did its format change?", named)
	}
}
