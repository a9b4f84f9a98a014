package job

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// The house rules: which of the repository's packages may import which.
// A rule names a package pattern ("host/..." is host and everything below
// it) and the patterns it may import; the first rule that matches a
// package decides. The standard library and third-party modules are not
// checked here (go.mod pins those).
var layers = []struct {
	pkg   string
	allow []string
}{
	{"abi", nil},
	{"host/pipeline", []string{"abi"}},
	{"host/format", []string{"abi"}},
	{"host/logs", nil},
	{"host", []string{"abi", "host/pipeline", "host/logs"}},
	{"host/internal/...", []string{"abi", "host", "host/pipeline", "host/logs"}},
	{"host/...", []string{"abi", "host", "host/pipeline", "host/format", "host/logs"}},
	{"runtime/wasmtest", []string{"abi", "runtime", "runtime/internal/..."}},
	{"runtime", []string{"abi"}},
	{"runtime/...", []string{"abi", "runtime", "runtime/internal/..."}},
	{"operators/job", []string{"abi", "host/...", "operators", "operators/job/monitor", "runtime"}},
	// The monitor reads the scheduler's, the graph's and the plugins'
	// counters; the job wires it in, so it may not import the job.
	{"operators/job/monitor", []string{"abi", "host", "host/pipeline", "operators", "runtime"}},
	{"operators/...", []string{"abi", "host", "host/pipeline", "host/logs", "runtime"}},
	{"operators", []string{"abi", "host", "host/pipeline", "host/logs", "runtime"}},
	{"guest-sdk/sdktest", []string{"abi", "runtime/...", "guest-sdk/..."}}, // the SDKs' test harness
	// An SDK's own command-line tools may use that SDK's build packages.
	{"guest-sdk/python/cmd/...", []string{"abi", "guest-sdk/python/..."}},
	{"guest-sdk/...", []string{"abi"}},
	{"plugins/...", []string{"abi", "guest-sdk/..."}},
	{"conformance/...", []string{"abi", "runtime", "host/...", "operators/..."}},
	{"conformance", []string{"abi", "runtime", "host/...", "operators/..."}},
	{"bench/...", []string{"abi", "host/...", "operators/...", "runtime/...", "guest-sdk/...", "bench/..."}},
	{"bench", []string{"abi", "host/...", "operators/...", "runtime/...", "guest-sdk/...", "bench/..."}},
	{"cmd/...", []string{"..."}},
	// The use-case applications, like the CLI, may use anything.
	{"examples/...", []string{"..."}},
}

const module = "github.com/wstream/wstream/"

// matches reports whether pkg (relative to the module) matches pattern.
func matches(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// violations lists the imports that break the rules, as "from -> to".
func violations(imports map[string][]string) []string {
	var bad []string
	for from, tos := range imports {
		rule := -1
		for i, l := range layers {
			if matches(l.pkg, from) {
				rule = i
				break
			}
		}
		for _, to := range tos {
			rel, ours := strings.CutPrefix(to, module)
			if !ours || rel == from {
				continue
			}
			ok := false
			if rule >= 0 {
				for _, a := range layers[rule].allow {
					ok = ok || matches(a, rel)
				}
			}
			if !ok {
				bad = append(bad, from+" -> "+rel)
			}
		}
	}
	return bad
}

// TestArchitecture reads every package's imports with go list and holds
// them to the rules, so an arrow pointing the wrong way fails here rather
// than in a review.
func TestArchitecture(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		rel, ours := strings.CutPrefix(f[0], module)
		if !ours {
			continue
		}
		imports[rel] = f[1:]
	}
	if len(imports) < 10 {
		t.Fatalf("go list found %d packages; is the module root two folders up?", len(imports))
	}
	for _, v := range violations(imports) {
		t.Errorf("import against the layout: %s", v)
	}
}

// The checker itself catches a wrong arrow of each kind.
func TestArchitectureCatchesWrongImports(t *testing.T) {
	for _, c := range []struct{ from, to string }{
		{"abi", "host"},
		{"host/pipeline", "host"},
		{"host", "runtime"},
		{"host", "operators"},
		{"host", "host/kafka"},
		{"host/kafka", "operators"},
		{"runtime", "host"},
		{"operators", "runtime/wazero"},
		{"operators/job", "runtime/wasmtime"},
		{"guest-sdk/go", "host"},
		{"bench", "cmd/wstream"},
		{"operators/job/monitor", "operators/job"},
		{"operators/job/monitor", "host/kafka"},
		{"host", "operators/job/monitor"},
	} {
		got := violations(map[string][]string{c.from: {module + c.to, "fmt", path.Join(module, c.from)}})
		if len(got) != 1 || got[0] != c.from+" -> "+c.to {
			t.Errorf("%s importing %s: violations %v, want exactly that one", c.from, c.to, got)
		}
	}
	if got := violations(map[string][]string{"operators/job": {module + "host/kafka", module + "runtime"}}); len(got) != 0 {
		t.Errorf("allowed imports reported: %v", got)
	}
}
