package abi

import (
	"errors"
	"fmt"
	"strings"
)

// Code is the status a guest puts first in every response.
type Code int

const (
	CodeOK              Code = 0 // results follow; some records may have failed
	CodeBadInput        Code = 1 // the guest could not decode the call input
	CodeUnknownFunction Code = 2 // no function with that id
	CodeFailed          Code = 3 // the function failed for the whole batch
)

// Sentinel errors, one per non-OK code, so callers can use errors.Is.
var (
	ErrBadInput        = errors.New("guest could not decode its input")
	ErrUnknownFunction = errors.New("guest has no function with that id")
	ErrFailed          = errors.New("guest function failed")
	ErrBadResponse     = errors.New("guest returned a malformed response")
)

var codeErrors = map[Code]error{
	CodeBadInput:        ErrBadInput,
	CodeUnknownFunction: ErrUnknownFunction,
	CodeFailed:          ErrFailed,
}

// GuestError is a batch-level failure reported by a guest.
type GuestError struct {
	Code    Code
	Message string
}

func (e *GuestError) Error() string {
	base, ok := codeErrors[e.Code]
	if !ok {
		return fmt.Sprintf("guest error code %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%v: %s", base, e.Message)
}

// Unwrap maps the code to its sentinel.
func (e *GuestError) Unwrap() error {
	if err, ok := codeErrors[e.Code]; ok {
		return err
	}
	return ErrBadResponse
}

// RecordError is one record that a guest function failed on, inside a batch
// that otherwise succeeded.
type RecordError struct {
	Index   int
	Message string
}

// Response is a decoded wstream_call result.
type Response struct {
	Results []Raw         // one per input element or group, aliasing the response bytes
	Errors  []RecordError // records the guest failed on; their Results entry is nil
	// Ext is set when some result holds an ext value, which records may not
	// (ABI.md §5). DecodeResponse notes it while splitting the results, so
	// that a host need not walk every result again to check.
	Ext bool
}

// DecodeResponse validates and splits a response [code, payload, errors].
// want is the number of results the call must return. The results alias b.
func DecodeResponse(b []byte, want int, reuse []Raw) (Response, error) {
	bad := func(format string, args ...any) (Response, error) {
		return Response{}, fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
	}
	n, rest, err := ArrayHeader(b)
	if err != nil || n != 3 {
		return bad("want [code, results, errors], got %s", Describe(b))
	}
	code, rest, err := ReadInt(rest)
	if err != nil {
		return bad("code: %v", err)
	}
	if code != int64(CodeOK) {
		msg, _, err := ReadStringBytes(rest)
		if err != nil {
			return Response{}, &GuestError{Code: Code(code), Message: Describe(rest)}
		}
		return Response{}, &GuestError{Code: Code(code), Message: capMessage(msg)}
	}
	// The count first: a response that declares millions of results for a
	// few inputs is refused before any of them is split.
	if n, _, err := ArrayHeader(rest); err == nil && n != want {
		return bad("%d results for %d inputs", n, want)
	}
	if cap(reuse) < want { // one allocation of the right size, not a doubling series
		reuse = make([]Raw, 0, want)
	}
	var ext bool
	results, rest, err := splitArrayExt(reuse[:0], rest, &ext)
	if err != nil {
		return bad("results: %v", err)
	}
	if len(results) != want {
		return bad("%d results for %d inputs", len(results), want)
	}
	ne, rest, err := ArrayHeader(rest)
	if err != nil {
		return bad("errors: %v", err)
	}
	var errs []RecordError
	for i := 0; i < ne; i++ {
		var m int
		if m, rest, err = ArrayHeader(rest); err != nil || m != 2 {
			return bad("record error %d: want [index, message]", i)
		}
		var idx int64
		if idx, rest, err = ReadInt(rest); err != nil || idx < 0 || idx >= int64(want) {
			return bad("record error %d: index out of range", i)
		}
		var msg []byte
		if msg, rest, err = ReadStringBytes(rest); err != nil {
			return bad("record error %d: message: %v", i, err)
		}
		errs = append(errs, RecordError{Index: int(idx), Message: capMessage(msg)})
		results[idx] = nil
	}
	if len(rest) != 0 {
		return bad("%d trailing bytes", len(rest))
	}
	return Response{Results: results, Errors: errs, Ext: ext}, nil
}

// MaxMessage caps the error messages a host keeps from a response (a batch
// error's, each record error's): they end up in logs and dead letters, and
// a guest could otherwise make the host print megabytes per record.
const MaxMessage = 4 << 10

// capMessage keeps the first MaxMessage bytes of msg, saying how many more
// there were.
func capMessage(msg []byte) string {
	if len(msg) <= MaxMessage {
		return string(msg)
	}
	return strings.ToValidUTF8(string(msg[:MaxMessage]), "\ufffd") + fmt.Sprintf("… (%d more bytes)", len(msg)-MaxMessage)
}

// AppendResponseHeader starts an OK response with n results; the caller then
// appends n result values and finishes with AppendRecordErrors.
func AppendResponseHeader(dst []byte, n int) []byte {
	dst = append(dst, 0x93, byte(CodeOK))
	return AppendArrayHeader(dst, n)
}

// AppendRecordErrors finishes an OK response with its per-record errors.
func AppendRecordErrors(dst []byte, errs []RecordError) []byte {
	dst = AppendArrayHeader(dst, len(errs))
	for _, e := range errs {
		dst = append(dst, 0x92)
		dst = AppendInt(dst, int64(e.Index))
		dst = AppendString(dst, e.Message)
	}
	return dst
}

// AppendErrorResponse writes a failed response [code, message, []].
func AppendErrorResponse(dst []byte, code Code, msg string) []byte {
	dst = append(dst, 0x93)
	dst = AppendInt(dst, int64(code))
	dst = AppendString(dst, msg)
	return append(dst, 0x90)
}

// AppendOption writes an optional value as [] (none) or [v] (some), which
// keeps "no state" apart from a state that is nil.
func AppendOption(dst []byte, v Raw) []byte {
	if v == nil {
		return append(dst, 0x90)
	}
	return append(append(dst, 0x91), v...)
}

// ReadOption reads [] or [v]; v is nil for none.
func ReadOption(b []byte) (Raw, []byte, error) {
	n, rest, err := ArrayHeader(b)
	if err != nil {
		return nil, b, err
	}
	switch n {
	case 0:
		return nil, rest, nil
	case 1:
		return Next(rest)
	}
	return nil, b, fmt.Errorf("want [] or [value], got an array of %d", n)
}

// Manifest encoding: a map with string keys, so that SDKs in any language
// can write it by hand.

// AppendManifest encodes m.
func AppendManifest(dst []byte, m *Manifest) []byte {
	fields := 5
	if m.Pipeline != "" {
		fields++
	}
	dst = AppendMapHeader(dst, fields)
	dst = AppendInt(AppendString(dst, "abi"), int64(m.ABI))
	dst = AppendString(AppendString(dst, "name"), m.Name)
	dst = AppendString(AppendString(dst, "version"), m.Version)
	dst = AppendString(AppendString(dst, "language"), m.Language)
	dst = AppendArrayHeader(AppendString(dst, "functions"), len(m.Functions))
	for _, f := range m.Functions {
		dst = AppendMapHeader(dst, 2)
		dst = AppendString(AppendString(dst, "name"), f.Name)
		dst = AppendString(AppendString(dst, "kind"), string(f.Kind))
	}
	if m.Pipeline != "" {
		dst = AppendString(AppendString(dst, "pipeline"), m.Pipeline)
	}
	return dst
}

// DecodeManifest decodes and validates a manifest. Unknown keys are skipped
// so that later ABI minor additions stay readable.
func DecodeManifest(b []byte) (*Manifest, error) {
	n, rest, err := MapHeader(b)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m := &Manifest{}
	for i := 0; i < n; i++ {
		var key string
		if key, rest, err = ReadString(rest); err != nil {
			return nil, fmt.Errorf("manifest key: %w", err)
		}
		switch key {
		case "abi":
			var v int64
			v, rest, err = ReadInt(rest)
			m.ABI = int(v)
		case "name":
			m.Name, rest, err = ReadString(rest)
		case "version":
			m.Version, rest, err = ReadString(rest)
		case "language":
			m.Language, rest, err = ReadString(rest)
		case "pipeline":
			m.Pipeline, rest, err = ReadString(rest)
		case "functions":
			var nf int
			if nf, rest, err = ArrayHeader(rest); err != nil {
				break
			}
			for j := 0; j < nf && err == nil; j++ {
				var f Function
				f, rest, err = decodeFunction(rest)
				m.Functions = append(m.Functions, f)
			}
		default:
			_, rest, err = Next(rest)
		}
		if err != nil {
			return nil, fmt.Errorf("manifest %q: %w", key, err)
		}
	}
	if m.ABI != Version {
		return m, fmt.Errorf("manifest says ABI %d, this host speaks ABI %d", m.ABI, Version)
	}
	seen := map[string]bool{}
	for _, f := range m.Functions {
		if f.Name == "" {
			return m, errors.New("manifest has a function with no name")
		}
		if !f.Kind.Valid() {
			return m, fmt.Errorf("manifest function %q has unknown kind %q (want map, flatMap, filter, reduce or update)", f.Name, f.Kind)
		}
		if seen[f.Name] {
			return m, fmt.Errorf("manifest names function %q twice", f.Name)
		}
		seen[f.Name] = true
	}
	return m, nil
}

func decodeFunction(b []byte) (Function, []byte, error) {
	var f Function
	n, rest, err := MapHeader(b)
	if err != nil {
		return f, b, err
	}
	for i := 0; i < n; i++ {
		var key string
		if key, rest, err = ReadString(rest); err != nil {
			return f, b, err
		}
		switch key {
		case "name":
			f.Name, rest, err = ReadString(rest)
		case "kind":
			var k string
			k, rest, err = ReadString(rest)
			f.Kind = Kind(k)
		default:
			_, rest, err = Next(rest)
		}
		if err != nil {
			return f, b, err
		}
	}
	return f, rest, nil
}
