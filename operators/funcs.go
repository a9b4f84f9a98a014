package operators

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/abi"
)

// Func is a function a stage calls once per batch: a guest function
// (*runtime.Func satisfies it) or a built-in.
type Func interface {
	Name() string
	Kind() abi.Kind
	// Call runs the function over a whole batch: input is the call input of
	// ABI.md §6 holding n items; the response holds n results.
	Call(ctx context.Context, input []byte, n int) (abi.Response, error)
}

// Resolver finds guest functions by plugin and name. plugin is the stage's
// `plugin:` field, or "" for the pipeline's default plugin.
type Resolver interface {
	Func(plugin, name string) (Func, error)
}

// RecordError is a record a function failed on.
type RecordError struct {
	Stage   string  // e.g. `stage 2 (map split-words)`
	Record  abi.Raw // the input item the function failed on
	Message string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s failed on record %s: %s", e.Stage, abi.Describe(e.Record), e.Message)
}

// caller wraps a Func with what a stage needs around a call: a reusable input
// buffer and per-record error handling.
type caller struct {
	fn    Func
	stage string
	buf   []byte
}

// call encodes items as one array input, calls fn, and returns one result
// per item. Record errors fail the batch with the first record named.
func (c *caller) call(ctx context.Context, items []abi.Raw) ([]abi.Raw, error) {
	if len(items) == 0 {
		return nil, nil
	}
	c.buf = abi.AppendArray(c.buf[:0], items)
	return c.callRaw(ctx, c.buf, items)
}

// callRaw calls fn on an already encoded input whose items are listed in
// items (used for messages).
func (c *caller) callRaw(ctx context.Context, input []byte, items []abi.Raw) ([]abi.Raw, error) {
	resp, err := c.fn.Call(ctx, input, len(items))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.stage, err)
	}
	if len(resp.Errors) > 0 {
		e := resp.Errors[0]
		more := ""
		if n := len(resp.Errors) - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more records)", n)
		}
		return nil, fmt.Errorf("%w%s", &RecordError{Stage: c.stage, Record: items[e.Index], Message: e.Message}, more)
	}
	return resp.Results, nil
}

// lookup resolves a guest function for a stage, checking its kind.
func lookup(r Resolver, plugin, name string, want abi.Kind, stage string) (Func, error) {
	if name == "" {
		return nil, fmt.Errorf("%s needs fn: (a %s function)", stage, want)
	}
	if r == nil {
		return nil, fmt.Errorf("%s: fn %q needs a plugin, and the pipeline names none (set plugin: or --plugin)", stage, name)
	}
	f, err := r.Func(plugin, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stage, err)
	}
	if f.Kind() != want {
		return nil, fmt.Errorf("%s needs a %s function, but %q is a %s function", stage, want, name, f.Kind())
	}
	return f, nil
}
