package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Raw is exactly one encoded msgpack value. The host stores records as Raw
// and forwards them without decoding; keys are compared as Raw bytes.
type Raw []byte

// ErrTruncated means the input ended inside a value.
var ErrTruncated = errors.New("msgpack: truncated value")

// Type is the family of a msgpack value.
type Type uint8

const (
	TypeInvalid Type = iota
	TypeNil
	TypeBool
	TypeInt   // signed or unsigned integer
	TypeFloat // float32 or float64
	TypeString
	TypeBinary
	TypeArray
	TypeMap
	TypeExt
)

func (t Type) String() string {
	return [...]string{"invalid", "nil", "bool", "int", "float", "string", "binary", "array", "map", "ext"}[t]
}

// TypeOf returns the family of the value starting at b[0].
func TypeOf(b []byte) Type {
	if len(b) == 0 {
		return TypeInvalid
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0:
		return TypeInt
	case c <= 0x8f:
		return TypeMap
	case c <= 0x9f:
		return TypeArray
	case c <= 0xbf:
		return TypeString
	}
	switch c {
	case 0xc0:
		return TypeNil
	case 0xc2, 0xc3:
		return TypeBool
	case 0xc4, 0xc5, 0xc6:
		return TypeBinary
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return TypeExt
	case 0xca, 0xcb:
		return TypeFloat
	case 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		return TypeInt
	case 0xd9, 0xda, 0xdb:
		return TypeString
	case 0xdc, 0xdd:
		return TypeArray
	case 0xde, 0xdf:
		return TypeMap
	}
	return TypeInvalid // 0xc1 is never used
}

// ---- encoding: append-style, no allocation beyond growing dst ----

// AppendNil appends msgpack nil.
func AppendNil(dst []byte) []byte { return append(dst, 0xc0) }

// AppendBool appends a bool.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

// AppendInt appends v in its canonical form (ABI.md §5): a non-negative
// value as positive fixint or the shortest uint8/16/32/64, a negative one as
// negative fixint or the shortest int8/16/32/64 — what common msgpack
// libraries write, so that keys encoded by any SDK compare equal as bytes.
func AppendInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return AppendUint(dst, uint64(v))
	}
	switch {
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

// AppendUint appends v in its canonical form: positive fixint or the
// shortest uint8/16/32/64.
func AppendUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

// AppendFloat appends v as float64 (always 9 bytes, so a float stays a float
// across a round trip).
func AppendFloat(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(v))
}

// AppendString appends a str value.
func AppendString(dst []byte, s string) []byte {
	dst = appendStrHeader(dst, len(s))
	return append(dst, s...)
}

// AppendStringBytes appends a str value whose bytes are in s.
func AppendStringBytes(dst []byte, s []byte) []byte {
	dst = appendStrHeader(dst, len(s))
	return append(dst, s...)
}

func appendStrHeader(dst []byte, n int) []byte {
	switch {
	case n <= 31:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
}

// AppendBinary appends a bin value.
func AppendBinary(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

// AppendArrayHeader appends the header of an array of n values; the caller
// appends the n values after it.
func AppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

// AppendMapHeader appends the header of a map of n key/value pairs.
func AppendMapHeader(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

// AppendPair appends the two-element array [k, v], the ABI's key/value pair.
func AppendPair(dst []byte, k, v Raw) []byte {
	dst = append(dst, 0x92)
	dst = append(dst, k...)
	return append(dst, v...)
}

// AppendArray appends an array holding the given raw values.
func AppendArray(dst []byte, vals []Raw) []byte {
	dst = AppendArrayHeader(dst, len(vals))
	for _, v := range vals {
		dst = append(dst, v...)
	}
	return dst
}

// ---- decoding ----

// maxContainer bounds array and map lengths so a hostile header cannot make
// a decoder allocate gigabytes: no container can have more elements than the
// input has bytes.
func checkCount(n uint64, remaining int) error {
	if n > uint64(remaining) {
		return fmt.Errorf("msgpack: container of %d elements in %d bytes", n, remaining)
	}
	return nil
}

// header decodes the header of the value at b and returns: its type, the
// header length, the payload length in bytes (strings, binary, ext) or the
// element count (arrays: n, maps: 2n).
func header(b []byte) (t Type, hdr int, n uint64, err error) {
	if len(b) == 0 {
		return TypeInvalid, 0, 0, ErrTruncated
	}
	c := b[0]
	need := func(k int) error {
		if len(b) < k {
			return ErrTruncated
		}
		return nil
	}
	switch {
	case c <= 0x7f || c >= 0xe0:
		return TypeInt, 1, 0, nil
	case c <= 0x8f:
		return TypeMap, 1, uint64(c&0x0f) * 2, nil
	case c <= 0x9f:
		return TypeArray, 1, uint64(c & 0x0f), nil
	case c <= 0xbf:
		return TypeString, 1, uint64(c & 0x1f), nil
	}
	switch c {
	case 0xc0:
		return TypeNil, 1, 0, nil
	case 0xc2, 0xc3:
		return TypeBool, 1, 0, nil
	case 0xc4, 0xd9:
		if err := need(2); err != nil {
			return 0, 0, 0, err
		}
		return TypeOf(b), 2, uint64(b[1]), nil
	case 0xc5, 0xda:
		if err := need(3); err != nil {
			return 0, 0, 0, err
		}
		return TypeOf(b), 3, uint64(binary.BigEndian.Uint16(b[1:])), nil
	case 0xc6, 0xdb:
		if err := need(5); err != nil {
			return 0, 0, 0, err
		}
		return TypeOf(b), 5, uint64(binary.BigEndian.Uint32(b[1:])), nil
	case 0xc7:
		if err := need(3); err != nil {
			return 0, 0, 0, err
		}
		return TypeExt, 3, uint64(b[1]), nil
	case 0xc8:
		if err := need(4); err != nil {
			return 0, 0, 0, err
		}
		return TypeExt, 4, uint64(binary.BigEndian.Uint16(b[1:])), nil
	case 0xc9:
		if err := need(6); err != nil {
			return 0, 0, 0, err
		}
		return TypeExt, 6, uint64(binary.BigEndian.Uint32(b[1:])), nil
	case 0xca:
		return TypeFloat, 1, 4, nil
	case 0xcb:
		return TypeFloat, 1, 8, nil
	case 0xcc, 0xd0:
		return TypeInt, 1, 1, nil
	case 0xcd, 0xd1:
		return TypeInt, 1, 2, nil
	case 0xce, 0xd2:
		return TypeInt, 1, 4, nil
	case 0xcf, 0xd3:
		return TypeInt, 1, 8, nil
	case 0xd4:
		return TypeExt, 2, 1, nil
	case 0xd5:
		return TypeExt, 2, 2, nil
	case 0xd6:
		return TypeExt, 2, 4, nil
	case 0xd7:
		return TypeExt, 2, 8, nil
	case 0xd8:
		return TypeExt, 2, 16, nil
	case 0xdc:
		if err := need(3); err != nil {
			return 0, 0, 0, err
		}
		return TypeArray, 3, uint64(binary.BigEndian.Uint16(b[1:])), nil
	case 0xdd:
		if err := need(5); err != nil {
			return 0, 0, 0, err
		}
		return TypeArray, 5, uint64(binary.BigEndian.Uint32(b[1:])), nil
	case 0xde:
		if err := need(3); err != nil {
			return 0, 0, 0, err
		}
		return TypeMap, 3, uint64(binary.BigEndian.Uint16(b[1:])) * 2, nil
	case 0xdf:
		if err := need(5); err != nil {
			return 0, 0, 0, err
		}
		return TypeMap, 5, uint64(binary.BigEndian.Uint32(b[1:])) * 2, nil
	}
	return TypeInvalid, 0, 0, fmt.Errorf("msgpack: invalid type byte 0x%02x", c)
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

// Skip returns the length in bytes of the one value at the start of b.
func Skip(b []byte) (int, error) { return skip(b, 0) }

func skip(b []byte, depth int) (int, error) { return skipExt(b, depth, nil) }

// skipExt is skip that also sets *ext, when ext is not nil, if the value
// holds an ext value.
func skipExt(b []byte, depth int, ext *bool) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("msgpack: nesting deeper than 512")
	}
	// Fast path for what records are mostly made of: fixints, nil, bools
	// and short strings, whose size is in their first byte.
	if len(b) > 0 {
		switch c := b[0]; {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
			return 1, nil
		case c >= 0xa0 && c <= 0xbf:
			if n := 1 + int(c&0x1f); n <= len(b) {
				return n, nil
			}
			return 0, ErrTruncated
		}
	}
	t, hdr, n, err := header(b)
	if err != nil {
		return 0, err
	}
	if len(b) < hdr {
		return 0, ErrTruncated
	}
	switch t {
	case TypeArray, TypeMap:
		if err := checkCount(n, len(b)-hdr); err != nil {
			return 0, err
		}
		off := hdr
		for i := uint64(0); i < n; i++ {
			k, err := skipExt(b[off:], depth+1, ext)
			if err != nil {
				return 0, err
			}
			off += k
		}
		return off, nil
	case TypeExt:
		if ext != nil {
			*ext = true
		}
	}
	if uint64(len(b)-hdr) < n {
		return 0, ErrTruncated
	}
	return hdr + int(n), nil
}

// splitArrayExt is SplitArray that also sets *ext, when ext is not nil, if
// an element holds an ext value.
func splitArrayExt(dst []Raw, b []byte, ext *bool) ([]Raw, []byte, error) {
	n, rest, err := ArrayHeader(b)
	if err != nil {
		return dst, b, err
	}
	for i := 0; i < n; i++ {
		k, err := skipExt(rest, 0, ext)
		if err != nil {
			return dst, b, fmt.Errorf("element %d: %w", i, err)
		}
		dst = append(dst, Raw(rest[:k:k]))
		rest = rest[k:]
	}
	return dst, rest, nil
}

// Next splits the first value off b.
func Next(b []byte) (Raw, []byte, error) {
	n, err := Skip(b)
	if err != nil {
		return nil, b, err
	}
	return Raw(b[:n:n]), b[n:], nil
}

// ArrayHeader decodes an array header at b and returns the element count and
// the bytes after the header.
func ArrayHeader(b []byte) (int, []byte, error) {
	t, hdr, n, err := header(b)
	if err != nil {
		return 0, b, err
	}
	if t != TypeArray {
		return 0, b, fmt.Errorf("msgpack: want array, got %s", t)
	}
	if err := checkCount(n, len(b)-hdr); err != nil {
		return 0, b, err
	}
	return int(n), b[hdr:], nil
}

// MapHeader decodes a map header and returns the number of pairs.
func MapHeader(b []byte) (int, []byte, error) {
	t, hdr, n, err := header(b)
	if err != nil {
		return 0, b, err
	}
	if t != TypeMap {
		return 0, b, fmt.Errorf("msgpack: want map, got %s", t)
	}
	if err := checkCount(n, len(b)-hdr); err != nil {
		return 0, b, err
	}
	return int(n / 2), b[hdr:], nil
}

// SplitArray splits the array at the start of b into its elements, which
// alias b. It appends to dst, so a caller can reuse a slice across batches.
func SplitArray(dst []Raw, b []byte) ([]Raw, []byte, error) { return splitArrayExt(dst, b, nil) }

// SplitPair splits a two-element array [k, v].
func SplitPair(b Raw) (k, v Raw, err error) {
	if len(b) > 0 && b[0] == 0x92 {
		k, rest, err := Next(b[1:])
		if err != nil {
			return nil, nil, err
		}
		v, _, err = Next(rest)
		return k, v, err
	}
	n, rest, err := ArrayHeader(b)
	if err != nil || n != 2 {
		return nil, nil, fmt.Errorf("want a [key, value] pair, got %s", Describe(b))
	}
	k, rest, err = Next(rest)
	if err != nil {
		return nil, nil, err
	}
	v, _, err = Next(rest)
	return k, v, err
}

// ReadInt decodes an integer value.
func ReadInt(b []byte) (int64, []byte, error) {
	t, hdr, n, err := header(b)
	if err != nil {
		return 0, b, err
	}
	if t != TypeInt {
		return 0, b, fmt.Errorf("msgpack: want int, got %s", t)
	}
	if len(b) < hdr+int(n) {
		return 0, b, ErrTruncated
	}
	p := b[hdr:]
	var v int64
	switch b[0] {
	case 0xcc:
		v = int64(p[0])
	case 0xcd:
		v = int64(binary.BigEndian.Uint16(p))
	case 0xce:
		v = int64(binary.BigEndian.Uint32(p))
	case 0xcf:
		u := binary.BigEndian.Uint64(p)
		if u > math.MaxInt64 {
			return 0, b, fmt.Errorf("msgpack: uint %d overflows int64", u)
		}
		v = int64(u)
	case 0xd0:
		v = int64(int8(p[0]))
	case 0xd1:
		v = int64(int16(binary.BigEndian.Uint16(p)))
	case 0xd2:
		v = int64(int32(binary.BigEndian.Uint32(p)))
	case 0xd3:
		v = int64(binary.BigEndian.Uint64(p))
	default:
		v = int64(int8(b[0]))
	}
	return v, b[hdr+int(n):], nil
}

// ReadFloat decodes a float value (float32 widens to float64).
func ReadFloat(b []byte) (float64, []byte, error) {
	if len(b) >= 5 && b[0] == 0xca {
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), b[5:], nil
	}
	if len(b) >= 9 && b[0] == 0xcb {
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), b[9:], nil
	}
	return 0, b, fmt.Errorf("msgpack: want float, got %s", TypeOf(b))
}

// ReadBool decodes a bool.
func ReadBool(b []byte) (bool, []byte, error) {
	if len(b) > 0 && (b[0] == 0xc2 || b[0] == 0xc3) {
		return b[0] == 0xc3, b[1:], nil
	}
	return false, b, fmt.Errorf("msgpack: want bool, got %s", TypeOf(b))
}

// ReadStringBytes decodes a str (or bin) value; the result aliases b.
func ReadStringBytes(b []byte) ([]byte, []byte, error) {
	t, hdr, n, err := header(b)
	if err != nil {
		return nil, b, err
	}
	if t != TypeString && t != TypeBinary {
		return nil, b, fmt.Errorf("msgpack: want string, got %s", t)
	}
	if uint64(len(b)-hdr) < n {
		return nil, b, ErrTruncated
	}
	end := hdr + int(n)
	return b[hdr:end:end], b[end:], nil
}

// ReadString decodes a str value.
func ReadString(b []byte) (string, []byte, error) {
	s, rest, err := ReadStringBytes(b)
	return string(s), rest, err
}

// IsNil reports whether the value is msgpack nil.
func IsNil(b []byte) bool { return len(b) > 0 && b[0] == 0xc0 }

// describeLen is how much of a value Describe shows.
const describeLen = 80

// Describe renders a value shortly for error messages. It renders no more
// than it shows, so that its cost does not grow with the value: a guest's
// bad response may be megabytes.
func Describe(b []byte) string {
	s, _, err := jsonEncoder{limit: describeLen}.append(make([]byte, 0, 2*describeLen), b, 0)
	if err != nil && err != errCut {
		return fmt.Sprintf("<%s, undecodable: %v>", TypeOf(b), err)
	}
	if len(s) > describeLen {
		return string(s[:describeLen-3]) + "..."
	}
	return string(s)
}
