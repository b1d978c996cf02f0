package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// probe reads what a server process spent, from outside it: CPU time from
// /proc (all threads, user and system), and, where the process serves
// Go's debug endpoints, bytes and objects allocated from its heap profile
// header (runtime.MemStats). Read before and after a case, divided by its
// calls, these are the server's own costs per call, which the client's
// latency alone does not show.
type probe struct {
	pid   int
	debug string // host:port of the process's --admin-listen (with --pprof), or ""
}

// usage is one reading.
type usage struct {
	cpu          time.Duration
	alloc, count uint64 // TotalAlloc, Mallocs
	hasAlloc     bool
	// The store's group commits, from riskd's /debug/store.
	groups, commits uint64
	hasStore        bool
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux this runs on (it is fixed by the kernel's ABI, not by HZ).
const clockTicks = 100

func (p *probe) read(ctx context.Context) (usage, error) {
	var u usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 14th and 15th fields of the line.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: too few fields", p.pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("/proc/%d/stat: unreadable times", p.pid)
	}
	u.cpu = time.Duration(ut+st) * time.Second / clockTicks
	if p.debug == "" {
		return u, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.debug+"/debug/pprof/heap?debug=1", nil)
	if err != nil {
		return u, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return u, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var seen int
	fields := map[string]*uint64{"# TotalAlloc = ": &u.alloc, "# Mallocs = ": &u.count}
	for sc.Scan() {
		line := sc.Text()
		for name, dst := range fields {
			if v, ok := strings.CutPrefix(line, name); ok {
				if *dst, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil {
					return u, fmt.Errorf("heap profile: %q: %w", line, err)
				}
				seen++
			}
		}
	}
	if seen != 2 {
		return u, fmt.Errorf("heap profile of %s has no TotalAlloc and Mallocs lines", p.debug)
	}
	u.hasAlloc = true
	if err := sc.Err(); err != nil {
		return u, err
	}
	return u, p.readStore(ctx, &u)
}

// readStore reads the store's group-commit counters.
func (p *probe) readStore(ctx context.Context, u *usage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.debug+"/debug/store", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/debug/store: %s", p.debug, resp.Status)
	}
	var stats struct {
		Groups  uint64 `json:"groups"`
		Commits uint64 `json:"commits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		return fmt.Errorf("%s/debug/store: %w", p.debug, err)
	}
	u.groups, u.commits, u.hasStore = stats.Groups, stats.Commits, true
	return nil
}

// freeAddr finds a loopback port nothing listens on, for a child's debug
// endpoint.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
