package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// completionScript runs `reaper completion SHELL` and saves the script in a file.
func completionScript(t *testing.T, shell string) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	require.Equal(t, 0, run(context.Background(), e, []string{"completion", shell}), errOut.String())
	path := filepath.Join(t.TempDir(), "reaper."+shell)
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o600))
	return out.String(), path
}

// The completion scripts are generated from commands() and each command's own flags: every command
// and every flag of it is in each script, and each script is valid in its shell.
func TestCompletionScripts(t *testing.T) {
	specs := commandSpecs(context.Background())
	require.Len(t, specs, len(commands()))
	byName := map[string]commandSpec{}
	for _, s := range specs {
		byName[s.name] = s
		if s.name != "completion" {
			assert.NotEmpty(t, s.flags, "%s defines flags (at least --config)", s.name)
		}
	}
	// Flags are read from the commands, values from the flags.
	manifest := flagNamed(t, byName["enqueue"], "manifest")
	assert.True(t, manifest.file)
	assert.Equal(t, []string{"text", "json"}, flagNamed(t, byName["status"], "output").choices)
	assert.True(t, flagNamed(t, byName["status"], "json").boolean)
	assert.Equal(t, []string{"mss", "smh", "vod"}, flagNamed(t, byName["pause"], "provider").choices)

	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			script, path := completionScript(t, shell)
			for _, s := range specs {
				assert.Contains(t, script, s.name, "%s completes the %s command", shell, s.name)
				for _, f := range s.flags {
					assert.Contains(t, script, f.name, "%s completes %s --%s", shell, s.name, f.name)
				}
			}
			check := map[string][]string{"bash": {"-n", path}, "zsh": {"-n", path}, "fish": {"--no-execute", path}}[shell]
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s is not installed: the script's syntax is not checked", shell)
			}
			out, err := exec.Command(shell, check...).CombinedOutput()
			require.NoError(t, err, "%s finds the script invalid: %s", shell, out)
		})
	}
}

func flagNamed(t *testing.T, s commandSpec, name string) flagSpec {
	t.Helper()
	for _, f := range s.flags {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("%s has no flag --%s", s.name, name)
	return flagSpec{}
}

// What bash offers at a few points of a command line, from the script itself.
func TestBashCompletes(t *testing.T) {
	_, path := completionScript(t, "bash")
	complete := func(line string) []string {
		t.Helper()
		words := strings.Split(line, " ")
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shellQuote(w))
		}
		script := "source " + shellQuote(path) + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_reaper\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	assert.Equal(t, []string{"status"}, complete("reaper sta"))
	assert.ElementsMatch(t, []string{"pause", "policies"}, complete("reaper p"))
	assert.Equal(t, []string{"--output"}, complete("reaper status --out"))
	assert.Equal(t, []string{"text", "json"}, complete("reaper wait --batch X --output "))
	assert.Equal(t, []string{"jsonl", "csv"}, complete("reaper report --format "))
	assert.Equal(t, []string{"failed"}, complete("reaper report --only fa"))
	assert.Empty(t, complete("reaper status --batch "), "an id: nothing to offer")
	assert.Contains(t, complete("reaper enqueue --"), "--manifest")
}

// What fish offers, asked through fish's own `complete -C`.
func TestFishCompletes(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish is not installed")
	}
	_, path := completionScript(t, "fish")
	complete := func(line string) string {
		t.Helper()
		out, err := exec.Command("fish", "--no-config", "-c", "source "+shellQuote(path)+"; complete -C "+shellQuote(line)).CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	assert.Contains(t, complete("reaper sta"), "status\t")
	assert.Contains(t, complete("reaper status --out"), "--output\t")
	values := strings.Split(strings.TrimSpace(complete("reaper status --output ")), "\n")
	assert.Len(t, values, 2)
	for i, v := range values {
		values[i], _, _ = strings.Cut(v, "\t")
	}
	assert.ElementsMatch(t, []string{"text", "json"}, values)
}

func TestCompletionNeedsAKnownShell(t *testing.T) {
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	assert.Equal(t, 1, run(context.Background(), e, []string{"completion", "tcsh"}))
	assert.Contains(t, errOut.String(), `no completion for "tcsh": bash, zsh or fish`)
	assert.Equal(t, 1, run(context.Background(), e, []string{"completion"}))
	assert.Empty(t, out.String())
}
