package pybuild

import (
	"bytes"
	"errors"
	"fmt"
)

// The runtime module reads each bundle through one function, which the
// shim exports as wstream_py_bundle_<slot> with the signature
// (dst, offset, length i32) -> size i32 and a placeholder body. Filling a
// slot appends the bundle as a passive data segment, replaces that body
// with `memory.init SEG (dst, offset, length); i32.const SIZE`, and removes
// the export, so that a slot is filled once and the host sees only the ABI.
// A passive segment is not copied into memory at instantiation: each
// instance reads only the modules it imports.

const slotExportPrefix = "wstream_py_bundle_"

// Section ids (WebAssembly core spec, binary format).
const (
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secExport    = 7
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

type section struct {
	id      byte
	payload []byte
}

// reader reads the binary format, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("unexpected end of data")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("integer too long")
	return 0
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.fail("unexpected end of data")
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

func (r *reader) limits() {
	if flags := r.byte(); flags&1 != 0 {
		r.u32()
		r.u32()
	} else {
		r.u32()
	}
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func parseModule(m []byte) ([]section, error) {
	if len(m) < 8 || !bytes.Equal(m[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module")
	}
	if !bytes.Equal(m[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("WebAssembly binary version %v, want 1", m[4:8])
	}
	r := &reader{b: m[8:]}
	var secs []section
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		payload := r.bytes(r.u32())
		secs = append(secs, section{id, payload})
	}
	return secs, r.err
}

func encodeModule(secs []section) []byte {
	n := 8
	for _, s := range secs {
		n += 6 + len(s.payload)
	}
	out := append(make([]byte, 0, n), "\x00asm\x01\x00\x00\x00"...)
	for _, s := range secs {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.payload)))
		out = append(out, s.payload...)
	}
	return out
}

func find(secs []section, id byte) int {
	for i, s := range secs {
		if s.id == id {
			return i
		}
	}
	return -1
}

// slotFunction finds the exported slot function: its index among the
// defined functions and the export section without that export.
func slotFunction(secs []section, export string) (defined int, exports []byte, err error) {
	ei := find(secs, secExport)
	if ei < 0 {
		return 0, nil, errors.New("the module has no exports")
	}
	r := &reader{b: secs[ei].payload}
	n := r.u32()
	kept := []byte{}
	var keptN uint32
	funcIndex := int64(-1)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := len(secs[ei].payload) - len(r.b)
		name := r.name()
		kind := r.byte()
		idx := r.u32()
		end := len(secs[ei].payload) - len(r.b)
		if name == export && kind == 0 {
			funcIndex = int64(idx)
			continue
		}
		kept = append(kept, secs[ei].payload[start:end]...)
		keptN++
	}
	if r.err != nil {
		return 0, nil, fmt.Errorf("export section: %w", r.err)
	}
	if funcIndex < 0 {
		return 0, nil, errSlotMissing
	}
	imported, err := importedFunctions(secs)
	if err != nil {
		return 0, nil, err
	}
	if funcIndex < int64(imported) {
		return 0, nil, fmt.Errorf("%s is an imported function", export)
	}
	if err := checkSignature(secs, int(funcIndex)-imported); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", export, err)
	}
	return int(funcIndex) - imported, append(appendU32(nil, keptN), kept...), nil
}

var errSlotMissing = errors.New("no such slot")

func importedFunctions(secs []section) (int, error) {
	ii := find(secs, secImport)
	if ii < 0 {
		return 0, nil
	}
	r := &reader{b: secs[ii].payload}
	n, funcs := r.u32(), 0
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0:
			r.u32()
			funcs++
		case 1:
			r.byte()
			r.limits()
		case 2:
			r.limits()
		case 3:
			r.byte()
			r.byte()
		default:
			r.fail("import kind %d", kind)
		}
	}
	if r.err != nil {
		return 0, fmt.Errorf("import section: %w", r.err)
	}
	return funcs, nil
}

// checkSignature makes sure defined function i is (i32, i32, i32) -> i32,
// the body that fill writes.
func checkSignature(secs []section, i int) error {
	fi, ti := find(secs, secFunction), find(secs, secType)
	if fi < 0 || ti < 0 {
		return errors.New("the module has no function or type section")
	}
	r := &reader{b: secs[fi].payload}
	n := r.u32()
	var typeIdx uint32
	for j := uint32(0); j <= uint32(i) && j < n; j++ {
		typeIdx = r.u32()
	}
	if r.err != nil || uint32(i) >= n {
		return fmt.Errorf("function section: no function %d", i)
	}
	t := &reader{b: secs[ti].payload}
	nt := t.u32()
	if typeIdx >= nt {
		return fmt.Errorf("type %d out of range", typeIdx)
	}
	for j := uint32(0); ; j++ {
		if t.byte() != 0x60 {
			t.fail("not a function type")
		}
		params := t.bytes(t.u32())
		results := t.bytes(t.u32())
		if t.err != nil {
			return fmt.Errorf("type section: %w", t.err)
		}
		if j == typeIdx {
			if !bytes.Equal(params, []byte{0x7f, 0x7f, 0x7f}) || !bytes.Equal(results, []byte{0x7f}) {
				return errors.New("has the wrong signature, want (i32, i32, i32) -> i32")
			}
			return nil
		}
	}
}

// fill puts data into the module's slot: see the comment at the top.
func fill(module []byte, slot string, data []byte) ([]byte, error) {
	if len(data) > 1<<30 {
		return nil, fmt.Errorf("the %s bundle is %d bytes; the limit is 1 GiB", slot, len(data))
	}
	secs, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	defined, exports, err := slotFunction(secs, slotExportPrefix+slot)
	if err != nil {
		return nil, err
	}

	// The data section gets the bundle as its last segment.
	var seg uint32
	di := find(secs, secData)
	if di >= 0 {
		r := &reader{b: secs[di].payload}
		seg = r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("data section: %w", r.err)
		}
		payload := appendU32(nil, seg+1)
		payload = append(payload, r.b...)
		payload = append(payload, 0x01) // passive
		payload = appendU32(payload, uint32(len(data)))
		secs[di].payload = append(payload, data...)
	} else {
		payload := appendU32(nil, 1)
		payload = append(payload, 0x01)
		payload = appendU32(payload, uint32(len(data)))
		secs = append(secs, section{secData, append(payload, data...)})
	}

	// memory.init needs a data count section, before the code section.
	count := section{secDataCount, appendU32(nil, seg+1)}
	if dc := find(secs, secDataCount); dc >= 0 {
		secs[dc] = count
	} else {
		ci := find(secs, secCode)
		if ci < 0 {
			return nil, errors.New("the module has no code section")
		}
		secs = append(secs[:ci], append([]section{count}, secs[ci:]...)...)
	}

	// The slot function's new body.
	body := []byte{0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x08}
	body = appendU32(body, seg)
	body = append(body, 0x00, 0x41)
	body = appendS32(body, int32(len(data)))
	body = append(body, 0x0b)
	ci := find(secs, secCode)
	r := &reader{b: secs[ci].payload}
	n := r.u32()
	if uint32(defined) >= n {
		return nil, fmt.Errorf("code section: no function %d", defined)
	}
	code := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		old := r.bytes(size)
		if i == uint32(defined) {
			code = appendU32(code, uint32(len(body)))
			code = append(code, body...)
			continue
		}
		code = appendU32(code, size)
		code = append(code, old...)
	}
	if r.err != nil {
		return nil, fmt.Errorf("code section: %w", r.err)
	}
	secs[ci].payload = code
	secs[find(secs, secExport)].payload = exports
	return encodeModule(secs), nil
}
