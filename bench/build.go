package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// artifacts are the guests and programs the suite runs, built from source.
type artifacts struct {
	goGuest   string            // bench/guest, Go SDK
	cGuest    string            // bench/guest/c/upper.c, C SDK ("" if unavailable)
	wordcount map[string]string // language -> plugins/wordcount build
	benthos   string            // the Benthos runner
	bGuest    string            // its guest
	missing   map[string]string // what could not be had, and why
}

// prepare builds what the suite needs into dir. A guest or peer that cannot
// be built is reported (missing) instead of failing the suite; only the Go
// guest, which needs nothing but Go, is required.
func prepare(root, dir string, withBenthos bool, log func(string, ...any)) (*artifacts, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	a := &artifacts{wordcount: map[string]string{}, missing: map[string]string{}}
	gobin := goBinary()
	a.goGuest = filepath.Join(dir, "bench-go.wasm")
	if err := run(root, []string{"GOOS=wasip1", "GOARCH=wasm"}, gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", a.goGuest, "./bench/guest"); err != nil {
		return nil, fmt.Errorf("building the Go bench guest: %w", err)
	}
	a.cGuest = filepath.Join(dir, "bench-c.wasm")
	if err := run(root, nil, "clang", "--target=wasm32-wasi", "-mexec-model=reactor", "-std=c11", "-O3", "-flto", "-Iguest-sdk/c",
		"-nodefaultlibs", "-Wl,--strip-all", "-Wl,-z,stack-size=1048576", "-o", a.cGuest,
		"bench/guest/c/upper.c", "guest-sdk/c/wstream.c", "-lc"); err != nil {
		a.missing["C guest (upper)"] = firstLine(err)
		a.cGuest = ""
	}

	// Word count: the plugins `make plugins` builds, one per language.
	for lang, rel := range map[string]string{
		"go":             "plugins/wordcount/wordcount.wasm",
		"c":              "plugins/wordcount/c/wordcount.wasm",
		"rust":           "plugins/wordcount/rust/wordcount.wasm",
		"assemblyscript": "plugins/wordcount/assemblyscript/wordcount.wasm",
		"python":         "plugins/wordcount/python/wordcount.wasm",
	} {
		p := filepath.Join(root, rel)
		if _, err := os.Stat(p); err == nil {
			a.wordcount[lang] = p
			continue
		}
		if lang == "go" { // always buildable
			p = filepath.Join(dir, "wordcount-go.wasm")
			if err := run(root, []string{"GOOS=wasip1", "GOARCH=wasm"}, gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", p, "./plugins/wordcount"); err != nil {
				return nil, fmt.Errorf("building plugins/wordcount: %w", err)
			}
			a.wordcount[lang] = p
			continue
		}
		if _, err := os.Stat(filepath.Dir(p)); err == nil {
			a.missing["wordcount "+lang] = rel + " is not built (run `make plugins`)"
		} else {
			a.missing["wordcount "+lang] = "no " + filepath.Dir(rel) + " in this checkout"
		}
	}

	if !withBenthos {
		a.missing["benthos"] = "skipped (--no-benthos)"
		return a, nil
	}
	a.bGuest = filepath.Join(dir, "benthos-upper.wasm")
	if err := run(root, nil, "clang", "--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry", "-Wl,--export=process",
		"-Wl,--export=malloc", "-Wl,--export=free", "-o", a.bGuest, "bench/benthos/guest/upper.c"); err != nil {
		a.missing["benthos"] = "its C guest did not build: " + firstLine(err)
		return a, nil
	}
	a.benthos = filepath.Join(dir, "benthos-bench")
	log("building the Benthos peer (bench/benthos, its own module; the first build downloads and compiles Benthos, a few minutes)")
	if err := run(filepath.Join(root, "bench", "benthos"), nil, gobin, "build", "-trimpath", "-o", a.benthos, "."); err != nil {
		a.missing["benthos"] = "bench/benthos did not build: " + firstLine(err)
		a.benthos = ""
	}
	return a, nil
}

// goBinary is the go command that built this program, else the one on PATH.
func goBinary() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
