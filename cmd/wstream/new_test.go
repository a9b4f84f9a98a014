package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// copiedBinary is the wstream binary copied into a folder of its own, far
// from this checkout, as a newcomer who downloaded it would have it.
func copiedBinary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(buildBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bin", "wstream")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// An installation keeps the Python runtime module beside the binary,
	// where wstream build finds it.
	ensurePlugins(t)
	if rt, err := os.ReadFile(filepath.Join(repoRoot(), "guest-sdk/python/_build/python-runtime.wasm")); err == nil {
		if err := os.WriteFile(filepath.Join(filepath.Dir(bin), "python-runtime.wasm"), rt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// envWithPath is this process's environment with PATH set to the given
// folders, then this PATH's folders that hold no wstream.
func envWithPath(first ...string) []string {
	dirs := first
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "wstream")); err != nil {
			dirs = append(dirs, d)
		}
	}
	env := []string{"PATH=" + strings.Join(dirs, string(os.PathListSeparator))}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

// runScript runs script with sh -e in dir and returns its stdout; it fails the
// test with both outputs when the script fails.
func runScript(t *testing.T, dir string, env []string, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s\nfailed: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// commandBlock returns the commands of the block indented by four spaces
// that starts text, one a line, as a shell script.
func commandBlock(text string) string {
	var cmds []string
	for _, line := range strings.Split(text, "\n") {
		cmd, ok := strings.CutPrefix(line, "    ")
		if !ok {
			break
		}
		cmds = append(cmds, cmd)
	}
	return strings.Join(cmds, "\n")
}

// printedSteps returns the commands that `wstream new` printed after "Next:".
func printedSteps(t *testing.T, out string) string {
	t.Helper()
	_, after, ok := strings.Cut(out, "Next:\n\n")
	if !ok {
		t.Fatalf("wstream new printed no steps after \"Next:\":\n%s", out)
	}
	return commandBlock(after)
}

// noMachinePaths fails when a file under dir (node_modules aside) holds
// one of the paths: the folder must build on another machine as it is.
func noMachinePaths(t *testing.T, dir string, paths ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return err
		}
		b, err := os.ReadFile(p)
		for _, s := range paths {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the path %s", p, s)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNewFollowedLiterally is a newcomer's first plugin in every language:
// a copied binary, not on PATH, run outside any checkout; then the printed
// commands, typed as printed. Each must pass, and the run must print the
// word counts that testdata/expected.txt holds.
func TestNewFollowedLiterally(t *testing.T) {
	bin := copiedBinary(t)
	env := envWithPath()
	langs := make([]string, 0, len(scaffolds))
	for lang := range scaffolds {
		langs = append(langs, lang)
	}
	slices.Sort(langs)
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			work := t.TempDir()
			name := "my-" + lang
			out := runScript(t, work, env, shellQuote(bin)+" new --lang "+lang+" "+name)
			steps := printedSteps(t, out)
			if !strings.HasPrefix(steps, "cd "+name+"\n") || !strings.Contains(steps, "make test WSTREAM="+bin) ||
				!strings.Contains(steps, "\n"+bin+" run --plugin "+name+".wasm") {
				t.Fatalf("with wstream not on PATH, the steps must name the binary:\n%s", out)
			}
			pdir := filepath.Join(work, name)
			noMachinePaths(t, pdir, repoRoot(), filepath.Dir(bin), work)
			if lang == "go" {
				if b, err := exec.Command("gofmt", "-l", pdir).CombinedOutput(); err != nil || len(b) > 0 {
					t.Errorf("gofmt -l: %v\n%s", err, b)
				}
			}

			got := runScript(t, work, env, steps)

			want, err := os.ReadFile(filepath.Join(pdir, "testdata", "expected.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(want), "(to,2)\n(be,2)\n") || !strings.HasSuffix(got, string(want)) {
				t.Errorf("the run printed\n%s\nwant it to end with the counts of testdata/expected.txt:\n%s", got, want)
			}
			if !strings.Contains(got, name+".wasm: 0 checks failed") {
				t.Errorf("make test did not run wstream check:\n%s", got)
			}
			noMachinePaths(t, pdir, repoRoot())
		})
	}
}

// The steps call wstream by name only when PATH finds this very binary; a
// different wstream earlier on PATH might be another version.
func TestNewNamesWstreamAsPATHFindsIt(t *testing.T) {
	bin := copiedBinary(t)
	work := t.TempDir()
	steps := printedSteps(t, runScript(t, work, envWithPath(filepath.Dir(bin)), "wstream new --lang c onpath"))
	if want := "cd onpath\nmake"; !strings.HasPrefix(steps, want) || strings.Contains(steps, "WSTREAM=") ||
		!strings.Contains(steps, "\nwstream run --plugin onpath.wasm --clock manual < testdata/input.txt") {
		t.Errorf("with wstream on PATH, want the plain commands, got:\n%s", steps)
	}

	other := filepath.Join(t.TempDir(), "wstream")
	if err := os.WriteFile(other, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	steps = printedSteps(t, runScript(t, work, envWithPath(filepath.Dir(other)), shellQuote(bin)+" new --lang c --dir sub other"))
	if !strings.HasPrefix(steps, "cd sub/other\n") || !strings.Contains(steps, "make test WSTREAM="+bin) {
		t.Errorf("with another wstream on PATH, want this binary's path, got:\n%s", steps)
	}
}

// Bad names and languages are usage errors that create nothing; an
// existing folder (or file) of that name is refused and left as it was.
func TestNewRefusesBadNamesAndExistingFolders(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"Bad Name"}, `"Bad Name"`},
		{[]string{"9lives"}, `"9lives"`},
		{[]string{"../escape"}, `"../escape"`},
		{[]string{"wstream"}, "SDK's own name"},
		{[]string{"--lang", "go", "strings"}, "standard library"},
		{[]string{"--lang", "cobol", "x"}, `--lang "cobol": use one of assemblyscript, c, go, python, rust`},
		{nil, "new takes the plugin's name"},
		{[]string{"a", "b"}, "new takes the plugin's name"},
	} {
		code, _, stderr := wstreamCLI(t, "", append([]string{"new", "--dir", dir}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.says) {
			t.Errorf("new %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.says)
		}
		noStackTrace(t, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused starts left %v in %s", entries, dir)
	}

	taken := filepath.Join(dir, "taken")
	if err := os.Mkdir(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(taken, "main.go")
	if err := os.WriteFile(keep, []byte("package main // mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(keep, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"taken", "file"} {
		code, _, stderr := wstreamCLI(t, "", "new", "--dir", dir, name)
		if code != 2 || !strings.Contains(stderr, filepath.Join(dir, name)+" already exists") {
			t.Errorf("new %s over an existing one: exit %d, %q", name, code, stderr)
		}
	}
	entries, _ := os.ReadDir(taken)
	st, err := os.Stat(keep)
	b, _ := os.ReadFile(keep)
	if len(entries) != 1 || err != nil || !st.ModTime().Equal(old) || string(b) != "package main // mine\n" {
		t.Errorf("the existing folder changed: %v, %v, %q", entries, st, b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a refused start left files in %s: %v", dir, entries)
	}
}

// A Go plugin is a module named after it; a module named like a standard
// library package shadows it and does not build, so those names are
// refused. The list must cover this Go's standard library.
func TestNewKnowsTheGoStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		top, _, _ := strings.Cut(p, "/")
		if !slices.Contains(goStdNames, top) {
			t.Errorf("the standard library has %s; add %q to goStdNames", p, top)
		}
	}
}

// TestReadmeGoExample runs the README's "Writing a plugin in Go" as a
// reader would: its commands as they are, with wstream on PATH, and checks
// that the Go code it shows is what wstream new writes.
func TestReadmeGoExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Writing a plugin in Go\n")
	if !ok {
		t.Fatal(`README.md has no section "## Writing a plugin in Go"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, after, ok := strings.Cut(section, "runs these commands as they are. -->\n")
	if !ok {
		t.Fatal("the README's Go section lost the marker before its commands")
	}
	commands := commandBlock(after)
	_, after, ok = strings.Cut(section, "writes exactly this as wordcount.go. -->\n```go\n")
	code, _, closed := strings.Cut(after, "```\n")
	if !ok || !closed || strings.Count(commands, "\n") < 2 {
		t.Fatalf("the README's Go section has no commands or Go block where the markers say:\n%s", section)
	}

	bin := copiedBinary(t)
	work := t.TempDir()
	got := runScript(t, work, envWithPath(filepath.Dir(bin)), commands)

	written, err := os.ReadFile(filepath.Join(work, "wordcount", "wordcount.go"))
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != code {
		t.Errorf("the README's Go example differs from what wstream new --lang go wordcount writes; put this in README.md:\n%s", written)
	}
	for _, want := range []string{"Time: 1000 ms", "(to,2)\n(be,2)\n(or,1)\n(not,1)\n", "wordcount.wasm: 0 checks failed"} {
		if !strings.Contains(got, want) {
			t.Errorf("the README's commands printed\n%s\nwant %q in it", got, want)
		}
	}
}
