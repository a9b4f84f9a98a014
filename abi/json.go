package abi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON and msgpack map one to one: null, true/false, numbers (an integer
// literal that fits int64 is an int, anything else a float64), strings,
// arrays and objects (maps with string keys). These converters are
// hand-written so that batches: input and jsonl: output cost no reflection.

// FromJSON appends the msgpack encoding of the single JSON value in src.
func FromJSON(dst []byte, src []byte) ([]byte, error) {
	p := jsonParser{src: src}
	p.ws()
	out, err := p.value(dst, 0)
	if err != nil {
		return dst, err
	}
	p.ws()
	if p.i != len(p.src) {
		return dst, p.errf("unexpected %q after the value", p.src[p.i])
	}
	return out, nil
}

type jsonParser struct {
	src []byte
	i   int
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) ws() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) lit(word string) bool {
	if len(p.src)-p.i >= len(word) && string(p.src[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *jsonParser) value(dst []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, p.errf("nesting deeper than %d", maxDepth)
	}
	if p.i >= len(p.src) {
		return dst, p.errf("unexpected end of input")
	}
	switch c := p.src[p.i]; {
	case c == '{':
		return p.object(dst, depth)
	case c == '[':
		return p.array(dst, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return dst, err
		}
		return AppendStringBytes(dst, s), nil
	case c == 't' && p.lit("true"):
		return AppendBool(dst, true), nil
	case c == 'f' && p.lit("false"):
		return AppendBool(dst, false), nil
	case c == 'n' && p.lit("null"):
		return AppendNil(dst), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(dst)
	default:
		return dst, p.errf("unexpected %q", c)
	}
}

func (p *jsonParser) array(dst []byte, depth int) ([]byte, error) {
	p.i++ // [
	// Elements are encoded into a scratch area after dst, then the header is
	// inserted once the count is known.
	start := len(dst)
	n := 0
	p.ws()
	if p.i < len(p.src) && p.src[p.i] == ']' {
		p.i++
		return AppendArrayHeader(dst, 0), nil
	}
	var err error
	for {
		p.ws()
		dst, err = p.value(dst, depth+1)
		if err != nil {
			return dst, err
		}
		n++
		p.ws()
		if p.i >= len(p.src) {
			return dst, p.errf("unterminated array")
		}
		if p.src[p.i] == ',' {
			p.i++
			continue
		}
		if p.src[p.i] == ']' {
			p.i++
			break
		}
		return dst, p.errf("want ',' or ']' in array, got %q", p.src[p.i])
	}
	return insertHeader(dst, start, AppendArrayHeader(nil, n)), nil
}

func (p *jsonParser) object(dst []byte, depth int) ([]byte, error) {
	p.i++ // {
	start := len(dst)
	n := 0
	p.ws()
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.i++
		return AppendMapHeader(dst, 0), nil
	}
	for {
		p.ws()
		if p.i >= len(p.src) || p.src[p.i] != '"' {
			return dst, p.errf("want a string key in object")
		}
		k, err := p.str()
		if err != nil {
			return dst, err
		}
		dst = AppendStringBytes(dst, k)
		p.ws()
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return dst, p.errf("want ':' after object key")
		}
		p.i++
		p.ws()
		dst, err = p.value(dst, depth+1)
		if err != nil {
			return dst, err
		}
		n++
		p.ws()
		if p.i >= len(p.src) {
			return dst, p.errf("unterminated object")
		}
		if p.src[p.i] == ',' {
			p.i++
			continue
		}
		if p.src[p.i] == '}' {
			p.i++
			break
		}
		return dst, p.errf("want ',' or '}' in object, got %q", p.src[p.i])
	}
	return insertHeader(dst, start, AppendMapHeader(nil, n)), nil
}

func insertHeader(dst []byte, at int, hdr []byte) []byte {
	dst = append(dst, hdr...)
	copy(dst[at+len(hdr):], dst[at:len(dst)-len(hdr)])
	copy(dst[at:], hdr)
	return dst
}

// str parses a JSON string at p.i and returns its unescaped bytes.
func (p *jsonParser) str() ([]byte, error) {
	p.i++ // "
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c == '"' {
			s := p.src[start:p.i]
			p.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, p.errf("control character in string")
		}
		p.i++
	}
	out := append([]byte(nil), p.src[start:p.i]...)
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case c == '"':
			p.i++
			return out, nil
		case c < 0x20:
			return nil, p.errf("control character in string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.src) {
			break
		}
		e := p.src[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.errf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.i+1 < len(p.src) && p.src[p.i] == '\\' && p.src[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					var ok2 bool
					if r2, ok2 = p.hex4(); !ok2 {
						p.i = save
						r2 = -1
					}
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
				} else {
					return nil, p.errf("unpaired surrogate in \\u escape")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.errf("bad escape \\%c", e)
		}
	}
	return nil, p.errf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.src)-p.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.src[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

func (p *jsonParser) number(dst []byte) ([]byte, error) {
	start := p.i
	isFloat := false
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' {
			p.i++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' {
			isFloat = true
			p.i++
			continue
		}
		break
	}
	lit := string(p.src[start:p.i])
	if !isFloat {
		if v, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return AppendInt(dst, v), nil
		}
		if v, err := strconv.ParseUint(lit, 10, 64); err == nil {
			return AppendUint(dst, v), nil
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return dst, fmt.Errorf("invalid JSON at byte %d: bad number %q", start, lit)
	}
	return AppendFloat(dst, f), nil
}

// AppendJSON appends the JSON text of the msgpack value b. Binary values are
// written as strings of their bytes; NaN and infinities as the strings
// "NaN", "Infinity" and "-Infinity" (JSON has no literal for them). A map
// key that is not a string becomes a string of its JSON text, in which a
// key that is not a string stands bare ({"[1]":2} for the map {[1]: 2}, but
// "{[1]:2}" for that map used as a key): quoting it again at every level
// would double the backslashes per level, and a few dozen bytes of msgpack
// would need gigabytes of JSON. So the output is linear in the input: at
// most 8 bytes of JSON per byte of msgpack, plus a constant.
func AppendJSON(dst []byte, b []byte) ([]byte, error) {
	dst, _, err := jsonEncoder{}.append(dst, b, 0)
	return dst, err
}

// jsonEncoder writes JSON text. With limit > 0 it stops once dst is longer
// than limit, returning errCut, so that a caller showing only the start of
// a value never renders all of it; bareKeys is the mode for the text of a
// map key (AppendJSON).
type jsonEncoder struct {
	limit    int
	bareKeys bool
}

var errCut = errors.New("cut")

func (e jsonEncoder) append(dst []byte, b []byte, depth int) ([]byte, []byte, error) {
	if depth > maxDepth {
		return dst, b, errors.New("msgpack: nesting deeper than 512")
	}
	if e.limit > 0 && len(dst) > e.limit {
		return dst, b, errCut
	}
	switch TypeOf(b) {
	case TypeNil:
		return append(dst, "null"...), b[1:], nil
	case TypeBool:
		v, rest, err := ReadBool(b)
		return strconv.AppendBool(dst, v), rest, err
	case TypeInt:
		if b[0] == 0xcf {
			if len(b) < 9 {
				return dst, b, ErrTruncated
			}
			u := uint64(b[1])<<56 | uint64(b[2])<<48 | uint64(b[3])<<40 | uint64(b[4])<<32 |
				uint64(b[5])<<24 | uint64(b[6])<<16 | uint64(b[7])<<8 | uint64(b[8])
			return strconv.AppendUint(dst, u, 10), b[9:], nil
		}
		v, rest, err := ReadInt(b)
		return strconv.AppendInt(dst, v, 10), rest, err
	case TypeFloat:
		f, rest, err := ReadFloat(b)
		if err != nil {
			return dst, b, err
		}
		return AppendJSONFloat(dst, f), rest, nil
	case TypeString, TypeBinary:
		s, rest, err := ReadStringBytes(b)
		if err != nil {
			return dst, b, err
		}
		if e.limit > 0 && len(s) > e.limit-len(dst) {
			return AppendJSONString(dst, s[:max(e.limit-len(dst), 0)]), rest, errCut
		}
		return AppendJSONString(dst, s), rest, nil
	case TypeArray:
		n, rest, err := ArrayHeader(b)
		if err != nil {
			return dst, b, err
		}
		dst = append(dst, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, rest, err = e.append(dst, rest, depth+1); err != nil {
				return dst, b, err
			}
		}
		return append(dst, ']'), rest, nil
	case TypeMap:
		n, rest, err := MapHeader(b)
		if err != nil {
			return dst, b, err
		}
		dst = append(dst, '{')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if TypeOf(rest) == TypeString || e.bareKeys {
				if dst, rest, err = e.append(dst, rest, depth+1); err != nil {
					return dst, b, err
				}
			} else { // a non-string key becomes the string of its JSON text
				var kj []byte
				if kj, rest, err = (jsonEncoder{limit: e.limit, bareKeys: true}).append(nil, rest, depth+1); err != nil && err != errCut {
					return dst, b, err
				}
				dst = AppendJSONString(dst, kj)
				if err != nil {
					return dst, b, err
				}
			}
			dst = append(dst, ':')
			if dst, rest, err = e.append(dst, rest, depth+1); err != nil {
				return dst, b, err
			}
		}
		return append(dst, '}'), rest, nil
	case TypeExt:
		return dst, b, errors.New("msgpack ext values have no JSON form")
	}
	if len(b) == 0 {
		return dst, b, ErrTruncated
	}
	return dst, b, fmt.Errorf("msgpack: invalid type byte 0x%02x", b[0])
}

// AppendJSONFloat writes f so that it reads back as a float: 2.0, not 2.
func AppendJSONFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'E' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString writes s as a JSON string. Bytes that are not valid UTF-8
// are written as \u00XX escapes of the byte (so the text stays valid JSON and
// every byte is still visible); valid text is copied as is.
func AppendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			i++
			continue
		}
		dst = append(dst, s[i:i+size]...)
		i += size
	}
	return append(dst, '"')
}
