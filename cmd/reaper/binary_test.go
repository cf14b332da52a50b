package main

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testOnly reports whether a package is test code that must never be linked into the binary: the
// standard library's testing packages, httptest, testify, and reaper's own test helpers. The provider
// fakes (msstest, smhtest, vodtest) and their stack are not test code: the demo and `reaper fakes`
// serve them.
func testOnly(pkg string) bool {
	const reaper = "github.com/reaper-media/reaper/"
	return pkg == "testing" || strings.HasPrefix(pkg, "testing/") ||
		pkg == "net/http/httptest" ||
		pkg == "github.com/stretchr/testify" || strings.HasPrefix(pkg, "github.com/stretchr/testify/") ||
		slices.Contains([]string{
			reaper + "jobs/jobstest",
			reaper + "providers/providertest",
			reaper + "internal/testclock",
		}, pkg)
}

// TestBinaryCarriesNoTestCode lists what `go build ./cmd/reaper` links and fails, naming the import
// chain, when test code reaches it.
func TestBinaryCarriesNoTestCode(t *testing.T) {
	// Each line: a package, then the packages it imports.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".")
	cmd.Env = append(os.Environ(), "GOPROXY=off") // everything is in the module cache: never the network
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())

	imports := map[string][]string{}
	var root string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		imports[f[0]] = f[1:]
		root = f[0] // -deps lists the named package last
	}
	require.Equal(t, "github.com/reaper-media/reaper/cmd/reaper", root)
	require.Contains(t, imports, "github.com/reaper-media/reaper/internal/fakestack",
		"the demo links the fakes' stack; if it no longer does, this test checks less than it should")

	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		if testOnly(pkg) {
			t.Errorf("the binary links test code %s: %s", pkg, strings.Join(importChain(imports, root, pkg), " -> "))
		}
	}
}

// importChain is a shortest import path from root to pkg (breadth first).
func importChain(imports map[string][]string, root, pkg string) []string {
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == pkg {
			var chain []string
			for ; p != ""; p = from[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := from[q]; !seen {
				from[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{pkg}
}
