package operators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
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

// intoCaller is a Func that can decode its results into a slice the caller
// provides (*runtime.Func can), which saves the chunks of a large batch an
// allocation and a copy each.
type intoCaller interface {
	CallInto(ctx context.Context, input []byte, n int, dst []abi.Raw) (abi.Response, error)
}

// Resolver finds guest functions by plugin and name. plugin is the stage's
// `plugin:` field, or "" for the pipeline's default plugin.
type Resolver interface {
	Func(plugin, name string) (Func, error)
}

// StageError is a record a stage's function failed on, with the stage
// (abi.RecordError is the same failure as the guest reports it, by index).
type StageError struct {
	Stage   string  // e.g. `stage 2 (map split-words)`
	Plugin  string  // the guest function's plugin; "" for a built-in
	Record  abi.Raw // the input item the function failed on
	Message string
}

func (e *StageError) Error() string {
	// The message comes from the guest: made inert before it can reach a
	// terminal.
	if e.Plugin != "" {
		return fmt.Sprintf("%s failed on record %s: plugin %s: %s", e.Stage, abi.Describe(e.Record), e.Plugin, runtime.Inert(e.Message))
	}
	return fmt.Sprintf("%s failed on record %s: %s", e.Stage, abi.Describe(e.Record), runtime.Inert(e.Message))
}

// pluginOf names the plugin of a guest function, "" for a built-in.
func pluginOf(f Func) string {
	if g, ok := f.(interface{ Plugin() *runtime.Plugin }); ok {
		return g.Plugin().Name()
	}
	return ""
}

// Failure policies a stage can name with onError:.
const (
	onErrorFail       = "fail"       // the batch fails and the run stops (default)
	onErrorSkip       = "skip"       // failed records are dropped, with a log line
	onErrorDeadLetter = "deadletter" // failed records go to the deadLetter: sink
)

// failures collects what failure policies set aside during one batch.
type failures struct {
	mu   sync.Mutex // chunks of a batch run concurrently
	t    int64
	dead []abi.Raw // dead-letter entries {time, stage, error, record}
	log  *slog.Logger
}

func (f *failures) warnf(format string, args ...any) {
	f.log.Warn(fmt.Sprintf(format, args...))
}

func (f *failures) deadLetter(stage, msg string, rec abi.Raw) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := abi.AppendMapHeader(nil, 4)
	e = abi.AppendInt(abi.AppendString(e, "time"), f.t)
	e = abi.AppendString(abi.AppendString(e, "stage"), stage)
	e = abi.AppendString(abi.AppendString(e, "error"), msg)
	e = append(abi.AppendString(e, "record"), rec...)
	f.dead = append(f.dead, e)
}

// caller wraps a Func with what a stage needs around a call: a reusable
// input buffer, one retry after a trap, and the stage's failure policy.
type caller struct {
	fn     Func
	stage  string
	buf    []byte
	policy string    // onError: "" means fail
	fails  *failures // set when policy is not fail
}

// Chunking: a batch's items go to the guest in calls of at most chunkItems
// items and about chunkBytes bytes. Each call still carries thousands of
// items, so the host-guest crossing stays amortized, while one call's time
// and the guest memory it needs stay bounded whatever the batch size; and
// the chunks of a large batch run in parallel on the plugin's instances.
const (
	chunkItems = 16384
	chunkBytes = 4 << 20
)

// call calls fn on items (ABI.md §6: an array of elements or groups) and
// returns one result per item. Under the fail policy a record error fails
// the batch, naming the first record; under skip and deadletter the failed
// records' results are nil and the stage leaves them out.
func (c *caller) call(ctx context.Context, items []abi.Raw) ([]abi.Raw, error) {
	return c.callWith(ctx, nil, items)
}

// callWith is call for inputs that are an array of items after a prefix:
// update functions take [time, [entries...]], so their prefix is the outer
// array header and the time.
func (c *caller) callWith(ctx context.Context, prefix []byte, items []abi.Raw) ([]abi.Raw, error) {
	if len(items) == 0 {
		return nil, nil
	}
	var cuts []int // chunk ends
	size := 0
	for i, it := range items {
		if n := i - lastCut(cuts); n > 0 && (n >= chunkItems || size+len(it) > chunkBytes) {
			cuts, size = append(cuts, i), 0
		}
		size += len(it)
	}
	cuts = append(cuts, len(items))
	if len(cuts) == 1 {
		c.buf = abi.AppendArray(append(c.buf[:0], prefix...), items)
		return c.callChunk(ctx, c.buf, items, nil)
	}
	results := make([]abi.Raw, len(items))
	errs := make([]error, len(cuts))
	sem := make(chan struct{}, goruntime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for ci, end := range cuts {
		start := 0
		if ci > 0 {
			start = cuts[ci-1]
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			chunk := items[start:end]
			size := len(prefix) + 5
			for _, it := range chunk {
				size += len(it)
			}
			input := abi.AppendArray(append(make([]byte, 0, size), prefix...), chunk)
			// The chunk's results are decoded straight into its part of
			// results (when the Func can), so the copy is usually a no-op.
			res, err := c.callChunk(ctx, input, chunk, results[start:start:end])
			copy(results[start:end], res)
			errs[ci] = err
		}()
	}
	wg.Wait()
	for _, err := range errs { // the first chunk's error, in batch order
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

func lastCut(cuts []int) int {
	if len(cuts) == 0 {
		return 0
	}
	return cuts[len(cuts)-1]
}

// retryable errors are those of a broken instance: the pool has replaced
// it, so one more try may succeed. A timeout is not retried: a runaway guest
// would only run away again, doubling the wait.
func retryable(err error) bool {
	return errors.Is(err, runtime.ErrTrap) || errors.Is(err, runtime.ErrBadPointer) ||
		errors.Is(err, runtime.ErrMemoryLimit) || errors.Is(err, abi.ErrBadResponse)
}

// callChunk makes one guest call on an encoded input whose items are listed
// in items (for messages and failure policies). It may run concurrently
// with other chunks of the same batch.
func (c *caller) callChunk(ctx context.Context, input []byte, items []abi.Raw, dst []abi.Raw) ([]abi.Raw, error) {
	call := func() (abi.Response, error) {
		if f, ok := c.fn.(intoCaller); ok && dst != nil {
			return f.CallInto(ctx, input, len(items), dst)
		}
		return c.fn.Call(ctx, input, len(items))
	}
	resp, err := call()
	if err != nil && retryable(err) {
		resp, err = call()
	}
	if err != nil {
		if c.policy == "" || c.policy == onErrorFail {
			return nil, fmt.Errorf("%s: %w", c.stage, err)
		}
		// The whole batch failed at this stage: every record falls under
		// the policy.
		for _, it := range items {
			c.setAside(it, err.Error())
		}
		if c.policy == onErrorSkip {
			c.fails.warnf("%s: batch %d ms: skipped %d records: %v", c.stage, c.fails.t, len(items), err)
		}
		return make([]abi.Raw, len(items)), nil
	}
	if len(resp.Errors) > 0 {
		if c.policy == "" || c.policy == onErrorFail {
			e := resp.Errors[0]
			more := ""
			if n := len(resp.Errors) - 1; n > 0 {
				more = fmt.Sprintf(" (and %d more records)", n)
			}
			return nil, fmt.Errorf("%w%s", &StageError{Stage: c.stage, Plugin: pluginOf(c.fn), Record: items[e.Index], Message: e.Message}, more)
		}
		for _, e := range resp.Errors {
			c.setAside(items[e.Index], e.Message)
		}
		if c.policy == onErrorSkip {
			c.fails.warnf("%s: batch %d ms: skipped %d records (first: %s: %s)", c.stage, c.fails.t, len(resp.Errors), abi.Describe(items[resp.Errors[0].Index]), resp.Errors[0].Message)
		}
	}
	return resp.Results, nil
}

func (c *caller) setAside(rec abi.Raw, msg string) {
	if c.policy == onErrorDeadLetter {
		c.fails.deadLetter(c.stage, msg, rec)
	}
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
