//go:build cgo

package wasmtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// minInput is the smallest input buffer asked of wstream_alloc, so that the
// first few small batches do not each allocate.
const minInput = 4 << 10

// nearLimit is how close to its memory limit a guest that failed must be
// for the failure to count as hitting the limit: a guest that grows memory
// in small steps until refused (what C and Rust allocators do) ends there.
const nearLimit = 16 // pages, 1 MiB

// instance is one guest instance with its own Store, which Wasmtime does
// not allow two threads to use at once: like every runtime.Instance it is
// used by one goroutine at a time.
type instance struct {
	m      *module
	store  *wasmtime.Store
	mem    *wasmtime.Memory
	alloc  *wasmtime.Func
	call   *wasmtime.Func
	mani   *wasmtime.Func
	stderr *capped

	inPtr, inCap uint32 // the current wstream_alloc buffer
	closed       bool
	deadline     time.Time // of the guest code running now, for poll_oneoff
	wasi         wasiState
	logs         runtime.LogBudget
}

// Instantiate makes an instance in a new store, runs _initialize if
// exported and checks wstream_abi_version, all under the plugin's call
// time limit and memory limit.
func (m *module) Instantiate(ctx context.Context) (runtime.Instance, error) {
	e := m.engine
	e.live.RLock()
	defer e.live.RUnlock()
	if e.closed {
		return nil, errEngineClosed
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return nil, errModuleClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in := &instance{m: m, stderr: newCapped(m.cfg.StderrLimit), wasi: newWASIState()}
	wc, err := m.wasiConfig(in.stderr)
	if err != nil {
		return nil, err
	}
	in.store = wasmtime.NewStoreWithData(e.wt, in)
	in.store.SetWasi(wc)
	in.store.Limiter(int64(m.cfg.MemoryLimitPages)*pageSize, -1, -1, -1, -1)
	callerLimited := in.arm(ctx)
	defer in.endLogs()

	inst, err := m.linker.Instantiate(in.store, m.wt)
	if err != nil {
		err = in.fail(ctx, callerLimited, "the start function", err)
		in.Close(ctx)
		return nil, err
	}
	if ext := inst.GetExport(in.store, "memory"); ext != nil {
		in.mem = ext.Memory()
	}
	in.alloc = inst.GetFunc(in.store, abi.ExportAlloc)
	in.call = inst.GetFunc(in.store, abi.ExportCall)
	in.mani = inst.GetFunc(in.store, abi.ExportManifest)
	version := inst.GetFunc(in.store, abi.ExportVersion)
	if in.mem == nil || in.alloc == nil || in.call == nil || in.mani == nil || version == nil {
		in.Close(ctx) // check() saw them all; only a wasmtime bug gets here
		return nil, fmt.Errorf("%w: an export checked at compile time is missing from the instance", runtime.ErrMissingExp)
	}
	if m.hasInit {
		if _, err := inst.GetFunc(in.store, abi.ExportInitialize).Call(in.store); err != nil {
			err = in.fail(ctx, callerLimited, abi.ExportInitialize, err)
			in.Close(ctx)
			return nil, err
		}
	}
	res, err := version.Call(in.store)
	if err != nil {
		err = in.fail(ctx, callerLimited, abi.ExportVersion, err)
		in.Close(ctx)
		return nil, err
	}
	if v, _ := res.(int32); v != abi.Version {
		in.Close(ctx)
		return nil, fmt.Errorf("%w: the module speaks ABI %d, this host speaks ABI %d; rebuild it with a wstream SDK for ABI %d",
			runtime.ErrABIVersion, v, abi.Version, abi.Version)
	}
	return in, nil
}

// arm sets the store's epoch deadline for the guest code run next: the
// plugin's time limit, or the caller's deadline when that comes first (it
// then reports true, so that fail blames the caller).
func (in *instance) arm(ctx context.Context) (callerLimited bool) {
	limit := in.m.cfg.CallTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < limit {
			limit, callerLimited = max(left, 0), true
		}
	}
	// The first tick may come at once, so one more tick than the limit
	// holds: the guest gets at least its time, at most one tick more.
	in.store.SetEpochDeadline(uint64((limit+epochTick-1)/epochTick) + 1)
	in.deadline = time.Now().Add(limit)
	in.logs.Reset(in.m.cfg.StderrLimit)
	return callerLimited
}

// endLogs writes what the log budget of the call that ends refused.
func (in *instance) endLogs() {
	if note := in.logs.Dropped(in.m.name); note != "" {
		runtime.WriteStderr(in.m.cfg.Stderr, note)
	}
}

// enter checks that the instance may run guest code and takes the
// engine's read lock, which the caller must release.
func (in *instance) enter(ctx context.Context) error {
	if in.closed {
		return errClosed
	}
	in.m.engine.live.RLock()
	switch {
	case in.m.engine.closed:
		in.m.engine.live.RUnlock()
		return errEngineClosed
	case in.m.closed.Load():
		in.m.engine.live.RUnlock()
		return errModuleClosed
	}
	if err := ctx.Err(); err != nil {
		in.m.engine.live.RUnlock()
		return err
	}
	return nil
}

// Manifest calls wstream_manifest and copies the bytes out.
func (in *instance) Manifest(ctx context.Context) ([]byte, error) {
	if err := in.enter(ctx); err != nil {
		return nil, err
	}
	defer in.m.engine.live.RUnlock()
	callerLimited := in.arm(ctx)
	defer in.endLogs()
	in.stderr.resetOOM()
	res, err := in.mani.Call(in.store)
	if err != nil {
		return nil, in.fail(ctx, callerLimited, abi.ExportManifest, err)
	}
	return in.result(abi.ExportManifest, res)
}

// Call writes input into the guest's input buffer (growing it through
// wstream_alloc only when input does not fit), calls wstream_call and copies
// the response out, because the guest reuses that memory next call.
func (in *instance) Call(ctx context.Context, fn int, input []byte) ([]byte, error) {
	if len(input) > math.MaxInt32 {
		return nil, fmt.Errorf("batch input of %d bytes is over the 2 GiB a 32-bit guest can address", len(input))
	}
	if err := in.enter(ctx); err != nil {
		return nil, err
	}
	defer in.m.engine.live.RUnlock()
	callerLimited := in.arm(ctx)
	defer in.endLogs()
	in.stderr.resetOOM()
	n := uint32(len(input))
	if n > in.inCap || in.inPtr == 0 {
		if err := in.grow(ctx, callerLimited, n); err != nil {
			return nil, err
		}
	}
	mem := in.mem.UnsafeData(in.store)
	if uint64(in.inPtr)+uint64(n) > uint64(len(mem)) {
		return nil, fmt.Errorf("%w: %s returned %#x for %d bytes, past the end of memory (%d bytes)",
			runtime.ErrBadPointer, abi.ExportAlloc, in.inPtr, in.inCap, len(mem))
	}
	copy(mem[in.inPtr:], input)
	res, err := in.call.Call(in.store, int32(fn), int32(in.inPtr), int32(n))
	if err != nil {
		return nil, in.fail(ctx, callerLimited, abi.ExportCall, err)
	}
	return in.result(abi.ExportCall, res)
}

// grow asks the guest for an input buffer of at least n bytes, doubling so
// that slowly growing batches do not allocate every call.
func (in *instance) grow(ctx context.Context, callerLimited bool, n uint32) error {
	size := max(n, minInput, min(2*in.inCap, math.MaxInt32))
	res, err := in.alloc.Call(in.store, int32(size))
	if err != nil {
		return in.fail(ctx, callerLimited, abi.ExportAlloc, err)
	}
	p, _ := res.(int32)
	ptr := uint32(p)
	if ptr == 0 {
		in.inPtr, in.inCap = 0, 0
		return fmt.Errorf("%w: %s(%d) returned 0 (out of memory); raise the plugin's memory limit (now %d pages, %s)",
			runtime.ErrMemoryLimit, abi.ExportAlloc, size, in.m.cfg.MemoryLimitPages, runtime.Pages(uint64(in.m.cfg.MemoryLimitPages)))
	}
	if memSize := uint64(in.mem.DataSize(in.store)); uint64(ptr)+uint64(size) > memSize {
		return fmt.Errorf("%w: %s(%d) returned %#x, but memory is %d bytes",
			runtime.ErrBadPointer, abi.ExportAlloc, size, ptr, memSize)
	}
	in.inPtr, in.inCap = ptr, size
	return nil
}

// result copies out the ptr<<32|len a guest function returned.
func (in *instance) result(fn string, res any) ([]byte, error) {
	v, ok := res.(int64)
	if !ok {
		return nil, fmt.Errorf("%w: %s returned %T, want i64", runtime.ErrTrap, fn, res)
	}
	ptr, n := abi.Unpack(uint64(v))
	mem := in.mem.UnsafeData(in.store)
	b, ok := readMem(mem, ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: %s returned %d bytes at %#x, but memory is %d bytes",
			runtime.ErrBadPointer, fn, n, ptr, len(mem))
	}
	return bytes.Clone(b), nil
}

// fail maps a Wasmtime error from running fn to the runtime's errors, with
// the wazero adapter's messages.
func (in *instance) fail(ctx context.Context, callerLimited bool, fn string, err error) error {
	var trap *wasmtime.Trap
	if errors.As(err, &trap) {
		if code := trap.Code(); code != nil && *code == wasmtime.Interrupt {
			if callerLimited || ctx.Err() != nil {
				cause := ctx.Err()
				if cause == nil {
					cause = context.DeadlineExceeded // the caller's deadline, to within a tick
				}
				return fmt.Errorf("%s interrupted: %w", fn, cause)
			}
			return fmt.Errorf("%w of %v: %s did not return in time; raise the plugin's time limit if it legitimately needs longer",
				runtime.ErrTimeout, in.m.cfg.CallTimeout, fn)
		}
	}
	lim := in.m.cfg.MemoryLimitPages
	if in.hitMemoryLimit() {
		first, _, _ := strings.Cut(trapMessage(err), "\n") // the guest's stack trace says nothing more here
		return fmt.Errorf("%w of %d pages (%s): %s could not grow its memory, then failed (%s); raise the plugin's memory limit if it legitimately needs more",
			runtime.ErrMemoryLimit, lim, runtime.Pages(uint64(lim)), fn, first)
	}
	var werr *wasmtime.Error
	if errors.As(err, &werr) {
		if code, ok := werr.ExitStatus(); ok {
			return fmt.Errorf("%w: %s: the guest exited with code %d (a Go guest exits with 2 when it panics; see its stderr)",
				runtime.ErrTrap, fn, code)
		}
	}
	if strings.Contains(err.Error(), "memory minimum size") { // the limiter refused the initial memory
		return fmt.Errorf("%w of %d pages (%s) while instantiating: %s", runtime.ErrMemoryLimit, lim, runtime.Pages(uint64(lim)), trapMessage(err))
	}
	return fmt.Errorf("%w: %s: %s", runtime.ErrTrap, fn, trapMessage(err))
}

// hitMemoryLimit guesses whether the failure came from a refused
// memory.grow. Wasmtime's store limiter just makes memory.grow return -1,
// without a record the host could read, so the signs are the guest's own:
// it said it ran out of memory, or it died within a few pages of the limit.
func (in *instance) hitMemoryLimit() bool {
	if in.stderr.sawOOM() {
		return true
	}
	if in.mem == nil {
		return false
	}
	return in.mem.Size(in.store)+nearLimit > uint64(in.m.cfg.MemoryLimitPages)
}

// trapMessage shortens a Wasmtime error to its cause and wasm backtrace,
// dropping the native backtrace that RUST_BACKTRACE adds.
func trapMessage(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n\nStack backtrace:")
	if head, cause, ok := strings.Cut(msg, "\n\nCaused by:\n"); ok {
		bt := strings.TrimPrefix(head, "error while executing at ")
		msg = strings.TrimSpace(cause) + "\n" + bt
	}
	return msg
}

// Stderr drains what the guest wrote to stdout and stderr.
func (in *instance) Stderr() string { return in.stderr.Drain() }

// Close frees the store and everything in it. It is idempotent and safe
// after a trap or a timeout.
func (in *instance) Close(ctx context.Context) error {
	if in.closed {
		return nil
	}
	in.closed = true
	if in.store != nil {
		in.store.Close()
	}
	return nil
}
