package operators

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// What a stage reads from a record (key:, value:, time:) is a field: a path
// such as .sensor or .readings.0.temp, evaluated in the host on the encoded
// record with no copy and no guest call, or the name of a guest map
// function, called once per batch.

func init() {
	ops["keyBy"] = buildKeyBy
}

// path is a field path: segments after each '.'; "." alone is the whole
// record. A segment names a field of a map or, when it is a number, an
// element of a list.
type path struct {
	text string
	segs [][]byte
	idx  []int // the segment as a list index, or -1
}

func isPath(s string) bool { return strings.HasPrefix(s, ".") }

func parsePath(s string) (*path, error) {
	p := &path{text: s}
	if s == "." {
		return p, nil
	}
	for _, seg := range strings.Split(s[1:], ".") {
		if seg == "" {
			return nil, fmt.Errorf("path %q has an empty segment; write .a.b, .a.0 or . for the whole record", s)
		}
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || strconv.Itoa(i) != seg {
			i = -1
		}
		p.segs, p.idx = append(p.segs, []byte(seg)), append(p.idx, i)
	}
	return p, nil
}

// get returns the value at the path: a slice of r. An error says what is
// missing or of the wrong type.
func (p *path) get(r abi.Raw) (abi.Raw, error) {
	v := r
	for s, seg := range p.segs {
		switch abi.TypeOf(v) {
		case abi.TypeMap:
			n, rest, err := abi.MapHeader(v)
			if err != nil {
				return nil, err
			}
			found := false
			for j := 0; j < n; j++ {
				var k abi.Raw
				if k, rest, err = abi.Next(rest); err != nil {
					return nil, err
				}
				match := false
				switch abi.TypeOf(k) {
				case abi.TypeString:
					kb, _, _ := abi.ReadStringBytes(k)
					match = bytes.Equal(kb, seg)
				case abi.TypeInt:
					ki, _, _ := abi.ReadInt(k)
					match = p.idx[s] >= 0 && ki == int64(p.idx[s])
				}
				if v, rest, err = abi.Next(rest); err != nil {
					return nil, err
				}
				if match {
					found = true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("%s has no field %q", p.at(s), seg)
			}
		case abi.TypeArray:
			if p.idx[s] < 0 {
				return nil, fmt.Errorf("%s is a list, and %q is not an index", p.at(s), seg)
			}
			n, rest, err := abi.ArrayHeader(v)
			if err != nil {
				return nil, err
			}
			if p.idx[s] >= n {
				return nil, fmt.Errorf("%s is a list of %d, which has no element %d", p.at(s), n, p.idx[s])
			}
			for j := 0; j <= p.idx[s]; j++ {
				if v, rest, err = abi.Next(rest); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%s is %s, not a map or a list", p.at(s), abi.Describe(v))
		}
	}
	return v, nil
}

// at names the value the path's first s segments lead to.
func (p *path) at(s int) string {
	if s == 0 {
		return "the record"
	}
	var b strings.Builder
	for _, seg := range p.segs[:s] {
		b.WriteByte('.')
		b.Write(seg)
	}
	return b.String()
}

// policy applies a stage's onError to record errors the host finds itself
// (a missing field, a value sum cannot add), as caller applies it to the
// errors a guest reports.
type policy struct {
	stage   string
	onError string // "" is fail
	fails   *failures
	skipped int
	first   string
}

// policy validates a stage's onError: and returns its policy.
func (b *builder) policy(s pipeline.Stage, label string) (*policy, error) {
	switch s.OnError {
	case "", onErrorFail, onErrorSkip:
	case onErrorDeadLetter:
		if b.spec.DeadLetter == "" {
			return nil, fmt.Errorf("%s: onError: deadletter needs a dead-letter sink: add deadLetter: jsonl:PATH to the pipeline", label)
		}
	default:
		return nil, fmt.Errorf("%s: onError: %q: use fail, skip or deadletter", label, s.OnError)
	}
	return &policy{stage: label, onError: s.OnError, fails: b.fails}, nil
}

// reject handles one record: under fail it returns the error that fails the
// batch; otherwise the record is set aside and reject returns nil.
func (p *policy) reject(rec abi.Raw, msg string) error {
	switch p.onError {
	case onErrorSkip:
		if p.skipped == 0 {
			p.first = abi.Describe(rec) + ": " + msg
		}
		p.skipped++
		return nil
	case onErrorDeadLetter:
		p.fails.deadLetter(p.stage, msg, rec)
		return nil
	}
	return fmt.Errorf("%s: %s: %s (add onError: skip or deadletter to the stage to go on without such records)", p.stage, msg, abi.Describe(rec))
}

// flush logs the records skipped in this batch, once.
func (p *policy) flush() {
	if p.skipped > 0 {
		p.fails.warnf("%s: batch %d ms: skipped %d records (first: %s)", p.stage, p.fails.t, p.skipped, p.first)
		p.skipped, p.first = 0, ""
	}
}

// caller makes a caller of a guest function that follows the policy.
func (p *policy) caller(f Func, stage string) caller {
	return caller{fn: f, stage: stage, policy: p.onError, fails: p.fails}
}

// field is one thing a stage reads from each record.
type field struct {
	spec string // as written: the path or the function's plugin/name
	role string // key, value, time: for messages
	path *path
	call *caller
}

// field resolves a path or a guest map function for role.
func (b *builder) field(s pipeline.Stage, spec, role, label string, p *policy) (*field, error) {
	f := &field{spec: spec, role: role}
	if isPath(spec) {
		var err error
		if f.path, err = parsePath(spec); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", label, role, err)
		}
		return f, nil
	}
	fn, err := lookup(b.resolve, s.Plugin, spec, abi.KindMap, label+" "+role)
	if err != nil {
		return nil, fmt.Errorf("%w (or give a path such as .%s)", err, role)
	}
	c := p.caller(fn, label+" "+role+" "+spec)
	f.call, f.spec = &c, s.Plugin+"/"+spec
	return f, nil
}

// values computes the field of every record of in, into out[i]; out[i] is
// nil for a record that failed and was set aside by the policy, and for
// one that skip marks (set aside earlier). The values of a path are slices
// of the records.
func (f *field) values(ctx context.Context, in []abi.Raw, p *policy, skip []bool) ([]abi.Raw, error) {
	if f.call != nil {
		if skip == nil {
			return f.call.call(ctx, in)
		}
		var sub []abi.Raw
		for i, r := range in {
			if !skip[i] {
				sub = append(sub, r)
			}
		}
		res, err := f.call.call(ctx, sub)
		if err != nil {
			return nil, err
		}
		out := make([]abi.Raw, len(in))
		j := 0
		for i := range in {
			if !skip[i] {
				out[i] = res[j]
				j++
			}
		}
		return out, nil
	}
	out := make([]abi.Raw, len(in))
	for i, r := range in {
		if skip != nil && skip[i] {
			continue
		}
		v, err := f.path.get(r)
		if err != nil {
			if err := p.reject(r, fmt.Sprintf("%s %s: %v", f.role, f.path.text, err)); err != nil {
				return nil, err
			}
			continue
		}
		out[i] = v
	}
	return out, nil
}

// keyer computes a stage's key: one field, or a list of them whose values
// make an array (a composite key).
type keyer struct {
	fields []*field
}

func (b *builder) keyer(s pipeline.Stage, label string, p *policy) (*keyer, error) {
	k := &keyer{}
	for _, spec := range s.Key {
		f, err := b.field(s, spec, "key", label, p)
		if err != nil {
			return nil, err
		}
		k.fields = append(k.fields, f)
	}
	return k, nil
}

// spec is the key as the shape and messages show it.
func (k *keyer) spec() string {
	parts := make([]string, len(k.fields))
	for i, f := range k.fields {
		parts[i] = f.spec
	}
	return strings.Join(parts, ",")
}

// keys computes every record's key, nil for records set aside.
func (k *keyer) keys(ctx context.Context, in []abi.Raw, p *policy) ([]abi.Raw, error) {
	if len(k.fields) == 1 {
		return k.fields[0].values(ctx, in, p, nil)
	}
	parts := make([][]abi.Raw, len(k.fields))
	var failed []bool // a record one part failed on is not offered to the next
	for j, f := range k.fields {
		var err error
		if parts[j], err = f.values(ctx, in, p, failed); err != nil {
			return nil, err
		}
		for i, v := range parts[j] {
			if v == nil {
				if failed == nil {
					failed = make([]bool, len(in))
				}
				failed[i] = true
			}
		}
	}
	size := 0
	for i := range in {
		size += 5
		for j := range parts {
			size += len(parts[j][i])
		}
	}
	buf := make([]byte, 0, size) // never outgrown: the keys can slice it
	out := make([]abi.Raw, len(in))
next:
	for i := range in {
		for j := range parts {
			if parts[j][i] == nil {
				continue next
			}
		}
		start := len(buf)
		buf = abi.AppendArrayHeader(buf, len(parts))
		for j := range parts {
			buf = append(buf, parts[j][i]...)
		}
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out, nil
}

// ---- keyBy ----

// keyByStage is RDD's keyBy: each record x becomes [key(x), x].
type keyByStage struct {
	key *keyer
	pol *policy
}

func buildKeyBy(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "key", "plugin", "onError"); err != nil {
		return nil, err
	}
	if len(s.Key) == 0 {
		return nil, fmt.Errorf("%s needs key: (a path such as .sensor, a map function, or a list of them)", label)
	}
	p, err := b.policy(s, label)
	if err != nil {
		return nil, err
	}
	k, err := b.keyer(s, label, p)
	if err != nil {
		return nil, err
	}
	return &keyByStage{key: k, pol: p}, nil
}

func (s *keyByStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer s.pol.flush()
	keys, err := s.key.keys(ctx, in, s.pol)
	if err != nil {
		return nil, false, err
	}
	size := 0
	for i, k := range keys {
		size += 1 + len(k) + len(in[i])
	}
	buf := make([]byte, 0, size)
	out := make([]abi.Raw, 0, len(in))
	for i, k := range keys {
		if k == nil {
			continue
		}
		start := len(buf)
		buf = abi.AppendPair(buf, k, in[i])
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return out, true, nil
}

// ---- event times from a path ----

// pathTime reads event times at a path: integer milliseconds since the
// epoch, or an RFC 3339 string ("2024-05-01T12:00:00.250Z").
type pathTime struct {
	p   *path
	pol *policy
}

func (t pathTime) times(_ context.Context, in []abi.Raw) ([]int64, []bool, error) {
	out := make([]int64, len(in))
	var bad []bool
	for i, r := range in {
		ms, err := t.one(r)
		if err != nil {
			if err := t.pol.reject(r, fmt.Sprintf("time %s: %v", t.p.text, err)); err != nil {
				return nil, nil, err
			}
			if bad == nil {
				bad = make([]bool, len(in))
			}
			bad[i] = true
			continue
		}
		out[i] = ms
	}
	return out, bad, nil
}

func (t pathTime) one(r abi.Raw) (int64, error) {
	v, err := t.p.get(r)
	if err != nil {
		return 0, err
	}
	switch abi.TypeOf(v) {
	case abi.TypeInt:
		ms, _, err := abi.ReadInt(v)
		return ms, err
	case abi.TypeString:
		s, _, _ := abi.ReadString(v)
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("%q is not an RFC 3339 time (2024-05-01T12:00:00Z)", s)
		}
		return ts.UnixMilli(), nil
	}
	return 0, fmt.Errorf("%s is not an event time: want integer milliseconds since the epoch or an RFC 3339 string", abi.Describe(v))
}
