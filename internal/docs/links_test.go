package docs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/docgen"
)

// markdownFiles lists the repository's Markdown files as git tracks them,
// or, outside a git checkout, as they are on disk.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Fields(string(out)) {
			if _, err := os.Stat(filepath.Join(root, f)); err == nil { // deleted, not yet committed
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	htmlRef    = regexp.MustCompile(`<(?:a|img)\s[^>]*(?:href|src)="([^"]+)"`)
	htmlAnchor = regexp.MustCompile(`<a\s[^>]*(?:id|name)="([^"]+)"`)
	heading    = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	linkText   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// doc is what a Markdown file offers and asks for: its anchors, and its
// links with the line each is on.
type doc struct {
	anchors map[string]bool
	links   []link
}

type link struct {
	line   int
	target string
}

// parse reads a Markdown file: the anchors of its headings by GitHub's
// rules (a repeated heading gets -1, -2...) and of its <a id>, and every
// link outside code blocks and code spans.
func parse(t *testing.T, file string) doc {
	t.Helper()
	f, err := os.Open(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := doc{anchors: map[string]bool{}}
	counts := map[string]int{}
	inFence := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			d.anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			text := linkText.ReplaceAllString(m[2], "$1")
			s := docgen.Slug(text)
			if c := counts[s]; c > 0 {
				d.anchors[fmt.Sprintf("%s-%d", s, c)] = true
			} else {
				d.anchors[s] = true
			}
			counts[s]++
		}
		plain := codeSpan.ReplaceAllString(line, "")
		for _, re := range []*regexp.Regexp{inlineLink, refDef, htmlRef} {
			for _, m := range re.FindAllStringSubmatch(plain, -1) {
				d.links = append(d.links, link{n, m[1]})
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// Guards (issue 23, item 5): every relative link of every Markdown file in
// the repository leads to a file or directory that exists, inside the
// repository, and to a heading or anchor that exists when it names one.
// Links with a scheme (https:, mailto:) are to the outside and not checked.
func TestMarkdownLinksResolve(t *testing.T) {
	files := markdownFiles(t)
	if len(files) < 5 {
		t.Fatalf("found only %d Markdown files: %q", len(files), files)
	}
	docs := map[string]doc{}
	get := func(f string) doc {
		if d, ok := docs[f]; ok {
			return d
		}
		d := parse(t, f)
		docs[f] = d
		return d
	}
	checked := 0
	for _, file := range files {
		for _, l := range get(file).links {
			where := fmt.Sprintf("%s:%d: %s", file, l.line, l.target)
			u, err := url.Parse(l.target)
			if err != nil {
				t.Errorf("%s: not a URL: %v", where, err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				continue
			}
			checked++
			target := file
			if u.Path != "" {
				p := u.Path
				if strings.HasPrefix(p, "/") {
					p = p[1:] // GitHub reads /x as the repository's root
				} else {
					p = path.Join(path.Dir(file), p)
				}
				if p == ".." || strings.HasPrefix(p, "../") {
					t.Errorf("%s: leaves the repository; a reader of the repository alone cannot follow it", where)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
					t.Errorf("%s: no such file or directory %s", where, p)
					continue
				}
				target = p
			}
			if u.Fragment == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				if !regexp.MustCompile(`^L\d+(-L\d+)?$`).MatchString(u.Fragment) {
					t.Errorf("%s: an anchor into a file that is not Markdown", where)
				}
				continue
			}
			if !get(target).anchors[u.Fragment] {
				t.Errorf("%s: %s has no heading or anchor %q", where, target, u.Fragment)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d relative links; is the link pattern still right?", checked)
	}
}

// Guards (issue 23): no file the repository ships sends its reader to the
// shared notes the project was started from, which are not part of it.
// Every text file is read (binary ones, with a NUL, are skipped), so the
// check needs no git and sees files not yet committed.
func TestNothingPointsOutsideTheRepository(t *testing.T) {
	outside := []string{"../shared/", "/work/shared"}
	self, err := filepath.Abs("links_test.go") // it names them, to look for them
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == ".bin" {
				return filepath.SkipDir
			}
			return nil
		}
		if abs, _ := filepath.Abs(p); abs == self || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return nil
		}
		read++
		for n, line := range strings.Split(string(b), "\n") {
			for _, o := range outside {
				if strings.Contains(line, o) {
					rel, _ := filepath.Rel(root, p)
					t.Errorf("%s:%d refers to %s, outside the repository: %s", rel, n+1, o, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if read < 100 {
		t.Fatalf("read only %d files; is root right?", read)
	}
}
