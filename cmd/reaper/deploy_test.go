package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
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
	cfgPath := filepath.Join(t.TempDir(), "reaper.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(dig(byKind["ConfigMap"]["reaper-config"], "data", "reaper.yaml").(string)), 0o600))
	cfg, err := config.Load(cfgPath, func(k string) string { return secret[k] })
	require.NoError(t, err, "the ConfigMap's reaper.yaml must load with the Secret's variables")
	adminPort, apiPort := portOf(t, cfg.Admin.Listen), portOf(t, cfg.API.Listen)

	want := map[string]struct {
		command  string
		port     int
		replicas int
	}{
		"reaper-worker":    {"worker", adminPort, 2},
		"reaper-scheduler": {"scheduler", adminPort, 2},
		"reaper-api":       {"serve", apiPort, 1},
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
			assert.True(t, n == "REAPER_CONFIG" || envAllowed(n), "%s: env %s is not read by reaper", name, n)
		}
		assert.Equal(t, "reaper-credentials", dig(c, "envFrom", 0, "secretRef", "name"), name)
	}
	grace := dig(byKind["Deployment"]["reaper-worker"], "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	assert.Greater(t, time.Duration(grace)*time.Second, cfg.Worker.ShutdownTimeout,
		"the worker's grace period must outlast worker.shutdown_timeout")
	assert.NotNil(t, byKind["PodDisruptionBudget"]["reaper-worker"])
	assert.Equal(t, "reaper-redis", strings.Split(strings.TrimPrefix(cfg.Redis.URL, "redis://"), ":")[0],
		"redis.url must name the Redis Service")
	assert.NotNil(t, byKind["Service"]["reaper-redis"])
	assert.Contains(t, dig(byKind["StatefulSet"]["reaper-redis"], "spec", "template", "spec", "containers", 0, "args"), "--appendonly")
}

func TestComposeAgreesWithTheCode(t *testing.T) {
	doc := yamlDocs(t, filepath.Join(deployDir, "compose.yaml"))[0]
	services := dig(doc, "services").(map[string]any)
	cfgMount := ""
	commandsSeen := map[string]int{}
	for name, s := range services {
		if name == "redis" {
			assert.Contains(t, dig(s, "command"), "--appendonly")
			continue
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
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
