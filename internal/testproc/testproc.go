// Package testproc runs this module's binaries as real processes in tests:
// it builds them once per test binary, starts them, reads their JSON log
// lines and stops them. Tests of crashes, restarts, signals and several
// processes talking to each other use it instead of in-process fakes.
package testproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var builds sync.Map // package path -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles a main package of this module (for example "./cmd/riskd")
// once per test binary and returns the executable's path.
//
// When the test binary itself runs under the race detector (go test -race)
// and cgo is on, the binary is built with -race as well, so a test that
// starts it checks the process for races too, not only the test's side. A
// race report in the process fails the test: it is a line on stderr that is
// not JSON (see Start), and the process then exits with status 66 (see Stop).
func Build(t testing.TB, pkg string) string {
	t.Helper()
	b, _ := builds.LoadOrStore(pkg, &build{})
	bd := b.(*build)
	bd.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			bd.err = err
			return
		}
		dir, err := os.MkdirTemp("", "testproc")
		if err != nil {
			bd.err = err
			return
		}
		bd.path = filepath.Join(dir, filepath.Base(pkg))
		args := []string{"build", "-o", bd.path}
		if race, err := RaceBuild(); err != nil {
			bd.err = err
			return
		} else if race {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			bd.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if bd.err != nil {
		t.Fatal(bd.err)
	}
	return bd.path
}

// RaceBuild reports whether Build builds with -race: when this test binary
// was built with -race and the go command has cgo on (go env CGO_ENABLED),
// which the race detector needs on this platform.
func RaceBuild() (bool, error) {
	if !raceBuilt {
		return false, nil
	}
	out, err := exec.Command("go", "env", "CGO_ENABLED").Output()
	if err != nil {
		return false, fmt.Errorf("go env CGO_ENABLED: %v", err)
	}
	return strings.TrimSpace(string(out)) == "1", nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// Process is a running binary and the JSON lines it logged on stderr.
type Process struct {
	Cmd  *exec.Cmd
	Addr string
	mu   sync.Mutex
	logs []map[string]any
	done chan struct{}
}

// Start runs bin with args and waits until it logs a JSON line whose msg
// is readyMsg, taking the listening address from that line's "addr". The
// process is killed when the test ends, if it still runs.
func Start(t testing.TB, bin string, args []string, readyMsg string) *Process {
	t.Helper()
	return StartEnv(t, bin, args, nil, readyMsg)
}

// StartEnv is Start with env ("KEY=value") added to the process's
// environment last, so it wins over the test's own and over Start's
// defaults: a test that exports telemetry sets OTEL_EXPORTER_OTLP_ENDPOINT
// here, which Start otherwise clears.
func StartEnv(t testing.TB, bin string, args, env []string, readyMsg string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// No drain delay: a test that stops riskd waits for no load balancer
	// (the drain test asks for one with --drain-delay); the admin listener
	// on a free port, since tests run riskds side by side. No telemetry
	// export: a collector the developer runs must not receive the tests'.
	// (os/exec keeps the last of duplicate keys, so env overrides these.)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "RISKD_CONFIG=", "RISKD_DRAIN_DELAY=0s", "RISKD_ADMIN_LISTEN=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	return StartCommand(t, cmd, readyMsg)
}

// StartCommand is Start for a command the test prepared itself: its exact
// environment (a container's, with nothing of the test's) or the user it
// runs as. Its stderr must not be set.
func StartCommand(t testing.TB, cmd *exec.Cmd, readyMsg string) *Process {
	t.Helper()
	bin := cmd.Path
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				t.Errorf("%s: log line is not JSON: %s", filepath.Base(bin), sc.Text())
				continue
			}
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			if line["msg"] == readyMsg {
				addr, _ := line["addr"].(string)
				ready <- addr
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // in case a test left it stopped
		_ = cmd.Process.Kill()
		<-p.done
		_ = cmd.Wait()
	})
	select {
	case p.Addr = <-ready:
	case <-p.done:
		_ = cmd.Wait()
		t.Fatalf("%s exited before it was ready: %v", filepath.Base(bin), cmd.ProcessState)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not log %q", filepath.Base(bin), readyMsg)
	}
	return p
}

// Done is closed when the process's stderr closes, that is when it exits.
func (p *Process) Done() <-chan struct{} { return p.done }

// Logs returns the JSON lines logged so far.
func (p *Process) Logs() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// Messages returns the msg of each line logged so far.
func (p *Process) Messages() []string {
	var out []string
	for _, l := range p.Logs() {
		m, _ := l["msg"].(string)
		out = append(out, m)
	}
	return out
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("process did not stop on SIGTERM")
	}
	if err := p.Cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	_ = p.Cmd.Wait()
}
