package wazero

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wstream/wstream/runtime/internal/wasmbin"
)

// Metering: how a call's time limit stops a guest without wazero's
// WithCloseOnContextDone.
//
// WithCloseOnContextDone(true) makes wazero compile, at every loop header of
// the guest, a call out of the guest's machine code back into Go, where the
// module's closed flag is checked. Going back to Go is what lets the Go
// runtime stop the goroutine for a GC (it cannot preempt JIT code) and what
// lets a timeout close the module; but doing it on every loop iteration made
// guest code 3-5× slower (bench/termination_test.go).
//
// meter rewrites the module instead, before it is compiled: a new mutable
// i32 global counts down at every loop header and at every function entry,
// and when it reaches zero the guest calls an imported host function
// (meterModule.meterTick) that checks the call's context (panicking with a
// deadline or cancel exit when it is done, which fails the call) and returns
// the next budget. The guest thus comes back to Go every meterBudget loop
// iterations or calls, about every 10-100 µs of guest work: a GC waits at
// most that long, and a timeout stops a looping guest as before. Counting
// function entries as well also stops unbounded recursion that has no loop
// (which wazero's loop-header check misses). The cost in guest code is a
// global decrement and a branch per loop iteration.
//
// A module using something meter does not parse (the GC proposal, say) is
// not rewritten: it is compiled with WithCloseOnContextDone(true), as before.

const (
	meterModule = "wstream_meter" // the import module of the tick function
	meterTick   = "tick"
	// meterBudget is how many loop iterations and function entries run
	// between two ticks.
	meterBudget = 10000
)

var errMeterUnsupported = errors.New("meter: unsupported construct")

// meter returns wasm with the countdown added, or an error when the module
// cannot be rewritten (then it must run with wazero's own checks).
func meter(wasm []byte) (_ []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(meterError); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a version 1 binary module", errMeterUnsupported)
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := &reader{b: wasm[8:]}
	for !r.done() {
		id := r.byte()
		n := r.u32()
		secs = append(secs, section{id, r.bytes(int(n))})
	}

	// First pass: counts of imported functions and globals, defined
	// functions, globals and types.
	var nTypes, nFuncImports, nGlobalImports, nGlobals, nFuncs uint32
	for _, s := range secs {
		r := &reader{b: s.body}
		switch s.id {
		case 1:
			nTypes = r.u32()
		case 2:
			for i, n := uint32(0), r.u32(); i < n; i++ {
				mod := r.name()
				r.name()
				if mod == meterModule {
					return nil, fmt.Errorf("the module imports from %s, which wstream does not provide", meterModule)
				}
				switch kind := r.byte(); kind {
				case 0x00:
					r.u32()
					nFuncImports++
				case 0x01:
					r.refType()
					r.limits()
				case 0x02:
					r.limits()
				case 0x03:
					r.valType()
					r.byte()
					nGlobalImports++
				case 0x04:
					r.byte()
					r.u32()
				default:
					r.fail("import kind %#x", kind)
				}
			}
		case 3:
			nFuncs = r.u32()
		case 6:
			nGlobals = r.u32()
		}
	}
	m := &meterer{
		shift:  nFuncImports, // the tick import takes this index; defined functions move up one
		global: nGlobalImports + nGlobals,
		charge: nFuncImports + 1 + nFuncs, // after the module's own functions
	}

	out := append([]byte{}, wasm[:8]...)
	put := func(id byte, body []byte) { out = wasmbin.AppendSection(out, id, body) }
	hasType, hasImport, hasGlobal := false, false, false
	tickType, chargeType := nTypes, nTypes+1
	types := []byte{0x60, 0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f} // () -> i32, (i32) -> i32
	// addMissing adds the type, import and global sections when the module
	// has none and the next section (by its rank, done at the end) must come
	// after them.
	addMissing := func(next int) {
		if !hasType && next > rank[1] {
			put(1, append(wasmbin.AppendU32(nil, 2), types...))
			hasType = true
		}
		if !hasImport && next > rank[2] {
			put(2, append(wasmbin.AppendU32(nil, 1), m.tickImport(tickType)...))
			hasImport = true
		}
		if !hasGlobal && next > rank[6] {
			put(6, append(wasmbin.AppendU32(nil, 1), m.globalDef()...))
			hasGlobal = true
		}
	}
	for _, s := range secs {
		if s.id != 0 {
			rk, ok := rank[s.id]
			if !ok {
				return nil, fmt.Errorf("%w: section %d", errMeterUnsupported, s.id)
			}
			addMissing(rk)
		}
		r := &reader{b: s.body}
		switch s.id {
		case 0:
			if body, keep := m.custom(s.body); keep {
				put(0, body)
			}
		case 1:
			n := r.u32()
			body := wasmbin.AppendU32(nil, n+2)
			body = append(body, r.rest()...)
			put(1, append(body, types...))
			hasType = true
		case 2:
			n := r.u32()
			body := wasmbin.AppendU32(nil, n+1)
			body = append(body, r.rest()...)
			put(2, append(body, m.tickImport(tickType)...))
			hasImport = true
		case 3:
			n := r.u32()
			body := wasmbin.AppendU32(nil, n+1)
			body = append(body, r.rest()...)
			put(3, wasmbin.AppendU32(body, chargeType))
		case 6:
			n := r.u32()
			body := wasmbin.AppendU32(nil, n+1)
			for i := uint32(0); i < n; i++ {
				start := r.pos
				r.valType()
				r.byte()
				body = append(body, r.b[start:r.pos]...)
				body = m.expr(body, r)
			}
			put(6, append(body, m.globalDef()...))
			hasGlobal = true
		case 7:
			n := r.u32()
			body := wasmbin.AppendU32(nil, n)
			for i := uint32(0); i < n; i++ {
				nm := r.name()
				kind := r.byte()
				idx := r.u32()
				body = wasmbin.AppendName(body, nm)
				body = append(body, kind)
				if kind == 0x00 {
					idx = m.fn(idx)
				}
				body = wasmbin.AppendU32(body, idx)
			}
			put(7, body)
		case 8:
			put(8, wasmbin.AppendU32(nil, m.fn(r.u32())))
		case 9:
			put(9, m.elements(r))
		case 10:
			put(10, m.code(r))
		default:
			put(s.id, s.body)
		}
	}
	addMissing(len(rank) + 1)
	return out, nil
}

// otherImports lists the imports of a module that are neither functions
// nor memories, as (module, name) pairs: wazero's compiled module does not
// list them, and none of them is provided. A module it cannot parse lists
// none; compiling it says what is wrong.
func otherImports(wasm []byte) (out [][2]string) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(meterError); !ok {
				panic(r)
			}
		}
	}()
	if len(wasm) < 8 {
		return nil
	}
	r := &reader{b: wasm[8:]}
	for !r.done() {
		id := r.byte()
		body := r.bytes(int(r.u32()))
		if id != 2 {
			continue
		}
		r := &reader{b: body}
		for i, n := uint32(0), r.u32(); i < n; i++ {
			mod, name := r.name(), r.name()
			kind := r.byte()
			switch kind {
			case 0x00:
				r.u32()
				continue
			case 0x01:
				r.refType()
				r.limits()
			case 0x02:
				r.limits()
				continue
			case 0x03:
				r.valType()
				r.byte()
			}
			out = append(out, [2]string{mod, name})
			if kind > 0x03 { // a tag, or what a later proposal adds: its size is unknown
				return out
			}
		}
	}
	return out
}

// rank orders the known sections as the binary format requires (the tag
// section, 13, sits between memory and global; data count, 12, before code).
var rank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type meterer struct {
	shift  uint32 // function indices at or above it move up one
	global uint32 // index of the countdown global
	charge uint32 // index of the function that charges bulk operations
	// importsInTable is set when a table may hold an imported function, so
	// that an indirect call may be a host call.
	importsInTable bool
}

func (m *meterer) fn(idx uint32) uint32 {
	if idx >= m.shift {
		return idx + 1
	}
	return idx
}

func (m *meterer) tickImport(typ uint32) []byte {
	b := wasmbin.AppendName(nil, meterModule)
	b = wasmbin.AppendName(b, meterTick)
	return wasmbin.AppendU32(append(b, 0x00), typ)
}

func (m *meterer) globalDef() []byte {
	b := []byte{0x7f, 0x01, 0x41}
	b = wasmbin.AppendS64(b, meterBudget)
	return append(b, 0x0b)
}

// countdown is the code at each loop header and function entry:
//
//	global.set $g (i32.sub (global.get $g) (i32.const 1))
//	(if (i32.eqz (global.get $g)) (then (global.set $g (call $tick))))
func (m *meterer) countdown(dst []byte) []byte {
	g := wasmbin.AppendU32(nil, m.global)
	dst = append(append(dst, 0x23), g...)
	dst = append(dst, 0x41, 0x01, 0x6b)
	dst = append(append(dst, 0x24), g...)
	dst = append(append(dst, 0x23), g...)
	dst = append(dst, 0x45, 0x04, 0x40, 0x10)
	dst = wasmbin.AppendU32(dst, m.shift) // the tick import's index
	dst = append(append(dst, 0x24), g...)
	return append(dst, 0x0b)
}

// expr copies a constant expression, renumbering ref.func.
func (m *meterer) expr(dst []byte, r *reader) []byte {
	return m.instrs(dst, r, false, true)
}

func (m *meterer) elements(r *reader) []byte {
	n := r.u32()
	body := wasmbin.AppendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		flags := r.u32()
		body = wasmbin.AppendU32(body, flags)
		if flags > 7 {
			r.fail("element segment flags %d", flags)
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			body = wasmbin.AppendU32(body, r.u32())
		}
		if flags&1 == 0 { // active: offset expression
			body = m.expr(body, r)
		}
		if flags&3 != 0 { // elemkind or reftype
			start := r.pos
			if flags&4 != 0 {
				r.refType()
			} else {
				r.byte()
			}
			body = append(body, r.b[start:r.pos]...)
		}
		k := r.u32()
		body = wasmbin.AppendU32(body, k)
		for j := uint32(0); j < k; j++ {
			if flags&4 != 0 {
				body = m.expr(body, r)
			} else {
				idx := r.u32()
				m.importsInTable = m.importsInTable || idx < m.shift
				body = wasmbin.AppendU32(body, m.fn(idx))
			}
		}
	}
	return body
}

func (m *meterer) code(r *reader) []byte {
	n := r.u32()
	body := wasmbin.AppendU32(nil, n+1) // and the charge function
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fr := &reader{b: r.bytes(int(size))}
		fn = fn[:0]
		start := fr.pos
		for j, nl := uint32(0), fr.u32(); j < nl; j++ {
			fr.u32()
			fr.valType()
		}
		fn = append(fn, fr.b[start:fr.pos]...)
		fn = m.countdown(fn)
		fn = m.instrs(fn, fr, true, false)
		if !fr.done() {
			fr.fail("%d bytes after a function body", len(fr.b)-fr.pos)
		}
		body = wasmbin.AppendU32(body, uint32(len(fn)))
		body = append(body, fn...)
	}
	fn = m.chargeBody(fn[:0])
	body = wasmbin.AppendU32(body, uint32(len(fn)))
	return append(body, fn...)
}

// chargeBody is the function that bulk memory and table operations call
// with their size n before they run: it takes n/1024 from the countdown
// (one unit per KiB, where a loop iteration is one) and ticks when that
// leaves it below one, then returns n. A loop whose body is one huge
// memory.fill so comes back to the host after every fill, not after every
// meterBudget fills.
//
//	global.set $g (i32.sub (global.get $g) (i32.shr_u (local.get 0) (i32.const 10)))
//	(if (i32.lt_s (global.get $g) (i32.const 1)) (then (global.set $g (call $tick))))
//	local.get 0
func (m *meterer) chargeBody(dst []byte) []byte {
	g := wasmbin.AppendU32(nil, m.global)
	dst = append(dst, 0x00) // no locals
	dst = append(append(dst, 0x23), g...)
	dst = append(dst, 0x20, 0x00, 0x41, 0x0a, 0x76, 0x6b)
	dst = append(append(dst, 0x24), g...)
	dst = append(append(dst, 0x23), g...)
	dst = append(dst, 0x41, 0x01, 0x48, 0x04, 0x40, 0x10)
	dst = wasmbin.AppendU32(dst, m.shift)
	dst = append(append(dst, 0x24), g...)
	return append(dst, 0x0b, 0x20, 0x00, 0x0b)
}

// chargeHostCall sets the countdown to one before a call that may enter
// the host, so that the next loop header or function entry ticks: a host
// call costs up to the whole budget, since what it does (a WASI write of
// many buffers, say) grows with its arguments, not with the guest's loops.
func (m *meterer) chargeHostCall(dst []byte) []byte {
	dst = append(dst, 0x41, 0x01, 0x24)
	return wasmbin.AppendU32(dst, m.global)
}

// instrs copies instructions up to and including the end that closes the
// current block, renumbering function indices and, in code, adding the
// countdown after each loop header.
func (m *meterer) instrs(dst []byte, r *reader, count, constExpr bool) []byte {
	depth := 0
	for {
		start := r.pos
		op := r.byte()
		switch {
		case op == 0x0b: // end
			dst = append(dst, op)
			if depth == 0 {
				return dst
			}
			depth--
			continue
		case op == 0x02 || op == 0x04 || op == 0x06: // block, if, try
			r.blockType()
			depth++
		case op == 0x03: // loop
			r.blockType()
			depth++
			dst = append(dst, r.b[start:r.pos]...)
			if count {
				dst = m.countdown(dst)
			}
			continue
		case op == 0x1f: // try_table
			r.blockType()
			for i, nc := uint32(0), r.u32(); i < nc; i++ {
				switch kind := r.byte(); kind {
				case 0x00, 0x01:
					r.u32()
					r.u32()
				case 0x02, 0x03:
					r.u32()
				default:
					r.fail("catch kind %#x", kind)
				}
			}
			depth++
		case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
			idx := r.u32()
			if idx < m.shift {
				switch {
				case op != 0xd2 && count:
					dst = m.chargeHostCall(dst)
				case op == 0xd2 && count:
					r.fail("a reference to an imported function in code")
				case op == 0xd2:
					m.importsInTable = true
				}
			}
			dst = append(dst, op)
			dst = wasmbin.AppendU32(dst, m.fn(idx))
			continue
		case op <= 0x01 || op == 0x05 || op == 0x0a || op == 0x0f || op == 0x19 || op == 0x1a || op == 0x1b ||
			op == 0xd1 || op == 0xd3 || op == 0xd5 || (op >= 0x45 && op <= 0xc4):
			// no immediate
		case op == 0x18: // delegate ends a legacy try block
			r.u32()
			depth--
		case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0c || op == 0x0d ||
			op == 0x14 || op == 0x15 || (op >= 0x20 && op <= 0x26) || op == 0x3f || op == 0x40 ||
			op == 0xd4 || op == 0xd6:
			r.u32()
		case op == 0x0e: // br_table
			for i, nl := uint32(0), r.u32(); i <= nl; i++ {
				r.u32()
			}
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			r.u32()
			r.u32()
			if count && m.importsInTable {
				dst = m.chargeHostCall(dst)
			}
		case op == 0x1c: // select t*
			for i, nt := uint32(0), r.u32(); i < nt; i++ {
				r.valType()
			}
		case op >= 0x28 && op <= 0x3e:
			r.memarg()
		case op == 0x41 || op == 0x42:
			r.sleb()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op == 0xd0: // ref.null
			r.sleb()
		case op == 0xfc:
			sub := r.u32()
			switch {
			case sub <= 7:
			case sub == 8 || sub == 10 || sub == 12 || sub == 14:
				r.u32()
				r.u32()
			case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
				r.u32()
			default:
				r.fail("instruction 0xfc %d", sub)
			}
			switch sub {
			case 8, 10, 11, 12, 14, 17: // memory and table init, copy, fill: their size is on top
				if count {
					dst = append(dst, 0x10)
					dst = wasmbin.AppendU32(dst, m.charge)
				}
			}
		case op == 0xfd:
			switch sub := r.u32(); {
			case sub <= 11 || sub == 92 || sub == 93:
				r.memarg()
			case sub == 12 || sub == 13:
				r.bytes(16)
			case sub >= 21 && sub <= 34:
				r.byte()
			case sub >= 84 && sub <= 91:
				r.memarg()
				r.byte()
			}
		case op == 0xfe:
			if sub := r.u32(); sub == 3 {
				r.byte()
			} else {
				r.memarg()
			}
		default:
			r.fail("opcode %#x", op)
		}
		if constExpr && depth > 0 {
			r.fail("a block in a constant expression")
		}
		dst = append(dst, r.b[start:r.pos]...)
	}
}

// custom keeps a custom section, renumbering the function indices of the
// name section. DWARF sections (.debug_*) are dropped: they describe code
// offsets that the rewrite moved.
func (m *meterer) custom(body []byte) ([]byte, bool) {
	r := &reader{b: body}
	nm := r.name()
	if strings.HasPrefix(nm, ".debug_") {
		return nil, false
	}
	if nm != "name" {
		return body, true
	}
	out := wasmbin.AppendName(nil, nm)
	for !r.done() {
		id := r.byte()
		sub := &reader{b: r.bytes(int(r.u32()))}
		var b []byte
		switch id {
		case 1: // function names
			n := sub.u32()
			b = wasmbin.AppendU32(nil, n)
			for i := uint32(0); i < n; i++ {
				b = wasmbin.AppendU32(b, m.fn(sub.u32()))
				b = wasmbin.AppendName(b, sub.name())
			}
		case 2: // local names, by function
			n := sub.u32()
			b = wasmbin.AppendU32(nil, n)
			for i := uint32(0); i < n; i++ {
				b = wasmbin.AppendU32(b, m.fn(sub.u32()))
				start := sub.pos
				for j, nl := uint32(0), sub.u32(); j < nl; j++ {
					sub.u32()
					sub.name()
				}
				b = append(b, sub.b[start:sub.pos]...)
			}
		case 3: // label names, by function: dropped
			continue
		default:
			b = sub.b
		}
		out = wasmbin.AppendSection(out, id, b)
	}
	return out, true
}

// ---- reading the binary format ----

type meterError struct{ msg string }

func (e meterError) Error() string { return e.msg }
func (e meterError) Unwrap() error { return errMeterUnsupported }

type reader struct {
	b   []byte
	pos int
}

func (r *reader) fail(format string, args ...any) {
	panic(meterError{fmt.Sprintf("meter: at byte %d: ", r.pos) + fmt.Sprintf(format, args...)})
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) byte() byte {
	if r.pos >= len(r.b) {
		r.fail("truncated")
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.pos {
		r.fail("truncated")
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *reader) rest() []byte {
	b := r.b[r.pos:]
	r.pos = len(r.b)
	return b
}

func (r *reader) uleb(max int) uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		if shift >= max {
			r.fail("LEB128 too long")
		}
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(35)) }

func (r *reader) sleb() {
	for i := 0; ; i++ {
		if i >= 10 {
			r.fail("LEB128 too long")
		}
		if r.byte()&0x80 == 0 {
			return
		}
	}
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

// valType reads a value type: one byte, or a typed reference (0x63, 0x64)
// followed by its heap type.
func (r *reader) valType() {
	if c := r.byte(); c == 0x63 || c == 0x64 {
		r.sleb()
	}
}

func (r *reader) refType() { r.valType() }

func (r *reader) blockType() {
	if r.done() {
		r.fail("truncated")
	}
	c := r.b[r.pos]
	r.sleb()
	if c == 0x63 || c == 0x64 {
		r.sleb()
	}
}

func (r *reader) limits() {
	flags := r.byte()
	r.uleb(70)
	if flags&1 != 0 {
		r.uleb(70)
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.uleb(70)
}
