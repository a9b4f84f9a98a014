package abi

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// Encoders and decoders of untrusted values must cost time and memory
// linear in their input: these check the cases that once were not, and the
// fuzz targets check the property on any input. Memory is measured as the
// bytes allocated (runtime.MemStats.TotalAlloc), which does not depend on
// the machine's speed or load, and time follows it here: each encoder
// touches every byte it allocates.

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// mapKeyNest is a map whose only key is a map whose only key is ... depth
// levels down, every value nil: 2 bytes a level.
func mapKeyNest(depth int) []byte {
	return append(bytes.Repeat([]byte{0x81}, depth), bytes.Repeat([]byte{0xc0}, depth+1)...)
}

func TestJSONMapKeysLinear(t *testing.T) {
	cases := map[string][]byte{
		`{"[1]":2}`:                   {0x81, 0x91, 0x01, 0x02},             // {[1]: 2}
		`{"{[1]:2}":3}`:               {0x81, 0x81, 0x91, 0x01, 0x02, 0x03}, // {{[1]: 2}: 3}
		`{"{\"a\":[\"b\"]}":null}`:    {0x81, 0x81, 0xa1, 'a', 0x91, 0xa1, 'b', 0xc0},
		`{"{{null:null}:null}":null}`: mapKeyNest(3),
	}
	for want, in := range cases {
		got, err := AppendJSON(nil, in)
		if err != nil || string(got) != want {
			t.Errorf("AppendJSON(% x) = %s, %v; want %s", in, got, err, want)
		}
		if _, err := FromJSON(nil, got); err != nil {
			t.Errorf("%s is not JSON: %v", got, err)
		}
	}
	// 58 bytes, 28 levels: once 512 MiB of JSON.
	in := mapKeyNest(28)
	var out []byte
	n := allocated(func() { out, _ = AppendJSON(nil, in) })
	if len(out) > maxJSONPerByte*len(in)+maxJSONConst || n > 1<<20 {
		t.Errorf("%d bytes of msgpack became %d bytes of JSON, allocating %d", len(in), len(out), n)
	}
}

// maxJSONPerByte and maxJSONConst bound AppendJSON's output (its doc).
const maxJSONPerByte, maxJSONConst = 8, 8

func TestDescribeRendersOnlyWhatItShows(t *testing.T) {
	big := AppendString(nil, strings.Repeat("x\n", 32<<20)) // 64 MiB, each \n escaped
	deep := append(AppendArrayHeader(nil, 1<<20), bytes.Repeat(AppendString(nil, strings.Repeat("y", 100)), 1<<20)...)
	for name, v := range map[string][]byte{"string": big, "array": deep, "map keys": mapKeyNest(500)} {
		var s string
		n := allocated(func() { s = Describe(v) })
		if len(s) > describeLen || n > 64<<10 {
			t.Errorf("%s: Describe of %d bytes allocated %d and returned %d bytes", name, len(v), n, len(s))
		}
	}
	if got := Describe(AppendString(nil, "short")); got != `"short"` {
		t.Errorf("Describe = %s", got)
	}
}

// A response declaring far more results than inputs is refused from its
// header, before any result is split.
func TestDecodeResponseCountsFirst(t *testing.T) {
	const n = 1 << 22
	resp := append([]byte{0x93, 0x00}, AppendArrayHeader(nil, n)...)
	resp = append(append(resp, bytes.Repeat([]byte{0xc0}, n)...), 0x90)
	var err error
	allocs := allocated(func() { _, err = DecodeResponse(resp, 1, nil) })
	if err == nil || !strings.Contains(err.Error(), "4194304 results for 1 inputs") || allocs > 64<<10 {
		t.Errorf("err = %v after allocating %d bytes", err, allocs)
	}
}

func TestMessagesCapped(t *testing.T) {
	long := strings.Repeat("m", 1<<20)
	r, err := DecodeResponse(AppendRecordErrors(append(AppendResponseHeader(nil, 1), 0xc0), []RecordError{{0, long}}), 1, nil)
	if err != nil || len(r.Errors) != 1 || len(r.Errors[0].Message) > MaxMessage+64 || !strings.HasSuffix(r.Errors[0].Message, "… (1044480 more bytes)") {
		t.Errorf("record error: %v, %d bytes", err, len(r.Errors[0].Message))
	}
	_, err = DecodeResponse(AppendErrorResponse(nil, CodeFailed, long), 1, nil)
	if err == nil || len(err.Error()) > MaxMessage+128 || !strings.Contains(err.Error(), "… (1044480 more bytes)") {
		t.Errorf("batch error: %d bytes", len(err.Error()))
	}
}

// FuzzJSONLinear: AppendJSON's output is at most maxJSONPerByte bytes per
// input byte, and what it allocates is linear in its input.
func FuzzJSONLinear(f *testing.F) {
	for _, s := range [][]byte{mapKeyNest(28), {0x81, 0x91, 0x01, 0x02}, {0x91, 0xa2, 0x01, '"'}, AppendString(nil, "\x00\x01\"\\")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out []byte
		n := allocated(func() { out, _ = AppendJSON(nil, b) })
		if len(out) > maxJSONPerByte*len(b)+maxJSONConst {
			t.Fatalf("%d bytes of msgpack became %d bytes of JSON: % x", len(b), len(out), b)
		}
		if n > 64*uint64(len(b))+64<<10 {
			t.Fatalf("%d bytes of msgpack: AppendJSON allocated %d bytes: % x", len(b), n, b)
		}
	})
}

// FuzzDescribeBounded: Describe's output and what it allocates do not grow
// with its input.
func FuzzDescribeBounded(f *testing.F) {
	for _, s := range [][]byte{mapKeyNest(28), AppendString(nil, strings.Repeat("é\x01", 1000)), {0xdd, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s string
		n := allocated(func() { s = Describe(b) })
		if len(s) > describeLen+200 || n > 64<<10 {
			t.Fatalf("Describe of %d bytes: %d bytes, %d allocated: % x", len(b), len(s), n, b)
		}
	})
}
