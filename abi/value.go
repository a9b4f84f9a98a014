package abi

import (
	"fmt"
	"math"
)

// Decode turns one msgpack value into plain Go values, for guests and tests:
// nil, bool, int64, float64, string, []byte, []any and map[string]any (a map
// key that is not a string is rejected). It uses type switches, not reflection.
func Decode(b []byte) (any, error) {
	v, _, err := decode(b, 0)
	return v, err
}

// DecodeNext is Decode for the first value of b; it also returns the rest.
func DecodeNext(b []byte) (any, []byte, error) { return decode(b, 0) }

func decode(b []byte, depth int) (any, []byte, error) {
	if depth > maxDepth {
		return nil, b, fmt.Errorf("msgpack: nesting deeper than %d", maxDepth)
	}
	switch t := TypeOf(b); t {
	case TypeNil:
		return nil, b[1:], nil
	case TypeBool:
		return ReadBool(b)
	case TypeInt:
		if b[0] == 0xcf {
			if len(b) < 9 {
				return nil, b, ErrTruncated
			}
			u := uint64(b[1])<<56 | uint64(b[2])<<48 | uint64(b[3])<<40 | uint64(b[4])<<32 |
				uint64(b[5])<<24 | uint64(b[6])<<16 | uint64(b[7])<<8 | uint64(b[8])
			if u > math.MaxInt64 {
				return u, b[9:], nil
			}
			return int64(u), b[9:], nil
		}
		return ReadInt(b)
	case TypeFloat:
		return ReadFloat(b)
	case TypeString:
		return ReadString(b)
	case TypeBinary:
		s, rest, err := ReadStringBytes(b)
		return append([]byte(nil), s...), rest, err
	case TypeArray:
		n, rest, err := ArrayHeader(b)
		if err != nil {
			return nil, b, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], rest, err = decode(rest, depth+1); err != nil {
				return nil, b, err
			}
		}
		return out, rest, nil
	case TypeMap:
		n, rest, err := MapHeader(b)
		if err != nil {
			return nil, b, err
		}
		out := make(map[string]any, n)
		for i := 0; i < n; i++ {
			var k string
			if k, rest, err = ReadString(rest); err != nil {
				return nil, b, fmt.Errorf("map key: %w", err)
			}
			if out[k], rest, err = decode(rest, depth+1); err != nil {
				return nil, b, err
			}
		}
		return out, rest, nil
	case TypeInvalid:
		if len(b) == 0 {
			return nil, b, ErrTruncated
		}
		return nil, b, fmt.Errorf("msgpack: invalid type byte 0x%02x", b[0])
	default:
		return nil, b, fmt.Errorf("msgpack: %s values are not supported", t)
	}
}

// Append encodes a plain Go value (the types Decode returns, plus the other
// sized ints, float32, Raw and [2]any for pairs).
func Append(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return AppendNil(dst), nil
	case bool:
		return AppendBool(dst, x), nil
	case int:
		return AppendInt(dst, int64(x)), nil
	case int8:
		return AppendInt(dst, int64(x)), nil
	case int16:
		return AppendInt(dst, int64(x)), nil
	case int32:
		return AppendInt(dst, int64(x)), nil
	case int64:
		return AppendInt(dst, x), nil
	case uint:
		return AppendUint(dst, uint64(x)), nil
	case uint8:
		return AppendUint(dst, uint64(x)), nil
	case uint16:
		return AppendUint(dst, uint64(x)), nil
	case uint32:
		return AppendUint(dst, uint64(x)), nil
	case uint64:
		return AppendUint(dst, x), nil
	case float32:
		return AppendFloat(dst, float64(x)), nil
	case float64:
		return AppendFloat(dst, x), nil
	case string:
		return AppendString(dst, x), nil
	case []byte:
		return AppendBinary(dst, x), nil
	case Raw:
		if _, err := Skip(x); err != nil {
			return dst, err
		}
		return append(dst, x...), nil
	case [2]any:
		return Append(dst, x[:])
	case []any:
		var err error
		dst = AppendArrayHeader(dst, len(x))
		for _, e := range x {
			if dst, err = Append(dst, e); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []string:
		dst = AppendArrayHeader(dst, len(x))
		for _, e := range x {
			dst = AppendString(dst, e)
		}
		return dst, nil
	case []int64:
		dst = AppendArrayHeader(dst, len(x))
		for _, e := range x {
			dst = AppendInt(dst, e)
		}
		return dst, nil
	case map[string]any:
		var err error
		dst = AppendMapHeader(dst, len(x))
		for _, k := range sortedKeys(x) {
			dst = AppendString(dst, k)
			if dst, err = Append(dst, x[k]); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	return dst, fmt.Errorf("msgpack: cannot encode a %T", v)
}

// sortedKeys gives maps a deterministic encoding (insertion sort: maps here
// are small, and this avoids importing sort into guests).
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		i := len(keys)
		keys = append(keys, k)
		for i > 0 && keys[i-1] > k {
			keys[i] = keys[i-1]
			i--
		}
		keys[i] = k
	}
	return keys
}
