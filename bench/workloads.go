package bench

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/bench/logic"
)

// A workload is a pipeline, its input generator and a native Go version of
// the same logic. Inputs are strings (lines, JSON events, keys); the WASM
// side gets them msgpack-encoded, as a source hands them to the graph.
type workload struct {
	name string
	what string // one line for the table's legend
	// pipeline is the pipeline file for plugin (YAML), with `batch: 10ms`.
	pipeline func(plugin string) string
	// gen makes the workload's input generator for a key count.
	gen func(seed uint64, keys int) func() string
	// native makes a native runner; it returns the output record count of
	// each batch, which must equal what the graph emits.
	native func(keys int) func(recs []string) int
	// initial is the state of the last stage (updateStateByKey,
	// mapWithState) to preload, if any.
	initial func(keys int) []abi.Raw
	// keys is the key space (vocabulary, keys, state size) of a full run.
	keys, shortKeys int
	batch           int // records per batch in the throughput run
}

// workloads are the suite's fixed workloads, in table order.
var workloads = []*workload{
	{
		name: "wordcount",
		what: "flatMap split-words, map pair-with-one, reduceByKey sum (built-in) over 100-byte lines, Zipf(1.1) words from a 1e5-word vocabulary",
		pipeline: func(p string) string {
			return fmt.Sprintf("plugin: %q\nbatch: 10ms\nstages:\n  - {op: flatMap, fn: split-words}\n  - {op: map, fn: pair-with-one}\n  - {op: reduceByKey, fn: sum}\n", p)
		},
		gen:    lineGen,
		native: nativeWordCount,
		keys:   100000, shortKeys: 100000,
		batch: 10000,
	},
	{
		name: "json-filter-map",
		what: "filter is-click (1 event in 3), map event-to-pair -> [user, amount] over ~90-byte JSON events",
		pipeline: func(p string) string {
			return fmt.Sprintf("plugin: %q\nbatch: 10ms\nstages:\n  - {op: filter, fn: is-click}\n  - {op: map, fn: event-to-pair}\n", p)
		},
		gen:    eventGen,
		native: nativeFilterMap,
		keys:   100000, shortKeys: 1000,
		batch: 10000,
	},
	{
		name: "window-1e5",
		what: "map pair-with-one, reduceByKeyAndWindow add/sub (guest), window 10 batches, slide 1, over 1e5 uniform keys",
		pipeline: func(p string) string {
			return fmt.Sprintf("plugin: %q\nbatch: 10ms\nstages:\n  - {op: map, fn: pair-with-one}\n  - {op: reduceByKeyAndWindow, fn: add, inverse: sub, window: 100ms, slide: 10ms}\n", p)
		},
		gen:    keyGen,
		native: nativeWindow,
		keys:   100000, shortKeys: 1000,
		batch: 10000,
	},
	{
		name: "state-1e6",
		what: "map pair-with-one, updateStateByKey sum-into-state (guest) with 1e6 keys in state (preloaded), every key updated and emitted every batch",
		pipeline: func(p string) string {
			return fmt.Sprintf("plugin: %q\nbatch: 10ms\nstages:\n  - {op: map, fn: pair-with-one}\n  - {op: updateStateByKey, fn: sum-into-state}\n", p)
		},
		gen:     keyGen,
		native:  nativeState,
		initial: initialState,
		keys:    1000000, shortKeys: 10000,
		batch: 100000,
	},
	{
		name: "mapstate-1e6",
		what: "map pair-with-one, mapWithState running-count (guest, timeout 1h) with 1e6 keys in state (preloaded), 1000 records a batch: only the batch's keys are called and emitted",
		pipeline: func(p string) string {
			return fmt.Sprintf("plugin: %q\nbatch: 10ms\nstages:\n  - {op: map, fn: pair-with-one}\n  - {op: mapWithState, fn: running-count, timeout: 1h}\n", p)
		},
		gen:     keyGen,
		native:  nativeMapState,
		initial: initialState,
		keys:    1000000, shortKeys: 10000,
		batch: 1000,
	},
	{
		name: "upper",
		what: "map upper (ASCII upper case) over 100-byte messages: the Benthos comparison's transform",
		pipeline: func(p string) string {
			return fmt.Sprintf("plugin: %q\nbatch: 10ms\nstages:\n  - {op: map, fn: upper}\n", p)
		},
		gen:    messageGen,
		native: nativeUpper,
		keys:   1, shortKeys: 1,
		batch: 1000,
	},
}

func workloadByName(name string) (*workload, error) {
	for _, w := range workloads {
		if w.name == name {
			return w, nil
		}
	}
	return nil, fmt.Errorf("no workload %q", name)
}

// ---- generators: deterministic for a seed ----

// word returns candidate vocabulary word i: i in base 26, padded to a
// hash-chosen length of 2 to 9 letters, plus a length letter (lineGen drops
// the rare duplicates).
func word(i int) string {
	var b [16]byte
	n := 0
	for x := i; ; x /= 26 {
		b[n] = 'a' + byte(x%26)
		n++
		if x < 26 {
			break
		}
	}
	want := 2 + int(uint32(i)*2654435761>>29) // 2..9
	for n < want {
		b[n] = 'z'
		n++
	}
	b[n] = 'a' + byte(n)
	return string(b[:n+1])
}

// lineGen makes ~100-byte lines of Zipf-distributed words.
func lineGen(seed uint64, keys int) func() string {
	r := rand.New(rand.NewPCG(seed, 1))
	z := rand.NewZipf(r, 1.1, 1, uint64(keys-1))
	vocab := make([]string, 0, keys)
	seen := make(map[string]bool, keys)
	for i := 0; len(vocab) < keys; i++ {
		if w := word(i); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	var sb strings.Builder
	return func() string {
		sb.Reset()
		for {
			w := vocab[z.Uint64()]
			if sb.Len()+1+len(w) > 100 {
				break
			}
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(w)
		}
		return sb.String()
	}
}

var eventTypes = []string{"click", "view", "buy"}

// eventGen makes flat JSON events, one type in three a click.
func eventGen(seed uint64, keys int) func() string {
	r := rand.New(rand.NewPCG(seed, 2))
	id := 0
	return func() string {
		id++
		return fmt.Sprintf(`{"id":%d,"user":"u%06d","type":"%s","amount":%d,"ts":%d}`,
			id, r.IntN(keys), eventTypes[r.IntN(3)], r.IntN(10000), 1700000000000+int64(id))
	}
}

// keyGen makes uniform keys k0000000...
func keyGen(seed uint64, keys int) func() string {
	r := rand.New(rand.NewPCG(seed, 3))
	return func() string { return keyName(r.IntN(keys)) }
}

func keyName(i int) string { return "k" + strconv.Itoa(1000000 + i)[1:] }

// messageGen makes 100-byte lower-case messages (as bench/benthos does).
func messageGen(seed uint64, _ int) func() string {
	i := int(seed)
	return func() string {
		i++
		return string(message(i, 100))
	}
}

// message is the i-th message of the Benthos comparison: the same bytes
// bench/benthos/main.go generates.
func message(i, size int) []byte {
	b := make([]byte, size)
	x := uint32(i)*2654435761 + 1
	for j := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if x%7 == 0 {
			b[j] = ' '
		} else {
			b[j] = 'a' + byte(x%26)
		}
	}
	return b
}

// initialState is every key in state with count 0.
func initialState(keys int) []abi.Raw {
	out := make([]abi.Raw, keys)
	buf := make([]byte, 0, keys*12)
	for i := range out {
		start := len(buf)
		buf = append(buf, 0x92)
		buf = abi.AppendString(buf, keyName(i))
		buf = append(buf, 0)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// ---- native in-host Go versions of the same logic ----

type pair struct {
	k string
	v int64
}

// nativeWordCount: strings.Split and a map, per batch, then the (word,
// count) pairs, as reduceByKey emits them.
func nativeWordCount(int) func([]string) int {
	return func(lines []string) int {
		counts := make(map[string]int64, len(lines))
		for _, l := range lines {
			for _, w := range logic.SplitWords(l) {
				counts[w]++
			}
		}
		out := make([]pair, 0, len(counts))
		for k, v := range counts {
			out = append(out, pair{k, v})
		}
		return len(out)
	}
}

func nativeFilterMap(int) func([]string) int {
	return func(evs []string) int {
		out := make([]pair, 0, len(evs)/2)
		for _, e := range evs {
			if logic.IsClick(e) {
				u, a := logic.EventPair(e)
				out = append(out, pair{u, a})
			}
		}
		return len(out)
	}
}

// nativeWindow is the incremental reduceByKeyAndWindow: per-batch sums kept
// for the window, the leaving batch subtracted and the new one added; keys
// at zero stay (no filter), as in Spark and wstream.
func nativeWindow(int) func([]string) int {
	const window = 10
	var batches []map[string]int64
	win := map[string]int64{}
	return func(keys []string) int {
		cur := make(map[string]int64, len(keys))
		for _, k := range keys {
			cur[k]++
		}
		batches = append(batches, cur)
		if len(batches) > window {
			for k, v := range batches[0] {
				win[k] -= v
			}
			batches = batches[1:]
		}
		for k, v := range cur {
			win[k] += v
		}
		out := make([]pair, 0, len(win))
		for k, v := range win {
			out = append(out, pair{k, v})
		}
		return len(out)
	}
}

// nativeState is updateStateByKey with sum-into-state: the function runs for
// every key in state each batch, and every key's state is emitted.
func nativeState(keys int) func([]string) int {
	state := make(map[string]int64, keys)
	for i := 0; i < keys; i++ {
		state[keyName(i)] = 0
	}
	update := func(vals []int64, s int64) int64 {
		for _, v := range vals {
			s += v
		}
		return s
	}
	return func(in []string) int {
		vals := make(map[string][]int64, len(in))
		for _, k := range in {
			vals[k] = append(vals[k], 1)
		}
		for k := range vals {
			if _, ok := state[k]; !ok {
				state[k] = 0
			}
		}
		out := make([]pair, 0, len(state))
		for k, s := range state {
			s = update(vals[k], s)
			state[k] = s
			out = append(out, pair{k, s})
		}
		return len(out)
	}
}

// nativeMapState is mapWithState with running-count: each record adds one
// to its key's count and emits it; idle keys cost nothing.
func nativeMapState(keys int) func([]string) int {
	state := make(map[string]int64, keys)
	for i := 0; i < keys; i++ {
		state[keyName(i)] = 0
	}
	return func(in []string) int {
		out := make([]pair, 0, len(in))
		for _, k := range in {
			state[k]++
			out = append(out, pair{k, state[k]})
		}
		return len(out)
	}
}

func nativeUpper(int) func([]string) int {
	return func(msgs []string) int {
		out := make([][]byte, len(msgs))
		for i, m := range msgs {
			out[i] = logic.Upper([]byte(m))
		}
		return len(out)
	}
}

// names lists workload names, for messages.
func names() string {
	var s []string
	for _, w := range workloads {
		s = append(s, w.name)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
