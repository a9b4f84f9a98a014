package operators

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// Shape describes the operator chain: the stream wiring, and each stage's
// op with every field that changes its results (functions, windows, keys,
// delays, output modes). A checkpoint records it, and a restart whose
// pipeline has another shape is refused instead of restoring state into
// the wrong operators. Plugin paths and failure policies are not part of
// it: a changed plugin with the same functions keeps its state.
func (g *Graph) Shape() string { return g.shape }

// LegacyShape is the shape as wstream versions before the full
// fingerprint wrote it (ops, functions, windows and slides only), so that
// their checkpoints still resume.
func (g *Graph) LegacyShape() string { return g.legacy }

// stageShape is one stage in Shape: "op(field=value, ...)" with the
// stage's set fields in the pipeline file's order, values quoted where
// they hold separators. Fields added to pipeline.Stage join it without
// code here.
func stageShape(s pipeline.Stage) string {
	var b strings.Builder
	b.WriteString(s.Op)
	b.WriteByte('(')
	v := reflect.ValueOf(s)
	n := 0
	for i := 0; i < v.NumField(); i++ {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		f := v.Field(i)
		if notInShape[tag] || tag == "" || tag == "-" || f.IsZero() {
			continue
		}
		var val string
		switch x := f.Interface().(type) {
		case pipeline.Duration:
			val = x.D().String()
		case string:
			val = x
		default:
			val = fmt.Sprint(x)
		}
		if strings.ContainsAny(val, ",;()= \"") {
			val = strconv.Quote(val)
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(tag + "=" + val)
	}
	b.WriteByte(')')
	return b.String()
}

// notInShape are the stage fields that do not change what a stage
// computes from its state: the op (written first), nested stages (their
// own entries), where the functions are loaded from, the initial state
// (used before the first batch only) and the failure policy.
var notInShape = map[string]bool{"op": true, "stages": true, "plugin": true, "initial": true, "onError": true}

// ShapeHash is a short digest of Shape, for messages and file headers.
func (g *Graph) ShapeHash() string {
	h := sha256.Sum256([]byte(g.shape))
	return hex.EncodeToString(h[:8])
}

// Snapshot encodes the graph's state: its zero time and each stateful
// stage's state, in graph order.
func (g *Graph) Snapshot(dst []byte) []byte {
	dst = append(dst, 0x94)
	dst = abi.AppendBool(dst, g.clock.started)
	dst = abi.AppendInt(dst, g.clock.zero)
	dst = abi.AppendArrayHeader(dst, len(g.stateful))
	for _, s := range g.stateful {
		dst = s.snapshot(dst)
	}
	if g.events == nil {
		return abi.AppendNil(dst)
	}
	dst = append(dst, 0x92)
	dst = abi.AppendInt(dst, g.events.wm)
	return abi.AppendInt(dst, g.events.lateTotal)
}

// Restore loads state written by Snapshot of a graph of the same shape.
func (g *Graph) Restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil || n != 4 {
		return fmt.Errorf("operator state: malformed header")
	}
	if g.clock.started, rest, err = abi.ReadBool(rest); err != nil {
		return fmt.Errorf("operator state: %w", err)
	}
	if g.clock.zero, rest, err = abi.ReadInt(rest); err != nil {
		return fmt.Errorf("operator state: %w", err)
	}
	m, rest, err := abi.ArrayHeader(rest)
	if err != nil {
		return fmt.Errorf("operator state: %w", err)
	}
	if m != len(g.stateful) {
		return fmt.Errorf("operator state has %d stateful stages, the pipeline %d", m, len(g.stateful))
	}
	for i, s := range g.stateful {
		var one abi.Raw
		if one, rest, err = abi.Next(rest); err != nil {
			return fmt.Errorf("operator state, stateful stage %d: %w", i+1, err)
		}
		if err := s.restore(one); err != nil {
			return fmt.Errorf("operator state, stateful stage %d: %w", i+1, err)
		}
	}
	if g.events == nil {
		return nil
	}
	if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 2 {
		return fmt.Errorf("operator state: event time: malformed")
	}
	if g.events.wm, rest, err = abi.ReadInt(rest); err != nil {
		return fmt.Errorf("operator state: watermark: %w", err)
	}
	if g.events.lateTotal, _, err = abi.ReadInt(rest); err != nil {
		return fmt.Errorf("operator state: late count: %w", err)
	}
	return nil
}

// LateRows is the number of rows dropped as late so far, including earlier
// runs restored from a checkpoint.
func (g *Graph) LateRows() int64 {
	if g.events == nil {
		return 0
	}
	return g.events.lateTotal
}
