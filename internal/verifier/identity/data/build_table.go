//go:build ignore

// build_table regenerates gbt2260.csv from a clone of
// github.com/yescallop/areacodes (CC0). It is not part of the build; run it
// by hand when the source has news, then run the identity tests:
//
//	git clone --mirror https://github.com/yescallop/areacodes /tmp/areacodes.git
//	go run ./internal/verifier/identity/data/build_table.go \
//	    -repo /tmp/areacodes.git > internal/verifier/identity/data/gbt2260.csv
//
// The table has three sources, named in its source column (see README.md):
//
//   - areacodes: every code of the project's result.csv (1981 onward, with
//     the compiler's corrections against the printed GB/T 2260 editions);
//   - mca: codes that appear only in the Ministry of Civil Affairs' own
//     yearly (and 2018-2020 monthly) lists, as the project first recorded
//     them and later corrected them away (its git history, 1980 onward);
//   - derived: the xxxx01 市辖区 summary codes of prefecture-level cities,
//     which no machine-readable source carries (rules below).
//
// The history needs the full clone (a mirror or a bare clone), not a
// shallow one.
package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// firstDistrictYear is the first year with xxxx01 summary codes: GB/T
// 2260-1984 introduced district codes for prefecture-level cities and
// applied them back to 1983.
const firstDistrictYear = 1983

var (
	repo = flag.String("repo", "", "areacodes git directory (a mirror or bare clone)")
	rev  = flag.String("rev", "HEAD", "revision whose result.csv and data/ are used")
)

type entry struct {
	name         string
	since, until int // until 0: still in use
	source       string
}

func main() {
	flag.Parse()
	if *repo == "" {
		log.Fatal("-repo is required")
	}
	git := func(args ...string) []byte {
		out, err := exec.Command("git", append([]string{"-C", *repo}, args...)...).Output()
		if err != nil {
			log.Fatalf("git %v: %v", args, err)
		}
		return out
	}

	table := fromResult(git("show", *rev+":result.csv"))
	log.Printf("result.csv: %d codes", len(table))

	years, lastYear := yearlyLists(git, *rev)
	raw := 0
	for code, e := range fromHistory(git, lastYear) {
		if _, ok := table[code]; !ok {
			table[code] = e
			raw++
		}
	}
	log.Printf("Ministry lists in the history: %d more codes", raw)

	derived, merged := 0, 0
	for code, e := range districtSummaries(years, lastYear) {
		if old, ok := table[code]; ok {
			if old.until == 0 {
				// A real division still in use under this code (六盘水's
				// 520201 钟山区): the division, not a summary.
				continue
			}
			// The code was a real division in other years (a county-level
			// city under a 地区 before 1983, say), then the summary: one
			// entry for both, named for the later use.
			old.since = min(old.since, e.since)
			if e.until == 0 || e.until > old.until {
				old.name, old.until = e.name, e.until
			}
			old.source += "+derived"
			table[code] = old
			merged++
			continue
		}
		table[code] = e
		derived++
	}
	log.Printf("derived xxxx01 codes: %d new, %d merged with real codes", derived, merged)

	codes := make([]string, 0, len(table))
	for c := range table {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "code,name,since,until,source")
	for _, c := range codes {
		e := table[c]
		until := ""
		if e.until != 0 {
			until = strconv.Itoa(e.until)
		}
		fmt.Fprintf(w, "%s,%s,%d,%s,%s\n", c, e.name, e.since, until, e.source)
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
}

// fromResult groups result.csv (代码, 一级行政区, 二级行政区, 名称, 级别, 状态,
// 启用时间, 变更/弃用时间, 新代码) by code: the name of the row in use (else of
// the latest row), the earliest start, and no end if any row is in use (else
// the latest end).
func fromResult(b []byte) map[string]entry {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	rows, err := r.ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	type acc struct {
		entry
		inUse   bool
		nameEnd int
	}
	byCode := map[string]*acc{}
	for _, row := range rows[1:] {
		code, name, status := row[0], row[3], row[5]
		since, err := strconv.Atoi(row[6])
		if err != nil {
			log.Fatalf("%s: bad start year %q", code, row[6])
		}
		end := 0
		if row[7] != "" {
			if end, err = strconv.Atoi(row[7]); err != nil {
				log.Fatalf("%s: bad end year %q", code, row[7])
			}
		}
		a := byCode[code]
		if a == nil {
			a = &acc{entry: entry{since: since, source: "areacodes"}}
			byCode[code] = a
		}
		a.since = min(a.since, since)
		a.until = max(a.until, end)
		switch {
		case status == "在用":
			a.inUse, a.name = true, name
		case !a.inUse && end >= a.nameEnd:
			a.name, a.nameEnd = name, end
		}
	}
	out := make(map[string]entry, len(byCode))
	for code, a := range byCode {
		if a.inUse {
			a.until = 0
		}
		out[code] = a.entry
	}
	return out
}

var listPath = regexp.MustCompile(`^(?:data/)?(?:by-month/)?(\d{4})(\d{2})?\.txt$`)

// yearlyLists reads data/YYYY.txt at rev: year -> code -> name.
func yearlyLists(git func(...string) []byte, rev string) (map[int]map[string]string, int) {
	years := map[int]map[string]string{}
	last := 0
	for _, p := range strings.Fields(string(git("ls-tree", "--name-only", rev, "data/"))) {
		m := listPath.FindStringSubmatch(p)
		if m == nil || m[2] != "" {
			continue
		}
		y, _ := strconv.Atoi(m[1])
		years[y] = parseList(git("show", rev+":"+p))
		last = max(last, y)
	}
	return years, last
}

// parseList reads "code name" lines (a space or a tab between).
func parseList(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		code, name, ok := strings.Cut(strings.Replace(line, "\t", " ", 1), " ")
		if !ok || len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			continue
		}
		out[code] = strings.TrimSpace(name)
	}
	return out
}

// fromHistory reads every version of every yearly and monthly list the
// project ever committed. Those are the Ministry's lists as published; the
// project later corrected some codes to the printed standard, and numbers
// issued from the published lists carry the uncorrected codes. For each
// code: first and last year seen, and its name in the last year (from the
// newest commit that has that year).
func fromHistory(git func(...string) []byte, lastYear int) map[string]entry {
	type blob struct{ year, order int }
	blobs := map[string]blob{}
	commits := strings.Fields(string(git("rev-list", *rev))) // newest first
	for i, c := range commits {
		sc := bufio.NewScanner(bytes.NewReader(git("ls-tree", "-r", c)))
		for sc.Scan() {
			meta, path, ok := strings.Cut(sc.Text(), "\t")
			m := listPath.FindStringSubmatch(path)
			f := strings.Fields(meta)
			if !ok || m == nil || len(f) != 3 || f[1] != "blob" {
				continue
			}
			if _, seen := blobs[f[2]]; !seen {
				y, _ := strconv.Atoi(m[1])
				blobs[f[2]] = blob{year: y, order: i}
			}
		}
	}
	ids := make([]string, 0, len(blobs))
	for id := range blobs {
		ids = append(ids, id)
	}
	// Newest commits first, so the first name recorded for a year wins.
	slices.SortFunc(ids, func(a, b string) int { return blobs[a].order - blobs[b].order })

	cmd := exec.Command("git", "-C", *repo, "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(strings.Join(ids, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("git cat-file: %v", err)
	}
	type seen struct {
		first, last int
		names       map[int]string
	}
	codes := map[string]*seen{}
	rd := bufio.NewReader(bytes.NewReader(out))
	for _, id := range ids {
		hdr, err := rd.ReadString('\n')
		if err != nil {
			log.Fatal(err)
		}
		f := strings.Fields(hdr)
		if len(f) != 3 || f[0] != id {
			log.Fatalf("cat-file: unexpected header %q", hdr)
		}
		n, _ := strconv.Atoi(f[2])
		body := make([]byte, n+1) // content and its trailing newline
		if _, err := io.ReadFull(rd, body); err != nil {
			log.Fatal(err)
		}
		y := blobs[id].year
		for code, name := range parseList(body[:n]) {
			s := codes[code]
			if s == nil {
				s = &seen{first: y, last: y, names: map[int]string{}}
				codes[code] = s
			}
			s.first, s.last = min(s.first, y), max(s.last, y)
			if _, ok := s.names[y]; !ok {
				s.names[y] = name
			}
		}
	}
	res := make(map[string]entry, len(codes))
	for code, s := range codes {
		until := s.last + 1
		if s.last >= lastYear {
			until = 0
		}
		res[code] = entry{name: s.names[s.last], since: s.first, until: until, source: "mca"}
	}
	return res
}

// districtSummaries derives the xxxx01 市辖区 codes. From 1983 GB/T 2260
// lists, under each prefecture-level city that has districts, a summary
// line "xxxx01 市辖区" (city districts), and numbers issued by a city's own
// public-security bureau carry it. The Ministry's machine-readable lists,
// and so the source, leave these lines out. The rule: in every yearly list
// from 1983, a prefecture-level code (xxxx00, not a province and not a
// municipality's) whose name ends in 市 and which has a county-level code
// xxxx02..xxxx20 whose name ends in 区 had xxxx01 that year. A 地区, 盟 or
// 自治州 never has one. The code stays current while the city has districts.
func districtSummaries(years map[int]map[string]string, lastYear int) map[string]entry {
	type span struct{ first, last int }
	spans := map[string]*span{}
	for y, list := range years {
		if y < firstDistrictYear {
			continue
		}
		for code, name := range list {
			if code[4:] != "00" || code[2:] == "0000" || !strings.HasSuffix(name, "市") {
				continue
			}
			switch code[:2] {
			case "11", "12", "31", "50": // municipalities: xx01xx are the districts themselves
				continue
			}
			has := false
			for n := 2; n <= 20 && !has; n++ {
				child, ok := list[fmt.Sprintf("%s%02d", code[:4], n)]
				has = ok && strings.HasSuffix(child, "区")
			}
			if !has {
				continue
			}
			sum := code[:4] + "01"
			if s := spans[sum]; s != nil {
				s.first, s.last = min(s.first, y), max(s.last, y)
			} else {
				spans[sum] = &span{y, y}
			}
		}
	}
	out := make(map[string]entry, len(spans))
	for code, s := range spans {
		until := s.last + 1
		if s.last >= lastYear {
			until = 0
		}
		out[code] = entry{name: "市辖区", since: s.first, until: until, source: "derived"}
	}
	return out
}
