package abi

import (
	"strconv"
)

// AppendText writes a value the way Spark's pprint shows it (Scala's
// toString): strings bare, a [k, v] pair as (k,v), other arrays as
// List(a, b), maps as Map(k -> v), nil as null, floats with a decimal point.
// Undecodable bytes are shown as <invalid: ...> rather than dropped.
func AppendText(dst []byte, b []byte) []byte {
	out, _, err := appendText(dst, b, 0)
	if err != nil {
		return append(append(dst, "<invalid: "...), err.Error()+">"...)
	}
	return out
}

func appendText(dst []byte, b []byte, depth int) ([]byte, []byte, error) {
	if depth > maxDepth {
		return dst, b, ErrTruncated
	}
	switch TypeOf(b) {
	case TypeString, TypeBinary:
		s, rest, err := ReadStringBytes(b)
		return append(dst, s...), rest, err
	case TypeFloat:
		f, rest, err := ReadFloat(b)
		if err != nil {
			return dst, b, err
		}
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'G', -1, 64)
		for _, c := range dst[start:] {
			if c == '.' || c == 'E' || c == 'N' || c == 'I' {
				return dst, rest, nil
			}
		}
		return append(dst, ".0"...), rest, nil
	case TypeArray:
		n, rest, err := ArrayHeader(b)
		if err != nil {
			return dst, b, err
		}
		sep := ", "
		if n == 2 {
			dst, sep = append(dst, '('), ","
		} else {
			dst = append(dst, "List("...)
		}
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, sep...)
			}
			if dst, rest, err = appendText(dst, rest, depth+1); err != nil {
				return dst, b, err
			}
		}
		return append(dst, ')'), rest, nil
	case TypeMap:
		n, rest, err := MapHeader(b)
		if err != nil {
			return dst, b, err
		}
		dst = append(dst, "Map("...)
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			if dst, rest, err = appendText(dst, rest, depth+1); err != nil {
				return dst, b, err
			}
			dst = append(dst, " -> "...)
			if dst, rest, err = appendText(dst, rest, depth+1); err != nil {
				return dst, b, err
			}
		}
		return append(dst, ')'), rest, nil
	}
	// nil, bool, int: JSON's text is Scala's text.
	n, err := Skip(b)
	if err != nil {
		return dst, b, err
	}
	dst, err = AppendJSON(dst, b[:n])
	return dst, b[n:], err
}
