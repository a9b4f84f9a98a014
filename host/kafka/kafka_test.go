package kafka

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host"

	"github.com/wstream/wstream/host/internal/hosttest"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wstream/wstream/abi"
)

func TestKafkaURI(t *testing.T) {
	k, err := parseKafkaURI("kafka://a:1,b:2/t?group=g&format=json&record=full&until=end&deadLetter=dlq&sessionTimeout=6s")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.brokers, ",") != "a:1,b:2" || k.topic != "t" || k.group != "g" || k.format != "json" || !k.full || !k.untilEnd || k.deadLetter != "dlq" || k.session != 6*time.Second {
		t.Errorf("parsed %+v", k)
	}
	for uri, want := range map[string]string{
		"kafka:///t":                    "want kafka://BROKER[,BROKER]/TOPIC",
		"kafka://a:1/t?format=xml":      `format="xml": want text or json`,
		"kafka://a:1/t?group=a&group=b": "parameter group is given 2 times",
		"kafka://a:1/t?maxPoll=0":       "maxPoll=\"0\": want a positive number",
	} {
		if _, err := parseKafkaURI(uri); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", uri, err, want)
		}
	}
	if _, err := host.OpenSink("kafka://a:1/t?group=g"); err == nil || !strings.Contains(err.Error(), "group is a source parameter") {
		t.Errorf("sink with a group: %v", err)
	}
}

func TestKafkaRecordMapping(t *testing.T) {
	r := &kgo.Record{Key: []byte("k"), Value: []byte(`{"a":[1,2]}`), Timestamp: time.UnixMilli(1234), Topic: "t", Partition: 3, Offset: 42,
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}}}
	for uri, want := range map[string]string{
		"kafka://a/t":                         `"{\"a\":[1,2]}"`,
		"kafka://a/t?format=json":             `{"a":[1,2]}`,
		"kafka://a/t?format=json&record=full": `{"key":"k","value":{"a":[1,2]},"timestamp":1234,"topic":"t","partition":3,"offset":42,"headers":{"h":"2"}}`,
		"kafka://a/t?format=json&record=pair": `["k",{"a":[1,2]}]`,
	} {
		k, _ := parseKafkaURI(uri)
		v, err := k.recordValue(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if got := hosttest.Texts(t, []abi.Raw{v})[0]; got != want {
			t.Errorf("%s: %s, want %s", uri, got, want)
		}
	}
	k, _ := parseKafkaURI("kafka://a/t?format=json")
	if _, err := k.recordValue(nil, &kgo.Record{Value: []byte("not json")}); err == nil {
		t.Error("bad JSON decoded")
	}

	pair := abi.AppendPair(nil, hosttest.Str("word"), abi.AppendInt(nil, 3))
	kr, err := sinkRecord("out", pair)
	if err != nil || string(kr.Key) != "word" || string(kr.Value) != "3" {
		t.Errorf("pair: %q=%q %v", kr.Key, kr.Value, err)
	}
	kr, _ = sinkRecord("out", hosttest.Str("line"))
	if kr.Key != nil || string(kr.Value) != "line" {
		t.Errorf("string: %q=%q", kr.Key, kr.Value)
	}
	full, _ := abi.FromJSON(nil, []byte(`{"key":"k","value":{"a":1},"timestamp":1234,"headers":{"h":"v","n":2},"topic":"ignored"}`))
	if kr, err = fullSinkRecord("out", full); err != nil || string(kr.Key) != "k" || string(kr.Value) != `{"a":1}` || kr.Timestamp.UnixMilli() != 1234 ||
		len(kr.Headers) != 2 || kr.Headers[0].Key != "h" || string(kr.Headers[0].Value) != "v" || string(kr.Headers[1].Value) != "2" {
		t.Errorf("full: %+v %v", kr, err)
	}
	if _, err = fullSinkRecord("out", hosttest.Str("x")); err == nil || !strings.Contains(err.Error(), "record=full wants a map") {
		t.Errorf("full, not a map: %v", err)
	}
	m, _ := abi.FromJSON(nil, []byte(`{"x":1}`))
	if kr, _ = sinkRecord("out", m); string(kr.Value) != `{"x":1}` {
		t.Errorf("map: %q", kr.Value)
	}
}

func TestOpenKafkaErrors(t *testing.T) {
	if _, err := host.OpenSource("kafka://b:9092/t?grup=g"); err == nil || err.Error() != `source kafka://b:9092/t?grup=g: unknown parameter "grup" (known: connectTimeout, deadLetter, exactlyOnce, format, group, maxPoll, record, sessionTimeout, start, stateful, transactionTimeout, transactionalId, until)` {
		t.Errorf("source: %v", err)
	}
	if _, err := host.OpenSink("kafka://b:9092/"); err == nil || err.Error() != "sink kafka://b:9092/: want kafka://BROKER[,BROKER]/TOPIC, for example kafka://127.0.0.1:9092/lines?group=wordcount" {
		t.Errorf("sink: %v", err)
	}
}

// The pipeline's exactlyOnce: true reaches a kafka sink, and a stateful
// pipeline reaches a group source (which then warns when it shares its
// partitions), through the connector's Env.
func TestKafkaEnvPassesSettings(t *testing.T) {
	sink, err := openKafkaSink("kafka://a/out", host.Env{ExactlyOnce: true})
	if err != nil || !sink.k.exactlyOnce {
		t.Errorf("sink: %v, exactlyOnce %v", err, sink != nil && sink.k.exactlyOnce)
	}
	src, err := openKafkaSource("kafka://a/in?group=g", host.Env{Stateful: true})
	if err != nil || !src.k.stateful {
		t.Errorf("source: %v, stateful %v", err, src != nil && src.k.stateful)
	}
	if src, _ = openKafkaSource("kafka://a/in", host.Env{Stateful: true}); src.k.stateful {
		t.Errorf("a source without a group owns every partition: no warning wanted")
	}
}

// runKafka runs source → identity → sink until the source ends.
func runKafka(t *testing.T, src, sink string, log *hosttest.SyncBuffer) error {
	t.Helper()
	s, err := host.OpenSource(src, host.WithLog(hosttest.Logger(log)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := host.OpenSink(sink, host.WithLog(hosttest.Logger(log)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return host.Run(ctx, host.RunConfig{Sources: map[string]host.Source{"input": s}, Sink: k, Processor: hosttest.Pass{}, Interval: 20 * time.Millisecond, Log: hosttest.Logger(log)})
}

func sortedValues(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	sort.Strings(out)
	return out
}

// At-least-once: every record arrives, and the group's offsets are
// committed up to the end once the run is over.
func TestKafkaSourceSinkGroup(t *testing.T) {
	brokers := kafkaBrokers(t)
	admin := kafkaClient(t, brokers)
	in, out := createTopic(t, admin, "in", 6), createTopic(t, admin, "out", 3)
	var values []string
	for i := 0; i < 600; i++ {
		values = append(values, fmt.Sprintf("line %03d", i))
	}
	produceValues(t, brokers, in, values)
	var log hosttest.SyncBuffer
	if err := runKafka(t, "kafka://"+brokers+"/"+in+"?group=g1&until=end&maxPoll=50", "kafka://"+brokers+"/"+out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	got := sortedValues(readCommitted(t, brokers, out))
	if strings.Join(got, "|") != strings.Join(values, "|") {
		t.Errorf("got %d records, want %d:\n%v", len(got), len(values), got)
	}
	if n := committedTotal(t, admin, "g1", in); n != 600 {
		t.Errorf("group committed %d offsets, want 600", n)
	}
	// A second run of the same group has nothing left to read.
	if err := runKafka(t, "kafka://"+brokers+"/"+in+"?group=g1&until=end", "kafka://"+brokers+"/"+out, &log); err != nil {
		t.Fatal(err)
	}
	if n := len(readCommitted(t, brokers, out)); n != 600 {
		t.Errorf("after a second run: %d records, want 600", n)
	}
}

// Without a group, the checkpointed position is where a restart resumes.
func TestKafkaResumeFromCheckpoint(t *testing.T) {
	brokers := kafkaBrokers(t)
	admin := kafkaClient(t, brokers)
	in := createTopic(t, admin, "in", 2)
	produceValues(t, brokers, in, []string{"a", "b", "c", "d"})
	src, err := host.OpenSource("kafka://" + brokers + "/" + in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := hosttest.Ctx(t)
	if err := src.Open(ctx, []byte(`{"topic":"`+in+`","offsets":{"0":1,"1":2}}`)); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	u, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Round-robin put a, c in one partition and b, d in the other; only the
	// second record of partition 0 is left.
	if got := hosttest.Strs(t, u.Records); len(got) != 1 {
		t.Errorf("got %v, want one record", got)
	}
	if err := src.Open(ctx, nil); err == nil {
		t.Error("opened twice")
	}
	if err := (&kafkaSource{k: &kafkaURI{uri: "kafka://x/t", topic: "t"}}).Open(ctx, []byte(`{"topic":"other","offsets":{}}`)); err == nil || !strings.Contains(err.Error(), `for topic "other"`) {
		t.Errorf("a position of another topic: %v", err)
	}
}

func TestKafkaUndecodable(t *testing.T) {
	brokers := kafkaBrokers(t)
	admin := kafkaClient(t, brokers)
	in, out := createTopic(t, admin, "in", 1), createTopic(t, admin, "out", 1)
	produceValues(t, brokers, in, []string{`{"n":1}`, `not json`, `{"n":2}`})
	var log hosttest.SyncBuffer
	err := runKafka(t, "kafka://"+brokers+"/"+in+"?group=g&until=end&format=json", "kafka://"+brokers+"/"+out, &log)
	if err == nil || !strings.Contains(err.Error(), "topic "+in+" partition 0 offset 1: the value is not json") || !strings.Contains(err.Error(), "deadLetter") {
		t.Fatalf("got %v", err)
	}
	dlq := createTopic(t, admin, "dlq", 1)
	if err := runKafka(t, "kafka://"+brokers+"/"+in+"?group=g2&until=end&format=json&deadLetter="+dlq, "kafka://"+brokers+"/"+out, &log); err != nil {
		t.Fatal(err)
	}
	if got := sortedValues(readCommitted(t, brokers, out)); strings.Join(got, " ") != `{"n":1} {"n":2}` {
		t.Errorf("output %v", got)
	}
	dead := readCommitted(t, brokers, dlq)
	if len(dead) != 1 || string(dead[0].Value) != "not json" {
		t.Fatalf("dead letters %v", dead)
	}
	hdr := map[string]string{}
	for _, h := range dead[0].Headers {
		hdr[h.Key] = string(h.Value)
	}
	if hdr["wstream-origin"] != "topic "+in+" partition 0 offset 1" || hdr["wstream-error"] == "" {
		t.Errorf("headers %v", hdr)
	}
	if !strings.Contains(log.String(), "sent to dead-letter topic "+dlq) {
		t.Errorf("log: %s", log.String())
	}
}

func TestKafkaUnreachable(t *testing.T) {
	var log hosttest.SyncBuffer
	src, err := host.OpenSource("kafka://127.0.0.1:1/t?group=g&connectTimeout=1500ms", host.WithLog(hosttest.Logger(&log)))
	if err != nil {
		t.Fatal(err)
	}
	err = src.Open(hosttest.Ctx(t), nil)
	if err == nil || !strings.Contains(err.Error(), "no Kafka broker answered at 127.0.0.1:1 within 1.5s") || !strings.Contains(err.Error(), "is the broker running") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(log.String(), "cannot reach Kafka at 127.0.0.1:1 (attempt 1:") || !strings.Contains(log.String(), "retrying in") {
		t.Errorf("log: %s", log.String())
	}
}

func TestKafkaExactlyOnceNeedsAGroupSource(t *testing.T) {
	sink, err := host.OpenSink("kafka://127.0.0.1:1/out?exactlyOnce=true")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := host.OpenSource("kafka://127.0.0.1:1/in")
	err = host.Run(hosttest.Ctx(t), host.RunConfig{Sources: map[string]host.Source{"input": src}, Sink: sink, Processor: hosttest.Pass{}, Interval: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "exactly-once needs the pipeline's only source to be a kafka://BROKERS/TOPIC?group=G source") {
		t.Errorf("got %v", err)
	}
}

// wordcountPipeline is the word count over Kafka, exactly-once unless
// extraSink turns it off.
func wordcountPipeline(t *testing.T, dir, brokers, in, out, extraSink string) string {
	return writePipeline(t, dir, fmt.Sprintf(`plugin: %[1]s
batch: 50ms
exactlyOnce: %[6]v
source: kafka://%[2]s/%[3]s?group=wc-%[3]s&until=end&maxPoll=100&sessionTimeout=6s
stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
sink: kafka://%[2]s/%[4]s?transactionTimeout=10s%[5]s
`, wordcountWasm(t, dir), brokers, in, out, extraSink, !strings.Contains(extraSink, "exactlyOnce=false")))
}

// The exactly-once test: the wstream binary is killed with SIGKILL in the
// middle of the run and restarted; read_committed output holds every
// word's count exactly once.
func TestKafkaExactlyOnceKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the wstream binary")
	}
	brokers := kafkaBrokers(t)
	dir := t.TempDir()
	bin := goBuild(t, dir, "cmd/wstream")
	admin := kafkaClient(t, brokers)
	in, out := createTopic(t, admin, "in", 6), createTopic(t, admin, "out", 6)
	lines, want := wordLines(6000)
	produceValues(t, brokers, in, lines)
	pipe := wordcountPipeline(t, dir, brokers, in, out, "&transactionalId=wc-"+randomID())

	p := startProc(t, bin, "run", "--pipeline", pipe)
	waitCommitted(t, admin, in, 500, p)
	p.kill()
	if n := committedTotal(t, admin, "wc-"+in, in); n >= int64(len(lines)) {
		t.Fatalf("the run had finished (%d offsets committed) before the kill", n)
	}
	// The same transactional id fences the killed process's open transaction.
	p2 := startProc(t, bin, "run", "--pipeline", pipe)
	p2.wait(t, 3*time.Minute)
	if diff := sameCounts(wordTotals(t, readCommitted(t, brokers, out)), want); diff != "" {
		t.Errorf("read_committed counts differ: %s", diff)
	}
}

// waitCommitted waits until the group "wc-TOPIC" has committed at least n
// offsets on topic, polling with a deadline.
func waitCommitted(t *testing.T, admin *kgo.Client, topic string, n int64, ps ...*proc) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for committedTotal(t, admin, "wc-"+topic, topic) < n {
		for _, p := range ps {
			select {
			case <-p.done:
				t.Fatalf("wstream exited early (%v):\n%s", p.err, tail(p.stderr.String(), 3000))
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group did not commit %d offsets in time", n)
		}
		time.Sleep(20 * time.Millisecond) // polling an external process
	}
}

// killRun is the scale-out kill test: procs wstream processes run the
// pipeline that pipeline writes over a new six-partition topic of n word
// lines; once the group has committed at offsets, the second process is
// killed with SIGKILL (while the group is still reading the source, when
// midSource); the others must finish, with every offset committed. It
// returns the read_committed output, the true word counts and the
// survivors.
func killRun(t *testing.T, n, procs int, at int64, midSource bool, pipeline func(dir, brokers, in, out string) string) ([]*kgo.Record, map[string]int64, []*proc) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and kills wstream binaries")
	}
	brokers := kafkaBrokers(t)
	dir := t.TempDir()
	bin := goBuild(t, dir, "cmd/wstream")
	admin := kafkaClient(t, brokers)
	in, out := createTopic(t, admin, "in", 6), createTopic(t, admin, "out", 6)
	lines, want := wordLines(n)
	produceValues(t, brokers, in, lines)
	pipe := pipeline(dir, brokers, in, out)

	var ps []*proc
	for i := 0; i < procs; i++ {
		ps = append(ps, startProc(t, bin, "run", "--pipeline", pipe))
	}
	waitCommitted(t, admin, in, at, ps...)
	select {
	case <-ps[1].done:
		t.Fatalf("the process to kill had exited (%v):\n%s", ps[1].err, tail(ps[1].stderr.String(), 3000))
	default:
	}
	ps[1].kill()
	if c := committedTotal(t, admin, "wc-"+in, in); midSource && c >= int64(len(lines)) {
		t.Fatalf("the run had finished (%d offsets committed) before the kill", c)
	}
	survivors := append([]*proc{ps[0]}, ps[2:]...)
	for i, p := range survivors {
		// A survivor whose group session expired under load finds its
		// transactional producer fenced and exits with an error naming
		// it; its supervisor starts it again, as kafka.md says, and the
		// totals must still be exact.
		for restarts := 0; restarts < 2 && p.fenced(4*time.Minute); restarts++ {
			t.Logf("a survivor was fenced and is started again:\n%s", tail(p.stderr.String(), 1500))
			p = startProc(t, bin, "run", "--pipeline", pipe)
			survivors[i] = p
		}
		p.wait(t, 4*time.Minute)
	}
	if c := committedTotal(t, admin, "wc-"+in, in); c != int64(len(lines)) {
		t.Errorf("group committed %d offsets, want %d", c, len(lines))
	}
	return readCommitted(t, brokers, out), want, survivors
}

// Scale-out: three processes share six partitions; one is killed with
// SIGKILL mid-run, the others take its partitions over from the group's
// committed offsets and finish; the totals are exact.
func TestKafkaScaleOutKill(t *testing.T) {
	out, want, _ := killRun(t, 9000, 3, 1500, true, func(dir, brokers, in, out string) string {
		return wordcountPipeline(t, dir, brokers, in, out, "")
	})
	if diff := sameCounts(wordTotals(t, out), want); diff != "" {
		t.Errorf("read_committed counts differ: %s", diff)
	}
}

// At-least-once (the default) over two processes, one killed mid-run: no
// count is lost (a replayed batch may count some words twice), and the
// group ends with every offset committed.
func TestKafkaAtLeastOnceKill(t *testing.T) {
	out, want, _ := killRun(t, 6000, 2, 1000, false, func(dir, brokers, in, out string) string {
		return wordcountPipeline(t, dir, brokers, in, out, "&exactlyOnce=false")
	})
	got := wordTotals(t, out)
	for w, n := range want {
		if got[w] < n {
			t.Errorf("%s: counted %d, want at least %d", w, got[w], n)
		}
	}
}

// A stateful pipeline whose process owns only some partitions is warned
// that its keyed state is per process. Every change of the partitions a
// process owns is logged and counted.
func TestKafkaWarnsSharedState(t *testing.T) {
	var log hosttest.SyncBuffer
	k, _ := parseKafkaURI("kafka://a/t?group=g&stateful=true")
	s := &kafkaSource{k: k, log: hosttest.Logger(&log), owned: map[int32]bool{}}
	s.assigned([]int32{0, 1, 2, 3, 4, 5}, 6)
	if strings.Contains(log.String(), "warning") {
		t.Errorf("warned while owning every partition: %s", log.String())
	}
	s.revoked([]int32{5, 4}, "revoked")
	s.assigned(nil, 6)
	s.revoked([]int32{3}, "lost")
	want := `wstream: kafka://a/t?group=g&stateful=true: group "g" assigned partitions [0 1 2 3 4 5] of topic t; this process now owns [0 1 2 3 4 5]
wstream: kafka://a/t?group=g&stateful=true: group "g" revoked partitions [4 5] of topic t; this process now owns [0 1 2 3]
wstream: warning: kafka://a/t?group=g&stateful=true: this process owns 4 of 6 partitions in group "g", and the pipeline keeps state that is not split by key`
	if !strings.HasPrefix(log.String(), want) {
		t.Errorf("log:\n%s\nwant it to start:\n%s", log.String(), want)
	}
	if !strings.Contains(log.String(), `group "g" lost partitions [3] of topic t; this process now owns [0 1 2]`) {
		t.Errorf("a lost partition is not logged: %s", log.String())
	}
	if n := s.Rebalances(); n != 3 {
		t.Errorf("rebalances %d, want 3 (an assignment, a revocation, a loss)", n)
	}
	k.stateful = false
	log = hosttest.SyncBuffer{}
	s = &kafkaSource{k: k, log: hosttest.Logger(&log), owned: map[int32]bool{}}
	s.assigned([]int32{0}, 6)
	if strings.Contains(log.String(), "warning") {
		t.Errorf("a stateless pipeline was warned: %s", log.String())
	}
}

// runningCountPipeline is the seeds' running word count (updateStateByKey)
// over Kafka; with a group, its keyed state is partitioned across the
// group's processes (RunScaleOut).
func runningCountPipeline(t *testing.T, dir, brokers, in, out string, exactlyOnce bool) string {
	return runningPipeline(t, dir, brokers, in, out, exactlyOnce, "{op: updateStateByKey, fn: sum-into-state")
}

// runningPipeline is the running word count with keyed stage stage (its
// op and fn, the plugin added here).
func runningPipeline(t *testing.T, dir, brokers, in, out string, exactlyOnce bool, stage string) string {
	return writePipeline(t, dir, fmt.Sprintf(`plugin: %[1]s
batch: 50ms
exactlyOnce: %[6]v
source: kafka://%[2]s/%[3]s?group=wc-%[3]s&until=end&maxPoll=100&sessionTimeout=6s
stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
  - %[7]s, plugin: %[5]s}
sink: kafka://%[2]s/%[4]s?transactionTimeout=10s
`, wordcountWasm(t, dir), brokers, in, out, pluginWasm(t, dir, "conformance"), exactlyOnce, stage))
}

// lastPerKey is the value of the last record of each key, as text.
func lastPerKey(recs []*kgo.Record) map[string]string {
	last := map[string]string{}
	for _, r := range recs {
		last[string(r.Key)] = string(r.Value)
	}
	return last
}

// Keyed state across processes: three processes run a running word count
// (updateStateByKey) over six partitions, exactly-once; one is killed with
// SIGKILL mid-run. Its partitions' state is restored by the survivors from
// the changelog topic, so the last committed count of every word is its
// exact total: no count lost with the dead process, none applied twice.
func TestKafkaScaleOutStateKill(t *testing.T) {
	out, want, survivors := killRun(t, 9000, 3, 1500, true, func(dir, brokers, in, out string) string {
		return runningCountPipeline(t, dir, brokers, in, out, true)
	})
	exactTotals(t, out, want)
	restored := false
	for _, p := range survivors {
		restored = restored || regexp.MustCompile(`state restored from wstream-wc-in-[0-9a-f]+-changelog`).MatchString(p.stderr.String())
	}
	if !restored {
		t.Error("no survivor restored a partition's state from the changelog")
	}
}

// mapWithState's state moves with its partitions as updateStateByKey's
// does: the running count emitted per word and batch ([word, total], the
// pairs the Kafka sink writes as key and value), with one of three
// processes killed, ends at every word's exact total.
func TestKafkaScaleOutMapWithStateKill(t *testing.T) {
	out, want, _ := killRun(t, 6000, 3, 1000, true, func(dir, brokers, in, out string) string {
		return runningPipeline(t, dir, brokers, in, out, true, "{op: mapWithState, fn: running-sum-emit-pair")
	})
	exactTotals(t, out, want)
}

// exactTotals checks that the last committed count of every word is its
// total, and that no other word is counted.
func exactTotals(t *testing.T, out []*kgo.Record, want map[string]int64) {
	t.Helper()
	last := lastPerKey(out)
	for w, n := range want {
		if last[w] != fmt.Sprint(n) {
			t.Errorf("%s: last committed count %q, want %d", w, last[w], n)
		}
	}
	if len(last) != len(want) {
		t.Errorf("%d words in the output, want %d", len(last), len(want))
	}
}

// The same at-least-once (the default), two processes, one killed: no
// count is lost (a replayed batch may count words twice).
func TestKafkaScaleOutStateAtLeastOnce(t *testing.T) {
	out, want, _ := killRun(t, 6000, 2, 1000, false, func(dir, brokers, in, out string) string {
		return runningCountPipeline(t, dir, brokers, in, out, false)
	})
	last := lastPerKey(out)
	for w, n := range want {
		var got int64
		if _, err := fmt.Sscan(last[w], &got); err != nil || got < n {
			t.Errorf("%s: last count %q, want at least %d", w, last[w], n)
		}
	}
}

// A group source says how far behind the end of each partition it owns
// it is, and counts the assignment it was given.
func TestKafkaSourceLag(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := createTopic(t, kafkaClient(t, brokers), "lag", 1)
	values := make([]string, 100)
	for i := range values {
		values[i] = fmt.Sprint(i)
	}
	produceValues(t, brokers, topic, values)
	src := hosttest.MustSource(t, fmt.Sprintf("kafka://%s/%s?group=lag-%s&maxPoll=10&format=text", brokers, topic, randomID()))
	ctx := hosttest.Ctx(t)
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ls, ok := src.(host.LagSource)
	if !ok {
		t.Fatal("a kafka source is not a host.LagSource")
	}
	read := 0
	for read < 30 {
		u, err := src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		read += len(u.Records)
	}
	if lag := ls.Lag(); lag[0] != int64(100-read) {
		t.Errorf("lag %v after reading %d of 100 records, want partition 0 at %d", lag, read, 100-read)
	}
	if n := ls.Rebalances(); n != 1 {
		t.Errorf("rebalances %d, want 1 (the first assignment)", n)
	}
}
