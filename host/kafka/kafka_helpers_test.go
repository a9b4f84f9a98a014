package kafka

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host/internal/hosttest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka tests talk to a real Kafka-protocol peer: cmd/kfake run as its own
// process on loopback, or the brokers WSTREAM_KAFKA_BROKERS names (a real
// Kafka or Redpanda), with topics unique to each test.

func repoRoot(t *testing.T) string { return hosttest.ModuleRoot(t) }

// goBuild builds a package of this module into dir and returns the binary.
func goBuild(t *testing.T, dir, pkg string, env ...string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// kafkaBrokers returns brokers for the test: WSTREAM_KAFKA_BROKERS, or a
// kfake process started for this test and killed at its end.
func kafkaBrokers(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("WSTREAM_KAFKA_BROKERS"); b != "" {
		return b
	}
	bin := goBuild(t, t.TempDir(), "cmd/kfake")
	cmd := exec.Command(bin, "-port", "0", "-partitions", "6")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr hosttest.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-lines:
		addr, ok := strings.CutPrefix(l, "kfake listening on ")
		if !ok {
			t.Fatalf("kfake said %q", l)
		}
		return addr
	case <-time.After(20 * time.Second):
		t.Fatalf("kfake did not start: %s", stderr.String())
	}
	return ""
}

func kafkaClient(t *testing.T, brokers string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic makes a topic with a name unique to the test.
func createTopic(t *testing.T, cl *kgo.Client, prefix string, partitions int32) string {
	t.Helper()
	name := prefix + "-" + randomID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// produceValues writes values round-robin over the topic's partitions.
func produceValues(t *testing.T, brokers, topic string, values []string) {
	t.Helper()
	cl := kafkaClient(t, brokers, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.DefaultProduceTopic(topic))
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: []byte(v)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readCommitted reads a topic with read_committed isolation up to its end
// offsets (transaction markers included), so what it returns is exactly
// what committed transactions (and non-transactional producers) wrote.
func readCommitted(t *testing.T, brokers, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(kafkaClient(t, brokers))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl := kafkaClient(t, brokers, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	got := map[int32]int64{}
	for !reached(got, want) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: got to %v of %v: %v", topic, got, want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

func reached(got, want map[int32]int64) bool {
	for p, w := range want {
		if got[p] < w {
			return false
		}
	}
	return true
}

// wordcountWasm returns the wordcount plugin, building it when missing.
func wordcountWasm(t *testing.T, dir string) string { return pluginWasm(t, dir, "wordcount") }

// pluginWasm returns plugins/NAME/NAME.wasm, building it when missing.
func pluginWasm(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "plugins", name, name+".wasm")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./plugins/"+name)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s.wasm: %v\n%s", name, err, b)
	}
	return out
}

// wordLines makes n lines of words from a small vocabulary, and the count
// of each word over all of them.
func wordLines(n int) ([]string, map[string]int64) {
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon")
	lines := make([]string, n)
	want := map[string]int64{}
	for i := range lines {
		var b strings.Builder
		for j := 0; j < 5; j++ {
			w := vocab[(i*7+j*13+i/3)%len(vocab)]
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
			want[w]++
		}
		lines[i] = b.String()
	}
	return lines, want
}

// wordTotals sums the counts of word-count output records (key = word,
// value = the count as text).
func wordTotals(t *testing.T, recs []*kgo.Record) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for _, r := range recs {
		var n int64
		if _, err := fmt.Sscan(string(r.Value), &n); err != nil {
			t.Fatalf("output record %q=%q: %v", r.Key, r.Value, err)
		}
		got[string(r.Key)] += n
	}
	return got
}

// proc is a wstream process of a test.
type proc struct {
	cmd    *exec.Cmd
	stderr hosttest.SyncBuffer
	done   chan struct{} // closed when it exited
	err    error         // its exit, once done
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", strings.Join(args, " "), tail(p.stderr.String(), 3000))
		}
	})
	return p
}

// kill ends the process with SIGKILL and waits for it.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// wait waits for the process to exit and fails the test if it did not
// exit 0 in time.
func (p *proc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("wstream exited with %v:\n%s", p.err, tail(p.stderr.String(), 3000))
		}
	case <-time.After(d):
		t.Fatalf("wstream did not finish within %v:\n%s", d, tail(p.stderr.String(), 3000))
	}
}

// fenced waits up to d for the process to exit and reports whether it
// failed because its transactional producer was fenced.
func (p *proc) fenced(d time.Duration) bool {
	select {
	case <-p.done:
		return p.err != nil && strings.Contains(p.stderr.String(), "PRODUCER_FENCED")
	case <-time.After(d):
		return false
	}
}

// committedTotal is the sum of the group's committed offsets on topic.
func committedTotal(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return 0
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n
}

func writePipeline(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(p, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameCounts reports the first difference between two word counts.
func sameCounts(got, want map[string]int64) string {
	var b bytes.Buffer
	for w, n := range want {
		if got[w] != n {
			fmt.Fprintf(&b, "%s: got %d, want %d; ", w, got[w], n)
		}
	}
	for w, n := range got {
		if _, ok := want[w]; !ok {
			fmt.Fprintf(&b, "%s: got %d, want none; ", w, n)
		}
	}
	return b.String()
}
