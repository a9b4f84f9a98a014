package wstream

import (
	"fmt"

	"github.com/wstream/wstream/abi"
)

// The raw API: functions over encoded values.
//
// Map, FlatMap and Filter hand each element to the function as an `any`,
// which costs a decode (a string and often a boxing allocation per value)
// and an encode per record: in a Go guest that was ~10 µs per line of word
// count. MapRaw, FlatMapRaw and FilterRaw skip both: the function gets the
// element as its msgpack bytes (an abi.Raw that aliases the call input and
// is valid only during the call) and appends its result, encoded, to dst
// with the abi.Append* functions. Read values with abi.ReadStringBytes,
// abi.ReadInt, abi.TypeOf and friends; abi.Decode is still there for the
// rare element that needs it. Results must follow ABI.md §5 (canonical
// integers, which abi.AppendInt writes). The SDK checks that what was
// appended is exactly the promised number of well-formed values, so a bug
// in a raw function is a record error, not a broken response.

// MapRaw registers a map function over encoded values: f appends exactly
// one value, the result for x, to dst and returns the extended slice.
func MapRaw(name string, f func(dst []byte, x abi.Raw) ([]byte, error)) {
	plugin.add(function{name: name, kind: abi.KindMap, mapRaw: f}, f != nil)
}

// FlatMapRaw registers a flatMap function over encoded values: f appends
// zero or more values, the results for x, to dst and returns the extended
// slice and how many values it appended.
func FlatMapRaw(name string, f func(dst []byte, x abi.Raw) ([]byte, int, error)) {
	plugin.add(function{name: name, kind: abi.KindFlatMap, flatRaw: f}, f != nil)
}

// FilterRaw registers a predicate over encoded values.
func FilterRaw(name string, f func(x abi.Raw) (bool, error)) {
	plugin.add(function{name: name, kind: abi.KindFilter, filterRaw: f}, f != nil)
}

// isRaw reports whether f was registered with the raw API.
func (f *function) isRaw() bool { return f.mapRaw != nil || f.flatRaw != nil || f.filterRaw != nil }

// rawElement runs a raw function on element x and appends its result (the
// response's entry for x) to b.out.
func (b *batch) rawElement(f *function, x abi.Raw) (err error) {
	defer recovered(&err)
	mark := len(b.out)
	switch f.kind {
	case abi.KindMap:
		if b.out, err = f.mapRaw(b.out, x); err != nil {
			return err
		}
		return checkValues(b.out[mark:], 1, f.name)
	case abi.KindFlatMap:
		// The array header comes first but its size is known only after f:
		// reserve the largest header, then move the values down to follow
		// the canonical one.
		b.out = append(b.out, 0xdd, 0, 0, 0, 0)
		var n int
		if b.out, n, err = f.flatRaw(b.out, x); err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("%s returned %d values", f.name, n)
		}
		vals := b.out[mark+5:]
		if err := checkValues(vals, n, f.name); err != nil {
			return err
		}
		hdr := abi.AppendArrayHeader(b.out[mark:mark], n) // at most 5 bytes: writes over the reserve
		k := copy(b.out[mark+len(hdr):], vals)
		b.out = b.out[:mark+len(hdr)+k]
		return nil
	default:
		var keep bool
		if keep, err = f.filterRaw(x); err == nil {
			b.out = abi.AppendBool(b.out, keep)
		}
		return err
	}
}

// checkValues checks that vals holds exactly n well-formed values.
func checkValues(vals []byte, n int, name string) error {
	rest := vals
	for i := 0; i < n; i++ {
		k, err := abi.Skip(rest)
		if err != nil {
			return fmt.Errorf("%s appended a malformed value %d: %v", name, i, err)
		}
		rest = rest[k:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%s appended %d bytes after its %d value(s)", name, len(rest), n)
	}
	return nil
}
