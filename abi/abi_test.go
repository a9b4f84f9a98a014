package abi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The hand-written codec is checked against the reference msgpack library in
// both directions.

func TestIntsAgainstReference(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, -1, -32, -33, -128, -129, 32767, 32768, 65535, 65536,
		-32768, -32769, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxUint32,
		math.MaxUint32 + 1, math.MaxInt64, math.MinInt64} {
		enc := AppendInt(nil, v)
		var ref int64
		if err := msgpack.Unmarshal(enc, &ref); err != nil || ref != v {
			t.Fatalf("AppendInt(%d) = %x: reference reads %d, %v", v, enc, ref, err)
		}
		refEnc, _ := msgpack.Marshal(v)
		got, rest, err := ReadInt(refEnc)
		if err != nil || got != v || len(rest) != 0 {
			t.Fatalf("ReadInt(%x) = %d, %v; want %d", refEnc, got, err, v)
		}
		if n, err := Skip(enc); err != nil || n != len(enc) {
			t.Fatalf("Skip(%x) = %d, %v", enc, n, err)
		}
	}
}

func TestValuesAgainstReference(t *testing.T) {
	long := strings.Repeat("x", 70000)
	values := []any{nil, true, false, int64(5), -7.5, "", "héllo", long, []byte{1, 2, 3},
		[]any{int64(1), "a", []any{}}, map[string]any{"b": int64(2), "a": []any{nil}},
		make([]any, 20), strings.Repeat("y", 300)}
	for _, v := range values {
		enc, err := Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		var ref any
		if err := msgpack.Unmarshal(enc, &ref); err != nil {
			t.Fatalf("reference cannot read our %T: %v", v, err)
		}
		refEnc, err := msgpack.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(refEnc)
		if err != nil {
			t.Fatalf("Decode(reference %T): %v", v, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(v)) {
			t.Fatalf("round trip of %T: got %#v", v, got)
		}
	}
}

// normalize maps the reference library's integer widths to int64.
func normalize(v any) any {
	switch x := v.(type) {
	case int8, int16, int32, int, uint8, uint16, uint32, uint64:
		return reflect.ValueOf(x).Convert(reflect.TypeOf(int64(0))).Interface()
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

func TestJSONRoundTrip(t *testing.T) {
	for _, in := range []string{
		`null`, `true`, `0`, `-12`, `1.5`, `2.0`, `1e300`, `"a\"b\\c\n\u00e9\ud83d\ude00"`, `[]`, `{}`,
		`[1,[2,[3]],"x",null,false]`, `{"a":1,"b":[true,{"c":"d"}]}`, `18446744073709551615`,
	} {
		mp, err := FromJSON(nil, []byte(in))
		if err != nil {
			t.Fatalf("FromJSON(%s): %v", in, err)
		}
		out, err := AppendJSON(nil, mp)
		if err != nil {
			t.Fatalf("AppendJSON(%s): %v", in, err)
		}
		var a, b any
		json.Unmarshal([]byte(in), &a)
		if err := json.Unmarshal(out, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("JSON %s came back as %s (%v)", in, out, err)
		}
	}
	// A float stays a float, an int an int.
	mp, _ := FromJSON(nil, []byte(`[2.0, 2]`))
	if out, _ := AppendJSON(nil, mp); string(out) != `[2.0,2]` {
		t.Fatalf("got %s", out)
	}
}

func TestFromJSONErrors(t *testing.T) {
	for _, in := range []string{``, `[`, `[1,]`, `{"a"}`, `tru`, `"abc`, `[1] x`, `{1:2}`, `"\x"`, "\"a\x01\""} {
		if _, err := FromJSON(nil, []byte(in)); err == nil {
			t.Errorf("FromJSON(%q) succeeded", in)
		} else if !strings.Contains(err.Error(), "invalid JSON") {
			t.Errorf("FromJSON(%q): %v", in, err)
		}
	}
}

func TestInvalidUTF8IsVisibleInJSON(t *testing.T) {
	out, err := AppendJSON(nil, AppendStringBytes(nil, []byte{'a', 0xff, 'b'}))
	if err != nil || string(out) != `"a\u00ffb"` {
		t.Fatalf("got %s, %v", out, err)
	}
}

func TestText(t *testing.T) {
	cases := map[string]string{
		`["a",1]`:          `(a,1)`,
		`["k",[1,2,3]]`:    `(k,List(1, 2, 3))`,
		`2.0`:              `2.0`,
		`null`:             `null`,
		`{"a":1}`:          `Map(a -> 1)`,
		`["x",[1,null]]`:   `(x,(1,null))`,
		`"plain text"`:     `plain text`,
		`[]`:               `List()`,
		`[1.5,true,"s"]`:   `List(1.5, true, s)`,
		`-3`:               `-3`,
		`12345678901234.0`: `1.2345678901234E13`,
	}
	for in, want := range cases {
		mp, err := FromJSON(nil, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(AppendText(nil, mp)); got != want {
			t.Errorf("AppendText(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestResponse(t *testing.T) {
	ok := AppendResponseHeader(nil, 2)
	ok = AppendInt(ok, 1)
	ok = AppendNil(ok)
	ok = AppendRecordErrors(ok, []RecordError{{Index: 1, Message: "boom"}})
	r, err := DecodeResponse(ok, 2, nil)
	if err != nil || len(r.Results) != 2 || r.Results[1] != nil || r.Errors[0].Message != "boom" {
		t.Fatalf("got %+v, %v", r, err)
	}
	if _, err := DecodeResponse(ok, 3, nil); err == nil || !strings.Contains(err.Error(), "2 results for 3 inputs") {
		t.Fatalf("count mismatch: %v", err)
	}
	fail := AppendErrorResponse(nil, CodeFailed, "division by zero")
	_, err = DecodeResponse(fail, 1, nil)
	var ge *GuestError
	if !errorsAs(err, &ge) || ge.Code != CodeFailed || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("got %v", err)
	}
	for _, bad := range [][]byte{nil, {0x90}, {0x93, 0x00, 0x91}, {0x93, 0x00, 0x90, 0x91, 0x92, 0x05, 0xa1, 'x'}, append(ok, 0)} {
		if _, err := DecodeResponse(bad, 0, nil); err == nil {
			t.Errorf("DecodeResponse(%x) succeeded", bad)
		}
	}
}

func errorsAs(err error, target **GuestError) bool {
	ge, ok := err.(*GuestError)
	if ok {
		*target = ge
	}
	return ok
}

func TestManifestRoundTrip(t *testing.T) {
	m := &Manifest{ABI: Version, Name: "wc", Version: "1.0", Language: "go",
		Functions: []Function{{"split-words", KindFlatMap}, {"sum", KindReduce}}, Pipeline: "stages: []"}
	got, err := DecodeManifest(AppendManifest(nil, m))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v, %v", got, err)
	}
	m.ABI = 2
	if _, err := DecodeManifest(AppendManifest(nil, m)); err == nil || !strings.Contains(err.Error(), "ABI 2") {
		t.Fatalf("version mismatch: %v", err)
	}
	m.ABI = 1
	m.Functions = append(m.Functions, Function{"sum", KindReduce})
	if _, err := DecodeManifest(AppendManifest(nil, m)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestHostileContainerHeaders(t *testing.T) {
	// An array claiming 4 billion elements in 5 bytes must fail fast.
	if _, err := Skip([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("accepted")
	}
	deep := bytes.Repeat([]byte{0x91}, 10000)
	if _, err := Skip(append(deep, 0xc0)); err == nil {
		t.Fatal("accepted 10000 levels of nesting")
	}
}

// Fuzz targets: none of the decoders may panic on any input, and what Skip
// accepts must re-encode through JSON when it has a JSON form.

func FuzzDecoders(f *testing.F) {
	for _, s := range [][]byte{{0x93, 0x00, 0x90, 0x90}, {0x92, 0xa1, 'a', 0x01}, {0xdc, 0x00, 0x01, 0xc0}, {0xcb, 0, 0, 0, 0, 0, 0, 0, 0}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Skip(b)
		if err == nil && (n <= 0 || n > len(b)) {
			t.Fatalf("Skip returned %d for %d bytes", n, len(b))
		}
		DecodeResponse(b, 1, nil)
		DecodeManifest(b)
		Decode(b)
		AppendText(nil, b)
		if js, err := AppendJSON(nil, b); err == nil && n > 0 {
			if _, err := FromJSON(nil, js); err != nil {
				t.Fatalf("AppendJSON wrote invalid JSON %s: %v", js, err)
			}
		}
	})
}

func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`[1,"a",{"b":null}]`, `"\u00e9"`, `-1.5e3`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := FromJSON(nil, b)
		if err != nil {
			return
		}
		if n, err := Skip(mp); err != nil || n != len(mp) {
			t.Fatalf("FromJSON(%q) produced invalid msgpack %x", b, mp)
		}
	})
}

func TestCanonicalInts(t *testing.T) {
	for v, want := range map[int64]string{
		0: "00", 127: "7f", 128: "cc80", 255: "ccff", 300: "cd012c", 65536: "ce00010000",
		1 << 32: "cf0000000100000000", -1: "ff", -32: "e0", -33: "d0df", -129: "d1ff7f",
		-40000: "d2ffff63c0", math.MinInt64: "d38000000000000000",
	} {
		if got := fmt.Sprintf("%x", AppendInt(nil, v)); got != want {
			t.Errorf("AppendInt(%d) = %s, want %s", v, got, want)
		}
	}
}

func TestSkipExt(t *testing.T) {
	for _, c := range []struct {
		b []byte
		n int
	}{{[]byte{0xd4, 5, 0}, 3}, {[]byte{0xd8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 18}, {[]byte{0xc7, 2, 5, 0, 0}, 5}} {
		if n, err := Skip(c.b); err != nil || n != c.n {
			t.Errorf("Skip(%x) = %d, %v; want %d", c.b, n, err, c.n)
		}
	}
}

// The fast path for short scalars must not skip the nesting limit: a value
// nested deeper than 512 fails whatever is innermost.
func TestSkipDepthScalarInside(t *testing.T) {
	for _, inner := range [][]byte{{0x01}, {0xa1, 'x'}, {0xc0}} {
		b := append(bytes.Repeat([]byte{0x91}, 513), inner...)
		if _, err := Skip(b); err == nil {
			t.Errorf("Skip(513 arrays around % x): no error", inner)
		}
		var ext bool
		if _, err := skipExt(b, 0, &ext); err == nil {
			t.Errorf("skipExt(513 arrays around % x): no error", inner)
		}
		if _, err := Skip(b[1:]); err != nil {
			t.Errorf("Skip(512 arrays around % x): %v", inner, err)
		}
	}
}
