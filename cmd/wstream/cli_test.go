package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wstreamCLI runs the CLI in-process and returns its exit code, stdout and stderr.
func wstreamCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"wstream"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func noStackTrace(t *testing.T, stderr string) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(stderr, s) {
			t.Fatalf("stderr shows a Go panic or stack trace:\n%s", stderr)
		}
	}
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInputSaysWhatAndExitsNonZero covers the bad-input cases a user
// hits first: each ends with one short message naming the problem.
func TestBadInputSaysWhatAndExitsNonZero(t *testing.T) {
	conf := conformancePlugin(t)
	emptyModule := write(t, "empty.wasm", "\x00asm\x01\x00\x00\x00")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"not wasm", []string{"run", "--plugin", write(t, "x.wasm", "hello")}, "not a WebAssembly module"},
		{"missing plugin file", []string{"run", "--plugin", "/nonexistent/p.wasm"}, "plugin /nonexistent/p.wasm not found"},
		{"plugin missing exports", []string{"run", "--plugin", emptyModule}, "lacks a required wstream export"},
		{"malformed batches line", []string{"run", "--plugin", conf, "--pipeline", write(t, "p.yaml",
			"clock: manual\nsource: batches:"+write(t, "in.jsonl", "[1]\n[2,\n")+"\nstages: [{op: map, fn: identity}]\n"), "--sink", "jsonl:" + filepath.Join(t.TempDir(), "o")},
			"line 2: invalid JSON"},
		{"unknown op", []string{"run", "--plugin", conf, "--pipeline", write(t, "p.yaml", "stages: [{op: mapp, fn: identity}]\n")}, `unknown op "mapp"`},
		{"unknown fn", []string{"run", "--plugin", conf, "--pipeline", write(t, "p.yaml", "stages: [{op: map, fn: nope}]\n")}, `has no function "nope"`},
		{"unknown pipeline field", []string{"run", "--plugin", conf, "--pipeline", write(t, "p.yaml", "stages: [{op: map, fn: identity, windw: 2s}]\n")}, "unknown field windw in a stage (did you mean window?)"},
		{"bad batch flag", []string{"run", "--plugin", wordcountPlugin(t), "--batch", "fast"}, `--batch "fast" is not a duration`},
		{"unreachable socket", []string{"run", "--plugin", wordcountPlugin(t), "--source", "socket://127.0.0.1:1"}, "cannot connect to socket://127.0.0.1:1"},
		{"unknown source", []string{"run", "--plugin", wordcountPlugin(t), "--source", "ftp://x"}, `unknown source "ftp://x"`},
		{"no pipeline", []string{"run"}, "give --pipeline FILE or --plugin FILE.wasm"},
		{"unknown runtime", []string{"run", "--plugin", conf, "--runtime", "v8"}, `unknown runtime "v8"`},
		{"exactly-once to stdout", []string{"run", "--plugin", conf, "--pipeline", write(t, "p.yaml", "exactlyOnce: true\nstages: [{op: map, fn: identity}]\n")},
			"exactlyOnce: true needs a kafka:// sink"},
		{"checkpoint with partitioned state", []string{"run", "--plugin", conf, "--pipeline", write(t, "p.yaml",
			"source: kafka://127.0.0.1:1/in?group=g\ncheckpoint: ck\nstages: [{op: updateStateByKey, fn: sum-into-state}]\n")},
			"keyed state lives in Kafka (topic wstream-g-changelog)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := wstreamCLI(t, "", c.args...)
			if code == 0 {
				t.Fatalf("exit 0; want an error containing %q", c.want)
			}
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("stderr %q does not contain %q", stderr, c.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 3 {
				t.Errorf("error is %d lines long; want a short message:\n%s", n+1, stderr)
			}
			noStackTrace(t, stderr)
		})
	}
}

func TestInspectJSON(t *testing.T) {
	code, out, stderr := wstreamCLI(t, "", "inspect", conformancePlugin(t), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"name": "conformance"`, `"language": "go"`, `"abi": 1`, `"name": "count-expire-after-2-idle"`, `"kind": "update"`} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect --json lacks %s:\n%s", want, out)
		}
	}
}

func TestWordCountOnStdin(t *testing.T) {
	code, out, stderr := wstreamCLI(t, "to be or not to be\n", "run", "--plugin", wordcountPlugin(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Time: ", "(to,2)", "(be,2)", "(or,1)", "(not,1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

// TestSocketQuickStart is the seed's quick start against a real listening
// socket: lines typed into the server are counted per batch, and SIGINT
// ends the run after flushing the batch in flight.
func TestSocketQuickStart(t *testing.T) {
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(bin, "run", "--plugin", wordcountPlugin(t), "--source", "socket://"+ln.Addr().String(), "--batch", "100ms")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("hello world hello\n"))

	// Read until the counts appear (a later batch may hold them).
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !(seen["(hello,2)"] && seen["(world,1)"]) {
		select {
		case l := <-lines:
			seen[l] = true
		case <-deadline:
			t.Fatalf("no counts within 20s; stderr: %s", stderr.String())
		}
	}
	// SIGINT: the run ends by itself with exit 0.
	conn.Write([]byte("last line\n"))
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			seen[l] = true
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGINT: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20s after SIGINT")
	}
	noStackTrace(t, stderr.String())
}

// TestDeadLetter: records a stage fails on go to the dead-letter sink with
// the error, the stage and the batch time; the rest of the batch goes on.
func TestDeadLetter(t *testing.T) {
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
	p := write(t, "p.yaml", `plugin: `+conformancePlugin(t)+`
clock: manual
source: batches:`+write(t, "in.jsonl", "[1, \"two\", 3]\n[4]\n")+`
stages: [{op: map, fn: add-4, onError: deadletter}]
sink: jsonl:`+out+`
deadLetter: jsonl:`+dead+`
`)
	if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", p); code != 0 {
		t.Fatal(stderr)
	}
	got, _ := os.ReadFile(out)
	if want := "{\"time\":1000,\"records\":[5,7]}\n{\"time\":2000,\"records\":[8]}\n"; string(got) != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	d, _ := os.ReadFile(dead)
	for _, want := range []string{`"time":1000`, `"stage":"stage 1 (map add-4, line 4)"`, `"record":"two"`, `"error":"`} {
		if !strings.Contains(string(d), want) {
			t.Errorf("dead letters %s lack %s", d, want)
		}
	}
}

// TestRunningWordCount runs plugins/wordcount/running.yaml against a real
// socket, stops it with SIGINT, and restarts it from its checkpoint: the
// totals go on from where they were.
func TestRunningWordCount(t *testing.T) {
	bin := buildBinary(t)
	ensurePlugins(t)
	ckpt := filepath.Join(t.TempDir(), "ckpt")
	for round, want := range []string{"(to,2)", "(to,3)"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--pipeline", "plugins/wordcount/running.yaml", "--batch", "100ms",
			"--source", "socket://"+ln.Addr().String(), "--checkpoint", ckpt)
		cmd.Dir = repoRoot()
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		conn, err := ln.Accept()
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: wstream did not connect: %v; stderr: %s", round, err, stderr.String())
		}
		if round == 0 {
			conn.Write([]byte("to be or not to be\n"))
		} else {
			conn.Write([]byte("to see\n"))
		}
		found := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			ok := false
			for sc.Scan() {
				if sc.Text() == want && !ok {
					ok = true
					found <- true
				}
			}
			if !ok {
				found <- false
			}
		}()
		select {
		case ok := <-found:
			if !ok {
				t.Fatalf("round %d: no %s; stderr: %s", round, want, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: no %s within 30s; stderr: %s", round, want, stderr.String())
		}
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("round %d: after SIGINT: %v; stderr: %s", round, err, stderr.String())
		}
		conn.Close()
		ln.Close()
	}
}

// TestDemoNeedsOnlyGo: the README's first command works with nothing on
// PATH but Go: no make, clang, npm or rustc.
func TestDemoNeedsOnlyGo(t *testing.T) {
	bin := buildBinary(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	goBin, _ = filepath.EvalSymlinks(goBin)
	cmd := exec.Command(bin, "demo")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(goBin))
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "Time: 1000 ms") || !strings.Contains(string(out), "(stream,1)") {
		t.Fatalf("demo with Go alone on PATH: %v\n%s", err, out)
	}
}

// TestPipelineWithoutStagesRunsThePluginsStages: a pipeline file that
// names a plugin, a source and a sink but no stages runs the plugin's
// default stages and says so, instead of copying its input.
func TestPipelineWithoutStagesRunsThePluginsStages(t *testing.T) {
	plugin := wordcountPlugin(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	p := write(t, "p.yaml", "clock: manual\nsink: jsonl:"+out+"\n")
	code, _, stderr := wstreamCLI(t, "to be or not to be\n", "run", "--pipeline", p, "--plugin", plugin)
	got, _ := os.ReadFile(out)
	if code != 0 || !strings.Contains(stderr, "has no stages: running plugin "+plugin+"'s default stages (flatMap split-words, map pair-with-one, reduceByKey sum)") ||
		string(got) != `{"time":1000,"records":[["to",2],["be",2],["or",1],["not",1]]}`+"\n" {
		t.Fatalf("exit %d, stderr %q, output %q", code, stderr, got)
	}
}
