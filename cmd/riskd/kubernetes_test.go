package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/testproc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The manifests in deploy/kubernetes are checked against the Kubernetes
// API's own Go types (k8s.io/api, at the version go.mod pins), decoded
// strictly: an unknown or misspelt field, a duplicate key, a wrong type or
// a malformed quantity is an error, as the API server's strict field
// validation would make it. (kubeconform would check the same against
// JSON schemas, but it downloads them from GitHub, which the machines
// this project is built on cannot reach.) Then what a schema cannot see:
// the objects refer to each other correctly, agree with the Dockerfile,
// the shutdown arithmetic holds, the config map is a riskd configuration
// that validates, and a riskd started as the Deployment starts it passes
// its probes, asked the way the kubelet asks.

const manifestDir = "../../deploy/kubernetes"

type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
}

// loadManifests decodes every YAML document in deploy/kubernetes into its
// Kubernetes type; a kind the test does not know is an error, so a new
// manifest is checked or the test says so.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestDir, err)
	}
	m := &manifests{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			where := filepath.Base(f)
			if i > 0 {
				where = fmt.Sprintf("%s document %d", where, i+1)
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				m.deployment = once(t, where, m.deployment)
				obj = m.deployment
			case "v1 Service":
				m.service = once(t, where, m.service)
				obj = m.service
			case "v1 ConfigMap":
				m.configMap = once(t, where, m.configMap)
				obj = m.configMap
			case "v1 Secret":
				m.secret = once(t, where, m.secret)
				obj = m.secret
			case "policy/v1 PodDisruptionBudget":
				m.pdb = once(t, where, m.pdb)
				obj = m.pdb
			case "autoscaling/v2 HorizontalPodAutoscaler":
				m.hpa = once(t, where, m.hpa)
				obj = m.hpa
			default:
				t.Fatalf("%s: %s %s is not a kind this test checks: add it here", where, tm.APIVersion, tm.Kind)
			}
			// As the API server decodes with strict field validation:
			// YAML to JSON refusing duplicate keys, then JSON matched to
			// the fields case-sensitively (encoding/json would take
			// readOnlyRootFileSystem for readOnlyRootFilesystem), every
			// field known.
			js, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			strictErrs, err := sigsjson.UnmarshalStrict(js, obj)
			if err = errors.Join(append(strictErrs, err)...); err != nil {
				t.Fatalf("%s: not a valid %s %s: %v", where, tm.APIVersion, tm.Kind, err)
			}
			meta := obj.(metav1.Object)
			if errs := validation.IsDNS1123Subdomain(meta.GetName()); len(errs) > 0 {
				t.Errorf("%s: name %q: %v", where, meta.GetName(), errs)
			}
			for k, v := range meta.GetLabels() {
				if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
					t.Errorf("%s: label %s=%s: %v", where, k, v, errs)
				}
			}
		}
	}
	if m.deployment == nil || m.service == nil || m.configMap == nil || m.secret == nil || m.pdb == nil || m.hpa == nil {
		t.Fatalf("deploy/kubernetes needs a Deployment, Service, ConfigMap, Secret, PodDisruptionBudget and HorizontalPodAutoscaler; got %+v", m)
	}
	return m
}

// once returns a new object for a kind, failing if the kind came before.
func once[T any](t *testing.T, where string, prev *T) *T {
	t.Helper()
	if prev != nil {
		t.Fatalf("%s: a second %T; the test checks one of each", where, prev)
	}
	return new(T)
}

// selects fails unless sel is a valid selector that matches set.
func selects(t *testing.T, what string, sel *metav1.LabelSelector, set map[string]string) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		t.Errorf("%s: selector %v: %v (an empty selector selects everything)", what, sel, err)
		return
	}
	if !s.Matches(labels.Set(set)) {
		t.Errorf("%s: selector %s does not select the pods (%v)", what, s, set)
	}
}

var placeholder = regexp.MustCompile(`REPLACE-[A-Za-z0-9-]+`)

// testSecrets are the values the test gives the Secret's keys.
func testSecrets() map[string]string {
	return map[string]string{"identifier-key": strings.Repeat("d4", 32), "postgres-url": replicaPG}
}

// podEnv is the container's environment as the kubelet makes it: the
// image's ENV, then the Deployment's env, secrets resolved from secrets.
func podEnv(t *testing.T, img *image, c corev1.Container, secretName string, secrets map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range img.env {
		env[k] = v
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Key]
			if ref.Name != secretName || !ok {
				t.Fatalf("env %s: secret %s key %s is not in the Secret %s", e.Name, ref.Name, ref.Key, secretName)
			}
			env[e.Name] = v
		default:
			t.Fatalf("env %s: only values and secretKeyRef are checked here", e.Name)
		}
	}
	return env
}

// riskdConfig is the config map's riskd.yaml, written where the test can
// read it, with each REPLACE-... placeholder replaced by fill.
func riskdConfig(t *testing.T, m *manifests, file string, fill func(string) string) string {
	t.Helper()
	text, ok := m.configMap.Data[file]
	if !ok {
		t.Fatalf("the ConfigMap has no %s", file)
	}
	if fill != nil {
		text = placeholder.ReplaceAllStringFunc(text, fill)
	}
	p := filepath.Join(shareDir(t), file)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadWith(env map[string]string) (config.Config, error) {
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	img := dockerImage(t)
	d := m.deployment
	pod := d.Spec.Template
	podLabels := pod.Labels

	// References between the objects.
	selects(t, "Deployment", d.Spec.Selector, podLabels)
	selects(t, "Service", &metav1.LabelSelector{MatchLabels: m.service.Spec.Selector}, podLabels)
	selects(t, "PodDisruptionBudget", m.pdb.Spec.Selector, podLabels)
	if ref := m.hpa.Spec.ScaleTargetRef; ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HorizontalPodAutoscaler scales %v, not the Deployment %s", ref, d.Name)
	}
	if d.Spec.Replicas != nil {
		t.Error("the Deployment sets replicas: every apply would reset the autoscaler's count")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want riskd alone", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if len(c.Command) > 0 || len(c.Args) > 0 {
		t.Errorf("command %v args %v: configure riskd by its file and RISKD_*, which `riskd health` also reads, not by arguments", c.Command, c.Args)
	}

	// The image: its port, its user, where it reads its config.
	_, port, _ := strings.Cut(img.env["RISKD_LISTEN"], ":")
	var grpcPort int32
	for _, p := range c.Ports {
		if p.Name == "grpc" {
			grpcPort = p.ContainerPort
			if p.Protocol != corev1.ProtocolTCP {
				t.Errorf("port grpc: protocol %q, want TCP", p.Protocol)
			}
		}
	}
	if grpcPort == 0 || port != strconv.Itoa(int(grpcPort)) {
		t.Errorf("container port grpc %d, but the image listens on %s", grpcPort, img.env["RISKD_LISTEN"])
	}
	var servicePort bool
	for _, p := range m.service.Spec.Ports {
		servicePort = servicePort || p.TargetPort.String() == "grpc" || p.TargetPort.IntValue() == int(grpcPort)
	}
	if !servicePort {
		t.Errorf("the Service sends no port to the container's grpc port: %v", m.service.Spec.Ports)
	}
	configDir, configFile := path.Split(img.env["RISKD_CONFIG"])
	var mounted bool
	for _, vm := range c.VolumeMounts {
		if strings.TrimSuffix(vm.MountPath, "/")+"/" != configDir {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name {
				for _, it := range v.ConfigMap.Items {
					mounted = mounted || (it.Key == configFile && it.Path == configFile)
				}
			}
		}
	}
	if !mounted {
		t.Errorf("the ConfigMap's %s is not mounted at the image's RISKD_CONFIG %s", configFile, img.env["RISKD_CONFIG"])
	}

	// Security context: non-root as the image's user, nothing more.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Error("the pod and the container need a security context")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != int64(img.uid):
		t.Errorf("pod: runAsNonRoot %v runAsUser %v, want true and the image's USER %d", deref(psc.RunAsNonRoot), deref(psc.RunAsUser), img.uid)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod: seccomp %v, want RuntimeDefault", psc.SeccompProfile)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("container: allowPrivilegeEscalation must be false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("container: readOnlyRootFilesystem must be true")
	case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0:
		t.Errorf("container: capabilities %v, want drop [ALL] and no add", sc.Capabilities)
	case sc.RunAsUser != nil && *sc.RunAsUser != int64(img.uid):
		t.Errorf("container: runAsUser %d, not the image's USER %d", *sc.RunAsUser, img.uid)
	}

	// Resources: the autoscaler's utilization is of the CPU request.
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() || lim.Memory().Cmp(*req.Memory()) < 0 {
		t.Errorf("resources %v: want CPU and memory requests and a memory limit at least the request", c.Resources)
	}

	// Probes: the kubelet's gRPC probes, on the gRPC port; liveness on the
	// process alone.
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	wantService := map[string]string{"startup": server.LivenessService, "liveness": server.LivenessService, "readiness": ""}
	for name, p := range probes {
		if p == nil || p.GRPC == nil {
			t.Errorf("%s probe: want a gRPC probe, got %+v", name, p)
			continue
		}
		if p.GRPC.Port != grpcPort {
			t.Errorf("%s probe asks port %d, not the grpc port %d", name, p.GRPC.Port, grpcPort)
		}
		if got := deref(p.GRPC.Service); got != wantService[name] {
			t.Errorf("%s probe asks service %q, want %q", name, got, wantService[name])
		}
	}

	// The effective configuration: the image's ENV, the pod's env and the
	// config map, as riskd loads them.
	fill := func(s string) string { return auth.HashToken(s) } // one token per placeholder
	env := podEnv(t, img, c, m.secret.Name, testSecrets())
	env["RISKD_CONFIG"] = riskdConfig(t, m, configFile, fill)
	cfg, err := loadWith(env)
	if err != nil {
		t.Fatalf("the manifests' riskd configuration does not validate: %v", err)
	}
	if cfg.Store != "postgres" || cfg.TLSCert != "" {
		t.Errorf("store %q, tls_cert %q: the manifests are for the replica mode, in plaintext (the kubelet's gRPC probes do not speak TLS)", cfg.Store, cfg.TLSCert)
	}
	for _, e := range c.Env {
		if (e.Name == "RISKD_IDENTIFIER_KEY" || e.Name == "RISKD_POSTGRES_URL") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("env %s is written into the Deployment: take it from the Secret", e.Name)
		}
	}
	if strings.Contains(m.configMap.Data[configFile], "identifier_key") || strings.Contains(m.configMap.Data[configFile], "postgres_url") {
		t.Error("the ConfigMap holds a secret (identifier_key or postgres_url): it belongs in the Secret")
	}
	// As shipped, the placeholders keep riskd from starting: nobody runs
	// the example's callers or key by accident.
	shipped := podEnv(t, img, c, m.secret.Name, m.secret.StringData)
	shipped["RISKD_CONFIG"] = riskdConfig(t, m, configFile, nil)
	if _, err := loadWith(shipped); err == nil || !strings.Contains(err.Error(), "callers") {
		t.Errorf("the shipped example's placeholders: %v, want riskd to refuse its callers", err)
	}
	shipped["RISKD_CONFIG"] = env["RISKD_CONFIG"]
	if _, err := loadWith(shipped); err == nil || !strings.Contains(err.Error(), "identifier-key") {
		t.Errorf("the shipped Secret's key: %v, want riskd to refuse it", err)
	}

	// Shutdown: the kubelet's SIGKILL must come after riskd's drain delay,
	// its bounded drain of calls in flight, and the telemetry flush that
	// follows, bounded by the shutdown timeout again, plus a margin for
	// closing the store. The drain delay is read from the env, where the
	// Deployment must set it, so this sum never rests on a default.
	drain, err := time.ParseDuration(env["RISKD_DRAIN_DELAY"])
	if err != nil {
		t.Errorf("RISKD_DRAIN_DELAY %q: the Deployment must set the drain delay: %v", env["RISKD_DRAIN_DELAY"], err)
	}
	const margin = 5 * time.Second
	need := drain + 2*cfg.ShutdownTimeout + margin
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds %v < drain delay %s + 2 × shutdown timeout %s + %s = %s", deref(g), drain, cfg.ShutdownTimeout, margin, need)
	}

	// Availability and the database's connections.
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge == nil {
		t.Errorf("strategy %+v: want a rolling update that never goes below the count (maxUnavailable 0)", d.Spec.Strategy)
	}
	minR := int32(1)
	if m.hpa.Spec.MinReplicas != nil {
		minR = *m.hpa.Spec.MinReplicas
	}
	if m.pdb.Spec.MaxUnavailable == nil || int32(m.pdb.Spec.MaxUnavailable.IntValue()) >= minR || minR < 2 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v with minReplicas %d: a disruption could take every replica", m.pdb.Spec.MaxUnavailable, minR)
	}
	if m.hpa.Spec.MaxReplicas < minR {
		t.Errorf("maxReplicas %d < minReplicas %d", m.hpa.Spec.MaxReplicas, minR)
	}
	var cpu bool
	for _, mt := range m.hpa.Spec.Metrics {
		cpu = cpu || (mt.Type == autoscalingv2.ResourceMetricSourceType && mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU &&
			mt.Resource.Target.Type == autoscalingv2.UtilizationMetricType && mt.Resource.Target.AverageUtilization != nil)
	}
	if !cpu {
		t.Errorf("the autoscaler has no CPU utilization target: %v", m.hpa.Spec.Metrics)
	}
	// PostgreSQL's default max_connections is 100; 90 leaves room for
	// superusers, migrations and operators.
	if n := (int(m.hpa.Spec.MaxReplicas) + ru.MaxSurge.IntValue()) * cfg.PostgresMaxConns; n > 90 {
		t.Errorf("(maxReplicas %d + maxSurge %s) × postgres_max_conns %d = %d connections: more than PostgreSQL's default 100 allows with room to spare",
			m.hpa.Spec.MaxReplicas, ru.MaxSurge, cfg.PostgresMaxConns, n)
	}
	if t.Failed() {
		return
	}

	// And a riskd started as the pod starts it: the image's binary and
	// USER, the image's ENV under the pod's env, the config map as its
	// config file, on a data directory it cannot write (the read-only
	// root filesystem; the replica mode needs none), on the machine's
	// PostgreSQL in a schema of the test's own. Its probes pass, asked as
	// the kubelet asks: grpc.health.v1 Check, plaintext, within the
	// probe's timeout.
	env["RISKD_POSTGRES_SCHEMA"] = postgresSchema(t, "riskd_kubernetes_")
	img.giveTo(t, env["RISKD_CONFIG"])
	readOnly := filepath.Join(shareDir(t), "var-lib-riskd")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	runEnv := img.environ(t, readOnly, port, env)
	p := testproc.StartCommand(t, img.command(img.entrypoint, runEnv), "riskd ready")
	for _, name := range []string{"startup", "liveness", "readiness"} {
		if err := kubeletProbe("127.0.0.1:"+port, probes[name]); err != nil {
			t.Errorf("%s probe: %v", name, err)
		}
	}
	p.Kill(t)
}

// kubeletProbe asks as the kubelet's gRPC prober does.
func kubeletProbe(addr string, p *corev1.Probe) error {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: deref(p.GRPC.Service)})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s", resp.GetStatus())
	}
	return nil
}

// deref is *p, or the zero value for nil (Kubernetes' unset).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
