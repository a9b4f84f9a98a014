// Package logic is the per-record logic of the benchmark workloads as plain
// Go, shared by the Go guest (bench/guest, compiled to WebAssembly) and the
// native in-host baselines, so that a WASM/native ratio compares the same
// code and measures only what running it through wstream costs.
package logic

import "strings"

// SplitWords is Spark's line.split(" "), as plugins/wordcount does it.
func SplitWords(line string) []string { return strings.Split(line, " ") }

// Field returns the value of a top-level "key": field of a flat JSON object
// without decoding the rest: a string's contents (no escapes are expected in
// the generated events) or a number's text. ok is false when key is absent.
// A hand-written scan, as performance-minded stream code would use; both
// sides of the comparison run this same function.
func Field(ev, key string) (val string, ok bool) {
	for i := 0; i < len(ev); {
		j := strings.IndexByte(ev[i:], '"')
		if j < 0 {
			return "", false
		}
		i += j + 1
		end := strings.IndexByte(ev[i:], '"')
		if end < 0 {
			return "", false
		}
		name := ev[i : i+end]
		i += end + 1
		if i >= len(ev) || ev[i] != ':' {
			continue // a string value, not a name
		}
		i++
		if name != key {
			continue
		}
		if i < len(ev) && ev[i] == '"' {
			k := strings.IndexByte(ev[i+1:], '"')
			if k < 0 {
				return "", false
			}
			return ev[i+1 : i+1+k], true
		}
		k := i
		for k < len(ev) && ev[k] != ',' && ev[k] != '}' {
			k++
		}
		return ev[i:k], true
	}
	return "", false
}

// IsClick keeps the events whose "type" is "click".
func IsClick(ev string) bool {
	t, _ := Field(ev, "type")
	return t == "click"
}

// EventPair maps an event to its (user, amount) pair.
func EventPair(ev string) (user string, amount int64) {
	user, _ = Field(ev, "user")
	a, _ := Field(ev, "amount")
	for i := 0; i < len(a); i++ {
		if c := a[i]; c >= '0' && c <= '9' {
			amount = amount*10 + int64(c-'0')
		}
	}
	return user, amount
}

// Upper is the per-message transform of the Benthos comparison: ASCII
// upper case (the C guests do exactly this).
func Upper(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
