package abi

import (
	"bytes"
	"math"
	"strconv"
	"strings"
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
		return appendJavaDouble(dst, f), rest, nil
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

// appendJavaDouble formats f as Java's Double.toString does: plain decimal
// for 1e-3 <= |f| < 1e7 (always with a fraction, "2.0"), else scientific
// with a bare exponent ("1.0E10", "1.5E-4").
func appendJavaDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-3 && a < 1e7) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		if !bytes.ContainsRune(dst[start:], '.') {
			dst = append(dst, ".0"...)
		}
		return dst
	}
	s := strconv.FormatFloat(f, 'E', -1, 64)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if neg {
		exp = "-" + exp
	}
	return append(append(append(dst, mant...), 'E'), exp...)
}
