package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// options are riskbench's flags.
type options struct {
	riskd       string
	riskdFlags  []string // appended to the riskd it starts
	duration    time.Duration
	warmup      time.Duration
	concurrency []int
	checks      []string
	deadline    time.Duration
	jsonOut     string
	target      string
	hangBudget  time.Duration
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "empty-server" {
		return emptyServer(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "hang-verifier" {
		return hangVerifier(ctx, args[1:])
	}
	var o options
	fs := flag.NewFlagSet("riskbench", flag.ContinueOnError)
	fs.StringVar(&o.riskd, "riskd", ".bin/riskd", "path of the riskd binary to measure")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per case")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each case")
	conc := fs.String("concurrency", "1,50", "comma-separated concurrencies")
	checks := fs.String("checks", "gift_card,seller,refund", "which riskd RPCs to measure")
	fs.DurationVar(&o.deadline, "deadline", time.Second, "caller deadline on every call, as checkout would set")
	fs.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.DurationVar(&o.hangBudget, "hang-budget", 100*time.Millisecond, "budget of the hanging verifier in the second run (0 skips that run)")
	fs.StringVar(&o.target, "target", "", "drive an already running riskd at this address instead of starting one (for profiling it)")
	fs.StringVar(&logDir, "server-logs", "", "keep the servers' logs in this directory")
	riskdFlags := fs.String("riskd-flags", "", "more flags for the riskd it starts, space-separated (for example the PostgreSQL + Redis mode: --store postgres --postgres-url URL --postgres-schema S --redis-url URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, c := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("--concurrency: %q is not a number from 1 to 1000", c)
		}
		o.concurrency = append(o.concurrency, n)
	}
	o.riskdFlags = strings.Fields(*riskdFlags)
	o.checks = strings.Split(*checks, ",")
	for _, c := range o.checks {
		if _, ok := generators[c]; !ok {
			return fmt.Errorf("--checks: unknown check %q (want gift_card, seller or refund)", c)
		}
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return errors.New("--duration must be between 0 and 10m")
	}
	if _, err := os.Stat(o.riskd); err != nil && o.target == "" {
		return fmt.Errorf("--riskd: %w (build it with scripts/bench.sh)", err)
	}
	return benchmark(ctx, o)
}

// result is one measured case.
type result struct {
	Case        string         `json:"case"`
	Concurrency int            `json:"concurrency"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	RPS         float64        `json:"rps"`
	P50         time.Duration  `json:"p50_ns"`
	P95         time.Duration  `json:"p95_ns"`
	P99         time.Duration  `json:"p99_ns"`
	Max         time.Duration  `json:"max_ns"`
	Baseline    *result        `json:"-"`
	// The server's own costs per call, read from its process (see probe):
	// CPU microseconds, and, for riskd, bytes and objects allocated.
	CPUMicros  float64 `json:"server_cpu_us_per_call,omitempty"`
	AllocBytes float64 `json:"server_bytes_per_call,omitempty"`
	AllocCount float64 `json:"server_allocs_per_call,omitempty"`
	// The store's group commits during the case: writes per group and
	// groups (durable writes: fdatasyncs, PostgreSQL commits) per second.
	BatchSize   float64          `json:"store_commits_per_group,omitempty"`
	SyncsPerSec float64          `json:"store_groups_per_second,omitempty"`
	Extra       map[string]int64 `json:"extra,omitempty"`
}

type report struct {
	Machine string    `json:"machine"`
	When    time.Time `json:"when"`
	Results []*result `json:"results"`
}

func benchmark(ctx context.Context, o options) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	empty, err := startServer(ctx, self, []string{"empty-server", "--listen", "127.0.0.1:0"}, "listening ")
	if err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	defer empty.stop()
	riskdAddr := o.target
	var riskdProbe *probe // nil for a riskd we did not start
	if riskdAddr == "" {
		dataDir, err := os.MkdirTemp("", "riskbench-data")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
		debugAddr, err := freeAddr()
		if err != nil {
			return err
		}
		args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", dataDir, "--admin-listen", debugAddr, "--pprof", "--drain-delay", "0s"}, o.riskdFlags...)
		riskd, err := startServer(ctx, o.riskd, args, "riskd ready")
		if err != nil {
			return fmt.Errorf("riskd: %w", err)
		}
		defer riskd.stop()
		riskdAddr = riskd.addr
		riskdProbe = &probe{pid: riskd.cmd.Process.Pid, debug: debugAddr}
	}

	emptyProbe := &probe{pid: empty.cmd.Process.Pid}
	rep := &report{Machine: machine(), When: time.Now().UTC()}
	fmt.Printf("riskbench: %s\n", rep.Machine)
	fmt.Printf("each case: %s warm-up, then %s measured; caller deadline %s\n\n", o.warmup, o.duration, o.deadline)
	printHeader()
	baselines := map[int]*result{}
	for _, c := range o.concurrency {
		r, err := measure(ctx, o, empty.addr, emptyProbe, c, "empty gRPC handler", func(ctx context.Context, cc *grpc.ClientConn, _ int) error {
			return cc.Invoke(ctx, emptyMethod, &emptypb.Empty{}, &emptypb.Empty{})
		})
		if err != nil {
			return err
		}
		baselines[c] = r
		rep.Results = append(rep.Results, r)
		printRow(r)
	}
	for _, check := range o.checks {
		gen := generators[check]
		for _, c := range o.concurrency {
			r, err := measure(ctx, o, riskdAddr, riskdProbe, c, gen.name, gen.call)
			if err != nil {
				return err
			}
			r.Baseline = baselines[c]
			rep.Results = append(rep.Results, r)
			printRow(r)
		}
	}
	if o.hangBudget > 0 && o.target == "" {
		fmt.Println()
		hung, err := hangRun(ctx, o, self)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, hung...)
	}
	printTargets(rep.Results, o)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// logDir, when set, keeps each server's output for reading afterwards.
var logDir string

// server is a process under test.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startServer starts a binary and waits for the line that says where it
// listens: for riskd its JSON ready line, for the helpers a plain line.
func startServer(ctx context.Context, bin string, args []string, marker string) (*server, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0")
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		var logFile *os.File
		if logDir != "" {
			logFile, _ = os.Create(filepath.Join(logDir, filepath.Base(bin)+".log"))
			defer logFile.Close()
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if logFile != nil {
				fmt.Fprintln(logFile, line)
			}
			if !strings.Contains(line, marker) {
				continue
			}
			var ready struct {
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &ready) == nil && ready.Addr != "" {
				addr <- ready.Addr
			} else {
				addr <- strings.TrimSpace(strings.TrimPrefix(line, marker))
			}
		}
	}()
	select {
	case s.addr = <-addr:
		return s, nil
	case <-s.done:
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s exited before it was ready", filepath.Base(bin))
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not say where it listens", filepath.Base(bin))
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = s.cmd.Wait()
}

// requestSeq numbers requests across all cases, so no two share a
// request_id (a replay would be answered from the idempotency index).
var requestSeq atomic.Int64

// connsFor is how many connections a case uses: one per 25 workers, as a
// checkout fleet would hold a few, never one per call.
func connsFor(concurrency int) int { return (concurrency + 24) / 25 }

// measure drives one case: warm-up, then concurrency workers calling as
// fast as they can for the duration, each call under the caller deadline.
func measure(ctx context.Context, o options, addr string, pr *probe, concurrency int, name string,
	call func(ctx context.Context, cc *grpc.ClientConn, i int) error) (*result, error) {
	conns := make([]*grpc.ClientConn, connsFor(concurrency))
	for i := range conns {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer cc.Close()
		conns[i] = cc
	}
	next := func() int { return int(requestSeq.Add(1)) }
	phase := func(d time.Duration, record bool) ([][]time.Duration, []map[string]int, time.Duration) {
		lats := make([][]time.Duration, concurrency)
		errs := make([]map[string]int, concurrency)
		end := time.Now().Add(d)
		start := time.Now()
		var wg sync.WaitGroup
		for w := range concurrency {
			wg.Go(func() {
				errs[w] = map[string]int{}
				cc := conns[w%len(conns)]
				for time.Now().Before(end) && ctx.Err() == nil {
					cctx, cancel := context.WithTimeout(ctx, o.deadline)
					t0 := time.Now()
					err := call(cctx, cc, next())
					took := time.Since(t0)
					cancel()
					if !record {
						continue
					}
					if err != nil {
						errs[w][status.Code(err).String()]++
						continue
					}
					lats[w] = append(lats[w], took)
				}
			})
		}
		wg.Wait()
		return lats, errs, time.Since(start)
	}
	phase(o.warmup, false)
	var before usage
	if pr != nil {
		var err error
		if before, err = pr.read(ctx); err != nil {
			return nil, fmt.Errorf("reading the server's costs: %w", err)
		}
	}
	lats, errs, took := phase(o.duration, true)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &result{Case: name, Concurrency: concurrency, ErrorKinds: map[string]int{}}
	if pr != nil {
		after, err := pr.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the server's costs: %w", err)
		}
		defer func() {
			// Every call the server answered, failed ones included.
			if calls := float64(r.Requests + r.Errors); calls > 0 {
				r.CPUMicros = float64((after.cpu - before.cpu).Microseconds()) / calls
				if after.hasAlloc {
					r.AllocBytes = float64(after.alloc-before.alloc) / calls
					r.AllocCount = float64(after.count-before.count) / calls
				}
				if groups := after.groups - before.groups; after.hasStore && groups > 0 {
					r.BatchSize = float64(after.commits-before.commits) / float64(groups)
					r.SyncsPerSec = float64(groups) / took.Seconds()
				}
			}
		}()
	}
	var all []time.Duration
	for w := range lats {
		all = append(all, lats[w]...)
		for k, n := range errs[w] {
			r.ErrorKinds[k] += n
			r.Errors += n
		}
	}
	r.Requests = len(all)
	r.RPS = float64(len(all)) / took.Seconds()
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
		r.P50, r.P95, r.P99, r.Max = pct(0.50), pct(0.95), pct(0.99), all[len(all)-1]
	}
	return r, nil
}

func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func printHeader() {
	fmt.Printf("%-34s %5s %9s %8s %8s %8s %8s %7s %9s %9s %8s %8s %7s %6s %8s\n",
		"case", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "rps/base", "p50/base", "cpu µs", "KB/call", "allocs", "batch", "syncs/s")
}

func printRow(r *result) {
	rpsRatio, p50Ratio := "-", "-"
	if b := r.Baseline; b != nil && b.RPS > 0 && b.P50 > 0 {
		rpsRatio = fmt.Sprintf("%.2f", r.RPS/b.RPS)
		p50Ratio = fmt.Sprintf("%.2f", float64(r.P50)/float64(b.P50))
	}
	cpu, kb, allocs := "-", "-", "-"
	if r.CPUMicros > 0 {
		cpu = fmt.Sprintf("%.0f", r.CPUMicros)
	}
	if r.AllocCount > 0 {
		kb, allocs = fmt.Sprintf("%.1f", r.AllocBytes/1024), fmt.Sprintf("%.0f", r.AllocCount)
	}
	batch, syncs := "-", "-"
	if r.BatchSize > 0 {
		batch, syncs = fmt.Sprintf("%.1f", r.BatchSize), fmt.Sprintf("%.0f", r.SyncsPerSec)
	}
	fmt.Printf("%-34s %5d %9.0f %8s %8s %8s %8s %7d %9s %9s %8s %8s %7s %6s %8s\n",
		r.Case, r.Concurrency, r.RPS, ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max), r.Errors, rpsRatio, p50Ratio, cpu, kb, allocs, batch, syncs)
	if len(r.ErrorKinds) > 0 {
		fmt.Printf("%34s errors by code: %v\n", "", r.ErrorKinds)
	}
}

// printTargets says, for the targets, what this run measured.
func printTargets(results []*result, o options) {
	fmt.Println("\ntargets:")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	for _, r := range results {
		b := r.Baseline
		checkCase := !strings.HasPrefix(r.Case, "hung verifier") && b != nil
		switch {
		case checkCase && r.Concurrency == 50:
			fmt.Printf("  %s c50 throughput >= 40%% of baseline: %.0f%% (%.0f vs %.0f req/s) %s\n",
				r.Case, 100*r.RPS/b.RPS, r.RPS, b.RPS, verdict(r.RPS >= 0.4*b.RPS))
			fmt.Printf("  %s c50 p99 <= 15 ms: %s ms %s\n", r.Case, ms(r.P99), verdict(r.P99 <= 15*time.Millisecond))
			if r.Case == generators["gift_card"].name && r.CPUMicros > 0 {
				fmt.Printf("  %s server CPU <= 120 µs per decision: %.0f µs (empty handler %.0f µs) %s\n",
					r.Case, r.CPUMicros, b.CPUMicros, verdict(r.CPUMicros <= 120))
				fmt.Printf("  %s allocated <= 20 KB per decision: %.1f KB in %.0f objects %s\n",
					r.Case, r.AllocBytes/1024, r.AllocCount, verdict(r.AllocBytes <= 20*1024))
			}
		case checkCase && r.Concurrency == 1:
			fmt.Printf("  %s c1 p50 <= 3x baseline: %.2fx (%s vs %s ms) %s\n",
				r.Case, float64(r.P50)/float64(b.P50), ms(r.P50), ms(b.P50), verdict(r.P50 <= 3*b.P50))
		case strings.HasPrefix(r.Case, "hung verifier"):
			limit := o.hangBudget + 5*time.Millisecond
			fmt.Printf("  hung verifier c%d p99 <= budget + 5 ms (%s ms): %s ms, %d errors %s\n",
				r.Concurrency, ms(limit), ms(r.P99), r.Errors, verdict(r.P99 <= limit && r.Errors == 0))
		}
	}
}
