package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wstream/wstream/abi"
)

// checkResults checks each result against the shape its function kind
// promises (ABI.md §6) and that no result holds an ext value, which records
// may not (§5). abi.DecodeResponse has already checked that the response is
// well-formed msgpack with one result per input; without this, garbage of
// the right structure would surface later in an operator or a sink, far
// from the plugin and function that wrote it.
func checkResults(kind abi.Kind, r abi.Response) error {
	for i, v := range r.Results {
		if v == nil { // a failed record: its result is ignored
			continue
		}
		switch kind {
		case abi.KindFilter:
			if t := abi.TypeOf(v); t != abi.TypeBool {
				return badResult(i, "a filter result must be a bool, got %s", t)
			}
			continue
		case abi.KindFlatMap:
			if t := abi.TypeOf(v); t != abi.TypeArray {
				return badResult(i, "a flatMap result must be an array, got %s", t)
			}
		case abi.KindUpdate:
			if n, _, err := abi.ArrayHeader(v); err != nil || n > 1 {
				return badResult(i, "an update result must be an option, [] or [state], got %s", abi.Describe(v))
			}
		case abi.KindMapState: // the operator checks the parts
			if n, _, err := abi.ArrayHeader(v); err != nil || n != 2 {
				return badResult(i, "a mapState result must be [outputs, state change], got %s", abi.Describe(v))
			}
		}
		if !r.Ext { // DecodeResponse saw none: no need to walk the result again
			continue
		}
		if err := noExt(v); err != nil {
			return badResult(i, "%v", err)
		}
	}
	return nil
}

func badResult(i int, format string, args ...any) error {
	return fmt.Errorf("%w: result %d: %s", abi.ErrBadResponse, i, fmt.Sprintf(format, args...))
}

var errExt = errors.New("it holds a msgpack ext value, which records may not hold (ABI.md §5)")

// noExt walks one well-formed value looking for ext values. It counts the
// values still to visit instead of recursing, so nesting costs no stack.
func noExt(b []byte) error {
	for left := 1; left > 0; left-- {
		if len(b) > 0 && b[0] >= 0xa0 && b[0] <= 0xbf { // a short string, the common case
			if n := 1 + int(b[0]&0x1f); n <= len(b) {
				b = b[n:]
				continue
			}
		}
		var err error
		switch abi.TypeOf(b) {
		case abi.TypeExt:
			return errExt
		case abi.TypeArray:
			var n int
			n, b, err = abi.ArrayHeader(b)
			left += n
		case abi.TypeMap:
			var n int
			n, b, err = abi.MapHeader(b)
			left += 2 * n
		default:
			_, b, err = abi.Next(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// describeStart renders the start of a response for an error message
// without decoding all of it: a bad response may be megabytes, and garbage
// reads better as bytes than as a decoding error.
func describeStart(b []byte) string {
	const decodeUpTo, hexBytes = 4096, 32
	if s := abi.Describe(b[:min(len(b), decodeUpTo)]); !strings.Contains(s, "undecodable") {
		return s
	}
	if len(b) <= hexBytes {
		return fmt.Sprintf("% x", b)
	}
	return fmt.Sprintf("% x … (%d bytes)", b[:hexBytes], len(b))
}
