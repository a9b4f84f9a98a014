package operators

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/wstream/wstream/abi"
)

// Shape describes the operator chain (ops, functions, windows, stream
// wiring). A checkpoint records it, and a restart whose pipeline has another
// shape is refused instead of restoring state into the wrong operators.
func (g *Graph) Shape() string { return g.shape }

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
