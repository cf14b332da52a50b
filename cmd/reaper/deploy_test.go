package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/reaper-media/reaper/config"
)

const deployDir = "../../deploy"

// yamlDocs reads every document of a (multi-document) YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, path)
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// dig walks nested maps and lists: dig(x, "spec", "template", "spec", "containers", 0).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func portOf(t *testing.T, listen string) int {
	_, p, err := net.SplitHostPort(listen)
	require.NoError(t, err, listen)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

func commandNames() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
	}
	return out
}

// envAllowed is every variable reaper reads.
func envAllowed(name string) bool { return slices.Contains(config.Env, name) }

// TestKubernetesManifestsAgreeWithTheCode checks what a typo in a manifest would break at 3 am: the
// config in the ConfigMap loads, probes hit the paths and ports the code serves, env names are ones
// the code reads, the grace period outlasts the worker's shutdown timeout, the scheduler has replicas
// to fail over to, and every container runs a real subcommand.
func TestKubernetesManifestsAgreeWithTheCode(t *testing.T) {
	byKind := map[string]map[string]map[string]any{}
	files, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	require.NoError(t, err)
	kust := yamlDocs(t, filepath.Join(deployDir, "kubernetes", "kustomization.yaml"))[0]
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		assert.Contains(t, dig(kust, "resources"), filepath.Base(f), "kustomization.yaml must list %s", f)
		for _, d := range yamlDocs(t, f) {
			kind, name := d["kind"].(string), dig(d, "metadata", "name").(string)
			if byKind[kind] == nil {
				byKind[kind] = map[string]map[string]any{}
			}
			byKind[kind][name] = d
		}
	}

	secret := map[string]string{}
	for k, v := range dig(byKind["Secret"]["reaper-credentials"], "stringData").(map[string]any) {
		assert.True(t, envAllowed(k), "secret key %s is not an env variable reaper reads", k)
		secret[k] = fmt.Sprint(v)
	}
	secret["REAPER_API_TOKENS"] = fmt.Sprint(dig(byKind["Secret"]["reaper-api-tokens"], "stringData", "tokens"))
	configMapText := dig(byKind["ConfigMap"]["reaper-config"], "data", "reaper.yaml").(string)
	cfgPath := filepath.Join(t.TempDir(), "reaper.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(configMapText), 0o600))
	cfg, err := config.Load(cfgPath, func(k string) string { return secret[k] })
	require.NoError(t, err, "the ConfigMap's reaper.yaml must load with the Secret's variables")
	adminPort, apiPort := portOf(t, cfg.Admin.Listen), portOf(t, cfg.API.Listen)

	// Redis has a password, from its own Secret; the ConfigMap holds no Redis URL and no password.
	redisPassword := fmt.Sprint(dig(byKind["Secret"]["reaper-redis"], "stringData", "password"))
	assert.Regexp(t, `^[A-Za-z0-9]{16,}$`, redisPassword, "the Redis password goes into a URL unescaped")
	assert.NotContains(t, configMapText, redisPassword)
	assert.NotContains(t, configMapText, "redis://", "REAPER_REDIS_URL (with the password) comes from the Secret")
	secretValue := func(ref any) string {
		v, ok := dig(byKind["Secret"][fmt.Sprint(dig(ref, "name"))], "stringData", fmt.Sprint(dig(ref, "key"))).(string)
		require.True(t, ok, "secretKeyRef %v names no Secret key", ref)
		return v
	}
	// podEnv is a container's environment as Kubernetes builds it: envFrom Secrets, then env, with
	// $(VAR) expanded from the variables defined before.
	podEnv := func(c any) map[string]string {
		env := map[string]string{}
		for _, from := range dig(c, "envFrom").([]any) {
			for k, v := range dig(byKind["Secret"][fmt.Sprint(dig(from, "secretRef", "name"))], "stringData").(map[string]any) {
				env[k] = fmt.Sprint(v)
			}
		}
		for _, e := range dig(c, "env").([]any) {
			n := dig(e, "name").(string)
			if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
				env[n] = secretValue(ref)
				continue
			}
			env[n] = regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(fmt.Sprint(dig(e, "value")), func(m string) string {
				v, ok := env[m[2:len(m)-1]]
				assert.True(t, ok, "%s refers to %s before it is defined", n, m)
				return v
			})
		}
		return env
	}
	redisPod := dig(byKind["StatefulSet"]["reaper-redis"], "spec", "template")
	redisC := dig(redisPod, "spec", "containers", 0)
	redisArgs := fmt.Sprint(dig(redisC, "args"))
	assert.Contains(t, redisArgs, "--requirepass $(REDIS_PASSWORD)")
	assert.Contains(t, redisArgs, "--maxmemory-policy noeviction")
	for _, e := range dig(redisC, "env").([]any) {
		assert.Equal(t, redisPassword, secretValue(dig(e, "valueFrom", "secretKeyRef")), "redis env %v", dig(e, "name"))
	}

	// Only reaper's pods may reach Redis.
	np := byKind["NetworkPolicy"]["reaper-redis"]
	require.NotNil(t, np, "a NetworkPolicy guards Redis")
	assert.Equal(t, dig(redisPod, "metadata", "labels"), dig(np, "spec", "podSelector", "matchLabels"), "the policy selects the Redis pods")
	assert.Contains(t, dig(np, "spec", "policyTypes"), "Ingress")
	ingress := dig(np, "spec", "ingress").([]any)
	require.Len(t, ingress, 1)
	from := dig(ingress[0], "from").([]any)
	require.Len(t, from, 1, "one peer: reaper's pods")
	require.Nil(t, dig(from[0], "namespaceSelector"))
	require.Nil(t, dig(from[0], "ipBlock"))
	peer := dig(from[0], "podSelector")
	assert.Equal(t, 6379, dig(ingress[0], "ports", 0, "port"))
	assert.False(t, selects(peer, map[string]any{"app.kubernetes.io/name": "someone-else", "app.kubernetes.io/component": "worker"}))
	assert.False(t, selects(peer, map[string]any{}))

	// No Service leaves the cluster, and none exposes an admin port.
	for name, svc := range byKind["Service"] {
		assert.Contains(t, []any{nil, "ClusterIP"}, dig(svc, "spec", "type"), "Service %s stays inside the cluster", name)
		for _, p := range dig(svc, "spec", "ports").([]any) {
			assert.NotEqual(t, "admin", dig(p, "targetPort"), name)
			assert.NotEqual(t, adminPort, dig(p, "port"), name)
		}
	}

	want := map[string]struct {
		command  string
		port     int
		replicas int
	}{
		"reaper-worker":    {"worker", adminPort, 2},
		"reaper-scheduler": {"scheduler", adminPort, 2},
		"reaper-api":       {"serve", adminPort, 1}, // probes and scrapes on admin.listen, clients on api.listen
	}
	for name, w := range want {
		d := byKind["Deployment"][name]
		require.NotNil(t, d, "Deployment %s", name)
		assert.GreaterOrEqual(t, dig(d, "spec", "replicas"), w.replicas, name)
		pod := dig(d, "spec", "template")
		c := dig(pod, "spec", "containers", 0)
		args := dig(c, "args").([]any)
		assert.Equal(t, w.command, args[0], name)
		assert.Contains(t, commandNames(), args[0], name)
		ports := map[string]int{}
		for _, p := range dig(c, "ports").([]any) {
			ports[dig(p, "name").(string)] = dig(p, "containerPort").(int)
		}
		for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			assert.Equal(t, path, dig(c, probe, "httpGet", "path"), "%s %s", name, probe)
			assert.Equal(t, w.port, ports[dig(c, probe, "httpGet", "port").(string)], "%s %s port", name, probe)
		}
		assert.Equal(t, strconv.Itoa(w.port), dig(pod, "metadata", "annotations", "prometheus.io/port"), name)
		assert.Equal(t, "/metrics", dig(pod, "metadata", "annotations", "prometheus.io/path"), name)
		assert.Equal(t, true, dig(pod, "spec", "securityContext", "runAsNonRoot"), name)
		for _, e := range dig(c, "env").([]any) {
			n := dig(e, "name").(string)
			if n == "REDIS_PASSWORD" { // only to build REAPER_REDIS_URL, from the Secret
				assert.Equal(t, redisPassword, secretValue(dig(e, "valueFrom", "secretKeyRef")), name)
				continue
			}
			assert.True(t, n == "REAPER_CONFIG" || envAllowed(n), "%s: env %s is not read by reaper", name, n)
		}
		assert.Equal(t, "reaper-credentials", dig(c, "envFrom", 0, "secretRef", "name"), name)

		// What the container runs with: the ConfigMap plus its environment reaches Redis with the password.
		env := podEnv(c)
		podCfg, err := config.Load(cfgPath, func(k string) string { return env[k] })
		require.NoError(t, err, name)
		u, err := url.Parse(podCfg.Redis.URL)
		require.NoError(t, err, name)
		assert.Equal(t, "reaper-redis:6379", u.Host, "%s: redis.url must name the Redis Service", name)
		pw, _ := u.User.Password()
		assert.Equal(t, redisPassword, pw, "%s: REAPER_REDIS_URL carries Redis's password", name)
		assert.Contains(t, podCfg.Secrets(), redisPassword, "%s: the password is scrubbed like every secret", name)
		assert.True(t, selects(peer, dig(pod, "metadata", "labels").(map[string]any)), "%s may reach Redis", name)
		if name == "reaper-api" {
			assert.Equal(t, apiPort, ports["http"], "the API's clients port")
		}
	}
	grace := dig(byKind["Deployment"]["reaper-worker"], "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	assert.Greater(t, time.Duration(grace)*time.Second, cfg.Worker.ShutdownTimeout,
		"the worker's grace period must outlast worker.shutdown_timeout")
	assert.NotNil(t, byKind["PodDisruptionBudget"]["reaper-worker"])
	assert.NotNil(t, byKind["Service"]["reaper-redis"])
	assert.Contains(t, dig(byKind["StatefulSet"]["reaper-redis"], "spec", "template", "spec", "containers", 0, "args"), "--appendonly")
}

// selects reports whether a Kubernetes label selector (matchLabels, matchExpressions with In)
// selects a pod with labels.
func selects(selector any, labels map[string]any) bool {
	matchLabels, _ := dig(selector, "matchLabels").(map[string]any)
	for k, v := range matchLabels {
		if labels[k] != v {
			return false
		}
	}
	exprs, _ := dig(selector, "matchExpressions").([]any)
	for _, e := range exprs {
		if dig(e, "operator") != "In" || !slices.Contains(dig(e, "values").([]any), labels[dig(e, "key").(string)]) {
			return false
		}
	}
	return true
}

func TestComposeAgreesWithTheCode(t *testing.T) {
	doc := yamlDocs(t, filepath.Join(deployDir, "compose.yaml"))[0]
	services := dig(doc, "services").(map[string]any)
	cfgMount := ""
	commandsSeen := map[string]int{}
	password := regexp.MustCompile(`^\$\{REDIS_PASSWORD:\?[^}]*\}$`)
	for name, s := range services {
		if name == "redis" {
			cmd := dig(s, "command").([]any)
			assert.Contains(t, cmd, "--appendonly")
			i := slices.Index(cmd, any("--requirepass"))
			require.Positive(t, i, "Redis has a password")
			assert.Regexp(t, password, cmd[i+1], "from REDIS_PASSWORD, required")
			assert.Regexp(t, password, dig(s, "environment", "REDISCLI_AUTH"), "the healthcheck authenticates")
			assert.Nil(t, dig(s, "ports"), "Redis publishes no port")
			continue
		}
		// Redis's URL carries the password; admin ports are published on loopback only.
		assert.Regexp(t, `^redis://:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379/0$`, dig(s, "environment", "REAPER_REDIS_URL"), name)
		adminPort := portOf(t, dig(s, "environment", "REAPER_ADMIN_LISTEN").(string))
		for _, p := range dig(s, "ports").([]any) {
			parts := strings.Split(p.(string), ":")
			container, err := strconv.Atoi(parts[len(parts)-1])
			require.NoError(t, err, p)
			if container == adminPort {
				require.Len(t, parts, 3, "%s: %s must name a host address", name, p)
				assert.Equal(t, "127.0.0.1", parts[0], "%s: admin port %s is published on loopback only", name, p)
				continue
			}
			assert.Equal(t, "serve", dig(s, "command", 0), "%s: only the API is published beyond loopback", name)
			assert.Equal(t, portOf(t, config.Default().API.Listen), container, name)
		}
		cmd := dig(s, "command").([]any)
		assert.Contains(t, commandNames(), cmd[0], name)
		commandsSeen[cmd[0].(string)]++
		for _, v := range dig(s, "volumes").([]any) {
			cfgMount = strings.Split(v.(string), ":")[0]
		}
		for k := range dig(s, "environment").(map[string]any) {
			assert.True(t, k == "REAPER_CONFIG" || envAllowed(k), "%s: env %s", name, k)
		}
		grace, err := time.ParseDuration(dig(s, "stop_grace_period").(string))
		require.NoError(t, err)
		assert.Greater(t, grace, config.Default().Worker.ShutdownTimeout, name)
	}
	assert.Equal(t, 2, commandsSeen["worker"], "two workers")
	assert.Equal(t, 1, commandsSeen["scheduler"])
	assert.Equal(t, 1, commandsSeen["serve"])
	_, err := os.Stat(filepath.Join(deployDir, cfgMount))
	require.NoError(t, err, "compose mounts %s", cfgMount)

	env, err := os.ReadFile(filepath.Join(deployDir, "reaper.env.example"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^#?\s*(?:or )?(REAPER_[A-Z_]+)=`).FindAllStringSubmatch(string(env), -1) {
		assert.True(t, envAllowed(m[1]), "reaper.env.example: %s", m[1])
	}
	assert.Regexp(t, `(?m)^REDIS_PASSWORD=$`, string(env), "reaper.env.example asks for Redis's password")
}

func TestDockerfileAndSystemdUnits(t *testing.T) {
	df, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(df), "\nFROM ")+btoi(strings.HasPrefix(string(df), "FROM ")), "multi-stage build")
	assert.Contains(t, string(df), "CGO_ENABLED=0", "static binary")
	assert.Regexp(t, `(?m)^USER nonroot`, string(df))
	assert.Contains(t, string(df), "./cmd/reaper")

	units, err := filepath.Glob(filepath.Join(deployDir, "systemd", "*.service"))
	require.NoError(t, err)
	require.Len(t, units, 3)
	var adminPorts []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/reaper (\S+)$`).FindStringSubmatch(string(b))
		require.NotNil(t, m, u)
		assert.Contains(t, commandNames(), m[1], u)
		stop := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindStringSubmatch(string(b))
		require.NotNil(t, stop, u)
		d, err := time.ParseDuration(stop[1])
		require.NoError(t, err)
		assert.Greater(t, d, config.Default().Worker.ShutdownTimeout, u)

		// Each unit's admin server on its own loopback port, so the three can share a host.
		admin := regexp.MustCompile(`(?m)^Environment=REAPER_ADMIN_LISTEN=(\S+)$`).FindStringSubmatch(string(b))
		require.NotNil(t, admin, u)
		host, port, err := net.SplitHostPort(admin[1])
		require.NoError(t, err, u)
		assert.True(t, net.ParseIP(host).IsLoopback(), u)
		assert.NotContains(t, adminPorts, port, "%s: admin port shared with another unit", u)
		adminPorts = append(adminPorts, port)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
