package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/testproc"
)

// There is no Docker engine on the machines this project is built on, so
// the image is checked by doing what Docker would with the Dockerfile: its
// build stage's RUN lines run here as written, and the binary they build is
// started with the final stage's ENV, as its USER, on a data directory made
// the way its COPY --chown makes the VOLUME's; then the HEALTHCHECK command
// runs as written, in the same environment. The only departures are paths
// Docker would give and a test cannot (a temporary OUT, data directory and
// config file instead of /out, the volume and the mount) and the port: the
// image's host (0.0.0.0) is kept, its port replaced by a free one, since
// the machine is shared. The health check finds that port from the same
// environment, which is the point.

// dockerInstr is one instruction, continuation lines joined.
type dockerInstr struct {
	cmd, args string
	line      int
}

type dockerStage struct {
	name   string
	instrs []dockerInstr
}

func (s *dockerStage) all(cmd string) []dockerInstr {
	var out []dockerInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// one returns the stage's only instruction cmd, failing if there is not
// exactly one: a second USER or HEALTHCHECK silently replaces the first.
func (s *dockerStage) one(t *testing.T, cmd string) dockerInstr {
	t.Helper()
	all := s.all(cmd)
	if len(all) != 1 {
		t.Fatalf("Dockerfile stage %q has %d %s instructions, want 1", s.name, len(all), cmd)
	}
	return all[0]
}

type dockerfile struct {
	globalArgs map[string]string // ARGs before the first FROM, with defaults
	stages     []*dockerStage
}

// parseDockerfile reads the subset of the syntax this Dockerfile uses:
// instructions, comments, and lines continued with a backslash.
func parseDockerfile(t *testing.T, path string) *dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df := &dockerfile{globalArgs: map[string]string{}}
	var cur strings.Builder
	start, n := 0, 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		switch {
		case in.cmd == "FROM":
			from := strings.Fields(in.args)
			st := &dockerStage{}
			if len(from) == 3 && strings.EqualFold(from[1], "AS") {
				st.name = from[2]
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0:
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			df.globalArgs[k] = v
		default:
			st := df.stages[len(df.stages)-1]
			st.instrs = append(st.instrs, in)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() > 0) {
			continue // comments, also inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return df
}

// words splits an instruction's arguments on white space outside quotes,
// removing the quotes, as Docker reads ENV and COPY.
func words(s string) []string {
	var out []string
	var w strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

// execForm reads a JSON array argument (CMD, ENTRYPOINT, VOLUME). The shell
// form would need a shell, which distroless does not have.
func execForm(t *testing.T, in dockerInstr, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("Dockerfile:%d: %s %s is not the exec (JSON) form: distroless has no shell to run the other", in.line, in.cmd, s)
	}
	return argv
}

// image is what the Dockerfile builds, with the build done here.
type image struct {
	binary      string // the build stage's riskd: the image's /usr/local/bin/riskd
	path        string // where the image has it
	entrypoint  []string
	healthcheck []string
	healthOpts  map[string]string
	env         map[string]string
	uid, gid    int
	volume      string
	volumeMode  os.FileMode // the build stage's data directory's
	exposed     string
}

var (
	imageOnce  sync.Once
	builtImage *image
	imageErr   string
	imageDir   string
)

// TestMain removes the image's build, which outlives the test that made it.
func TestMain(m *testing.M) {
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// dockerImage builds the image once per test binary. The build runs the
// same `go build` that scripts/test.sh runs before the tests, so it is
// cached by then and takes a second or two.
func dockerImage(t *testing.T) *image {
	t.Helper()
	imageOnce.Do(func() {
		var err error
		builtImage, err = buildImage(t)
		if err != nil {
			imageErr = err.Error()
		}
	})
	if imageErr != "" {
		t.Fatal(imageErr)
	}
	if builtImage == nil {
		t.Fatal("the image build failed in an earlier test")
	}
	return builtImage
}

func buildImage(t *testing.T) (*image, error) {
	t.Helper()
	root := filepath.Join("..", "..")
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	var build *dockerStage
	for _, s := range df.stages {
		if s.name == "build" {
			build = s
		}
	}
	if build == nil || len(df.stages) != 2 || df.stages[1] == build {
		return nil, fmt.Errorf("Dockerfile: want a stage named build, then the final stage")
	}
	final := df.stages[1]

	// ARGs as --build-arg would give them: OUT is where the build stage
	// leaves what the final stage copies.
	// Kept until the test binary ends (TestMain): later tests run the
	// same image.
	out, err := os.MkdirTemp("", "riskd-image-")
	if err != nil {
		return nil, err
	}
	imageDir = out
	// The user the image runs as must be able to reach the binary.
	if err := os.Chmod(out, 0o755); err != nil {
		return nil, err
	}
	given := map[string]string{"OUT": out}
	stageArgs := func(s *dockerStage) map[string]string {
		vars := map[string]string{}
		for _, in := range s.all("ARG") {
			k, v, hasDefault := strings.Cut(in.args, "=")
			switch {
			case given[k] != "":
				vars[k] = given[k]
			case hasDefault:
				vars[k] = v
			default:
				vars[k] = df.globalArgs[k]
			}
		}
		return vars
	}
	if _, ok := df.globalArgs["OUT"]; !ok {
		return nil, fmt.Errorf("Dockerfile: no global ARG OUT: the build's output directory must be one setting both stages read")
	}

	// The build stage's RUN lines, in order, from the module's root (its
	// WORKDIR, where COPY . . put the tree), each as /bin/sh -c would run
	// it in the golang image, with the stage's ARGs in the environment.
	buildVars := stageArgs(build)
	if build.one(t, "WORKDIR").args == "" {
		return nil, fmt.Errorf("Dockerfile: the build stage has no WORKDIR")
	}
	var env []string
	for k, v := range buildVars {
		env = append(env, k+"="+v)
	}
	runs := build.all("RUN")
	if len(runs) == 0 {
		return nil, fmt.Errorf("Dockerfile: the build stage runs nothing")
	}
	for _, in := range runs {
		cmd := exec.Command("sh", "-c", in.args)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("Dockerfile:%d: RUN %s: %v\n%s", in.line, in.args, err, b)
		}
	}
	if runs := final.all("RUN"); len(runs) > 0 {
		return nil, fmt.Errorf("Dockerfile:%d: RUN in the final stage: distroless has no shell to run it", runs[0].line)
	}

	img := &image{healthOpts: map[string]string{}, env: map[string]string{}}
	vars := stageArgs(final)
	expand := func(s string) string { return os.Expand(s, func(k string) string { return vars[k] }) }

	// USER: numeric and not root. A name would have to be looked up in the
	// image's /etc/passwd, and Kubernetes' runAsNonRoot can only check a
	// number.
	user := final.one(t, "USER").args
	u, g, _ := strings.Cut(user, ":")
	if img.uid, err = strconv.Atoi(u); err != nil || img.uid == 0 {
		return nil, fmt.Errorf("Dockerfile: USER %s: want a numeric user other than root (0)", user)
	}
	if img.gid, err = strconv.Atoi(g); err != nil || img.gid == 0 {
		return nil, fmt.Errorf("Dockerfile: USER %s: want uid:gid, both numeric and not root's", user)
	}

	// COPY --from=build: what the image holds, at which path, owned by whom.
	type copied struct{ src, chown string }
	files := map[string]copied{}
	for _, in := range final.all("COPY") {
		w := words(expand(in.args))
		var from, chown string
		for len(w) > 0 && strings.HasPrefix(w[0], "--") {
			k, v, _ := strings.Cut(w[0], "=")
			switch k {
			case "--from":
				from = v
			case "--chown":
				chown = v
			}
			w = w[1:]
		}
		if from != "build" || len(w) != 2 {
			return nil, fmt.Errorf("Dockerfile:%d: want COPY --from=build SRC DEST, got COPY %s", in.line, in.args)
		}
		files[w[1]] = copied{w[0], chown}
	}

	for _, in := range final.all("ENV") {
		w := words(expand(in.args))
		for _, kv := range w {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("Dockerfile:%d: ENV %s: want KEY=value", in.line, kv)
			}
			img.env[k] = v
			vars[k] = v
		}
	}

	ep := final.one(t, "ENTRYPOINT")
	img.entrypoint = execForm(t, ep, ep.args)
	img.path = img.entrypoint[0]
	bin, ok := files[img.path]
	if !ok {
		return nil, fmt.Errorf("Dockerfile: ENTRYPOINT %s is not a file the final stage copies", img.path)
	}
	img.binary = bin.src
	if err := static(img.binary); err != nil {
		return nil, fmt.Errorf("Dockerfile: %s: %v; distroless/static cannot run it", img.path, err)
	}

	vol := final.one(t, "VOLUME")
	vols := execForm(t, vol, expand(vol.args))
	if len(vols) != 1 {
		return nil, fmt.Errorf("Dockerfile: VOLUME %v: want the data directory alone", vols)
	}
	img.volume = vols[0]
	if img.env["RISKD_DATA_DIR"] != img.volume {
		return nil, fmt.Errorf("Dockerfile: RISKD_DATA_DIR is %q but the VOLUME is %q: the store would not be on the volume", img.env["RISKD_DATA_DIR"], img.volume)
	}
	data, ok := files[img.volume]
	if !ok {
		return nil, fmt.Errorf("Dockerfile: the VOLUME %s is not made by the build stage: as root's, riskd could not write it", img.volume)
	}
	if data.chown != user {
		return nil, fmt.Errorf("Dockerfile: the VOLUME %s is copied --chown=%s, but riskd runs as USER %s and could not write it", img.volume, data.chown, user)
	}
	st, err := os.Stat(data.src)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("Dockerfile: the build stage did not make the data directory %s: %v", data.src, err)
	}
	if ents, _ := os.ReadDir(data.src); len(ents) > 0 {
		return nil, fmt.Errorf("Dockerfile: the image's data directory is not empty: %v", ents)
	}
	if st.Mode().Perm()&0o700 != 0o700 {
		return nil, fmt.Errorf("Dockerfile: the data directory's mode %v does not let its owner write", st.Mode())
	}
	img.volumeMode = st.Mode().Perm()

	hc := final.one(t, "HEALTHCHECK")
	opts, cmd, ok := strings.Cut(hc.args, "CMD ")
	if !ok {
		return nil, fmt.Errorf("Dockerfile:%d: HEALTHCHECK without CMD", hc.line)
	}
	for _, o := range words(opts) {
		k, v, _ := strings.Cut(o, "=")
		img.healthOpts[k] = v
	}
	img.healthcheck = execForm(t, hc, strings.TrimSpace(cmd))
	if img.healthcheck[0] != img.path {
		return nil, fmt.Errorf("Dockerfile: HEALTHCHECK runs %s, not the image's riskd %s", img.healthcheck[0], img.path)
	}

	for _, in := range final.all("EXPOSE") {
		img.exposed = in.args
	}
	return img, nil
}

// static reports an error if the binary needs a dynamic loader or shared
// libraries.
func static(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (it names a program interpreter)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %v", libs)
	}
	return nil
}

// container is one `docker run` of the image, as far as a test can go
// without Docker.
type container struct {
	img  *image
	env  []string // exactly the process's environment
	data string   // its volume
	port string
	proc *testproc.Process
}

// asRoot reports whether the test can run processes as the image's user
// and give files to it; otherwise they run as the test's own user.
func asRoot() bool { return os.Geteuid() == 0 }

// giveTo gives files to the image's user, as a mounted secret or config
// map would be readable by it.
func (img *image) giveTo(t *testing.T, paths ...string) {
	t.Helper()
	if !asRoot() {
		return
	}
	for _, p := range paths {
		if err := os.Chown(p, img.uid, img.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// shareDir is a temporary directory the image's user can read (the test
// runs as root, and t.TempDir is root's alone).
func shareDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "riskd-mount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// volume is a fresh data directory as a new named volume on the image's
// VOLUME starts: empty, with the mode the build stage gave it and owned as
// COPY --chown made it.
func (img *image) newVolume(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(shareDir(t), "data")
	if err := os.Mkdir(dir, img.volumeMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, img.volumeMode); err != nil { // past the umask
		t.Fatal(err)
	}
	img.giveTo(t, dir)
	return dir
}

// freePort is a port nothing listens on now, on every interface.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// environ is the image's ENV under the run's own variables (docker run -e),
// with the data directory moved to dataDir and the listen port to port.
func (img *image) environ(t *testing.T, dataDir, port string, extra map[string]string) []string {
	t.Helper()
	env := map[string]string{}
	for k, v := range img.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	host, _, err := net.SplitHostPort(env["RISKD_LISTEN"])
	if err != nil {
		t.Fatalf("RISKD_LISTEN %q: %v", env["RISKD_LISTEN"], err)
	}
	env["RISKD_LISTEN"] = net.JoinHostPort(host, port)
	env["RISKD_DATA_DIR"] = dataDir
	// The admin listener on a free port too, on the host it was given
	// (loopback by default): the machine is shared.
	adminHost := "127.0.0.1"
	if a := env["RISKD_ADMIN_LISTEN"]; a != "" {
		if adminHost, _, err = net.SplitHostPort(a); err != nil {
			t.Fatalf("RISKD_ADMIN_LISTEN %q: %v", a, err)
		}
	}
	env["RISKD_ADMIN_LISTEN"] = net.JoinHostPort(adminHost, "0")
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// command is the image's binary with argv[1:] of an argv the Dockerfile
// wrote (its ENTRYPOINT or HEALTHCHECK), in env, as the image's user.
func (img *image) command(argv []string, env []string) *exec.Cmd {
	cmd := exec.Command(img.binary, argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	if asRoot() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(img.uid), Gid: uint32(img.gid)}}
	}
	return cmd
}

// run starts the image with extra -e variables, on a fresh volume.
func (img *image) run(t *testing.T, extra map[string]string) *container {
	t.Helper()
	c := &container{img: img, data: img.newVolume(t), port: freePort(t)}
	c.env = img.environ(t, c.data, c.port, extra)
	c.proc = testproc.StartCommand(t, img.command(img.entrypoint, c.env), "riskd ready")
	return c
}

// healthcheck runs the Dockerfile's HEALTHCHECK command as written, in the
// container's environment, as Docker would (as the image's user).
func (c *container) healthcheck(t *testing.T, env []string) error {
	t.Helper()
	if env == nil {
		env = c.env
	}
	cmd := c.img.command(c.img.healthcheck, env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// callersConfig is a config file with callers: what the image needs to
// listen on 0.0.0.0. more is appended (TLS settings).
func callersConfig(t *testing.T, img *image, dir, more string) string {
	t.Helper()
	path := filepath.Join(dir, "riskd.yaml")
	text := "callers:\n  - name: checkout\n    token_sha256: " + auth.HashToken("container-token") +
		"\n    grants: [/risk.v1.RiskService/EvaluateRefund]\n" + more
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	img.giveTo(t, path)
	return path
}

func TestDockerfileImage(t *testing.T) {
	img := dockerImage(t)

	t.Run("settings", func(t *testing.T) {
		// The build checked the USER, the VOLUME's ownership, that the
		// ENTRYPOINT and HEALTHCHECK run the build stage's binary and
		// that it is static. Here: the port the image documents is the
		// one it listens on, and the health check takes no flags.
		_, port, _ := net.SplitHostPort(img.env["RISKD_LISTEN"])
		if img.exposed != port {
			t.Errorf("EXPOSE %s, but RISKD_LISTEN is %s", img.exposed, img.env["RISKD_LISTEN"])
		}
		if host, _, _ := net.SplitHostPort(img.env["RISKD_LISTEN"]); host != "0.0.0.0" {
			t.Errorf("RISKD_LISTEN %s: a container must listen beyond its own loopback", img.env["RISKD_LISTEN"])
		}
		if len(img.healthcheck) != 2 || img.healthcheck[1] != "health" {
			t.Errorf("HEALTHCHECK CMD %v: want the image's riskd and `health` alone; a flag there can disagree with the configuration", img.healthcheck)
		}
		// Docker kills a check at --timeout and records only that; riskd
		// health's own timeout must come first, so its reason is what
		// `docker inspect` shows.
		d, err := time.ParseDuration(img.healthOpts["--timeout"])
		if err != nil || d <= healthTimeout {
			t.Errorf("HEALTHCHECK --timeout=%s: want more than riskd health's own %s", img.healthOpts["--timeout"], healthTimeout)
		}
		if !asRoot() {
			t.Log("not root: the image's processes run as the test's user, not its USER")
		}
	})

	t.Run("embedded plaintext", func(t *testing.T) {
		dir := shareDir(t)
		c := img.run(t, map[string]string{"RISKD_CONFIG": callersConfig(t, img, dir, "")})
		if err := c.healthcheck(t, nil); err != nil {
			t.Fatalf("HEALTHCHECK against a serving riskd: %v", err)
		}
		// The volume is written by the image's user: the identifier key
		// riskd created on first start, and the store.
		st, err := os.Stat(filepath.Join(c.data, pseudonym.KeyFileName))
		if err != nil {
			t.Fatalf("riskd did not write its key to the volume: %v", err)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && asRoot() && int(sys.Uid) != img.uid {
			t.Errorf("the key file is owned by %d, not the image's user %d", sys.Uid, img.uid)
		}
		c.proc.Kill(t)
		if err := c.healthcheck(t, nil); err == nil {
			t.Fatal("HEALTHCHECK passed with riskd stopped")
		}
	})

	t.Run("embedded mTLS", func(t *testing.T) {
		dir := shareDir(t)
		serverCA, serverCAKey := newCA(t, "riskd test server CA")
		clientCA, _ := newCA(t, "riskd test clients CA")
		// A certificate for a name, not for 127.0.0.1: the check must
		// not depend on the name the probe cannot dial.
		leaf, leafKey := issue(t, serverCA, serverCAKey, "riskd.internal")
		certFile, keyFile, caFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), filepath.Join(dir, "clients-ca.pem")
		writePEM(t, certFile, leaf, serverCA) // the chain, as issued
		writePEM(t, keyFile, leafKey)
		writePEM(t, caFile, clientCA)
		img.giveTo(t, certFile, keyFile, caFile)
		// Callers by client certificate as well as token: the server asks
		// for a certificate, and the probe presents none.
		cfg := callersConfig(t, img, dir, "  - name: review-tool\n    client_cn: review.internal\n    grants: [/risk.v1.RiskService/GetDecision]\n"+
			"tls_cert: "+certFile+"\ntls_key: "+keyFile+"\ntls_client_ca: "+caFile+"\n")
		c := img.run(t, map[string]string{"RISKD_CONFIG": cfg})
		if err := c.healthcheck(t, nil); err != nil {
			t.Fatalf("HEALTHCHECK against a serving riskd with mTLS: %v", err)
		}

		// The probe checks what it talks to: given another server's
		// certificate, it refuses this one.
		other := filepath.Join(dir, "other.pem")
		otherCA, otherKey := newCA(t, "another CA")
		otherLeaf, _ := issue(t, otherCA, otherKey, "riskd.internal")
		writePEM(t, other, otherLeaf)
		otherCfg := filepath.Join(dir, "other.yaml")
		if err := os.WriteFile(otherCfg, []byte("tls_cert: "+other+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		img.giveTo(t, other, otherCfg)
		env := img.environ(t, c.data, c.port, map[string]string{"RISKD_CONFIG": otherCfg})
		if err := c.healthcheck(t, env); err == nil || !strings.Contains(err.Error(), "not from its --tls-cert file") {
			t.Fatalf("HEALTHCHECK trusting another certificate: %v, want a refusal of the served one", err)
		}

		c.proc.Kill(t)
		if err := c.healthcheck(t, nil); err == nil {
			t.Fatal("HEALTHCHECK passed with riskd stopped")
		}
	})

	t.Run("replica postgres", func(t *testing.T) {
		schema := postgresSchema(t, "riskd_container_")
		dir := shareDir(t)
		// As the README's docker run gives them: the store and database by
		// -e, the key from a secret file into the environment.
		c := img.run(t, map[string]string{
			"RISKD_CONFIG":          callersConfig(t, img, dir, ""),
			"RISKD_STORE":           "postgres",
			"RISKD_POSTGRES_URL":    replicaPG,
			"RISKD_POSTGRES_SCHEMA": schema,
			"RISKD_IDENTIFIER_KEY":  strings.Repeat("c3", 32),
		})
		if err := c.healthcheck(t, nil); err != nil {
			t.Fatalf("HEALTHCHECK against a serving replica: %v", err)
		}
		c.proc.Kill(t)
		if err := c.healthcheck(t, nil); err == nil {
			t.Fatal("HEALTHCHECK passed with riskd stopped")
		}
	})
}

// newCA is a self-signed CA certificate and its key.
func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// issue is a server certificate for dnsName, signed by the CA.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, dnsName string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{dnsName}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// writePEM writes certificates and keys, in order, to one PEM file.
func writePEM(t *testing.T, path string, items ...any) {
	t.Helper()
	var b []byte
	for _, it := range items {
		switch v := it.(type) {
		case *x509.Certificate:
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.Raw})...)
		case *ecdsa.PrivateKey:
			der, err := x509.MarshalECPrivateKey(v)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
		default:
			t.Fatalf("writePEM: %T", it)
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
