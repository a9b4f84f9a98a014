package wazero

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// minInput is the smallest input buffer asked of wstream_alloc, so that the
// first few small batches do not each allocate.
const minInput = 4 << 10

// instance is one guest instance. Like every runtime.Instance it is used by
// one goroutine at a time, which is what lets it keep its call stack and
// input buffer between calls.
type instance struct {
	m      *module
	mod    api.Module
	mem    api.Memory
	alloc  api.Function
	call   api.Function
	mani   api.Function
	stderr *runtime.Capped

	stack        [3]uint64 // params and results of every call, reused
	inPtr, inCap uint32    // the current wstream_alloc buffer
	oom          bool      // set by limitedMemory when a grow was refused
	closed       bool
	deadline     time.Time // of the guest code running now, for sleep
	logs         runtime.LogBudget
}

// instanceKey carries the instance in the context its guest code runs
// under, where wazero hands it to host functions.
type instanceKey struct{}

// begin starts guest code under the plugin's time limit, with a fresh log
// budget; end writes what the budget refused.
func (in *instance) begin(ctx context.Context) (tctx context.Context, end func()) {
	tctx, cancel := context.WithTimeout(context.WithValue(ctx, instanceKey{}, in), in.m.cfg.CallTimeout)
	in.deadline, _ = tctx.Deadline()
	in.logs.Reset(in.m.cfg.StderrLimit)
	return tctx, func() {
		cancel()
		if note := in.logs.Dropped(in.m.name); note != "" {
			runtime.WriteStderr(in.m.cfg.Stderr, note)
		}
	}
}

// Instantiate makes an anonymous instance, runs _initialize if exported and
// checks wstream_abi_version, all under the plugin's call time limit.
func (m *module) Instantiate(ctx context.Context) (runtime.Instance, error) {
	in := &instance{m: m, stderr: runtime.NewCapped(m.cfg.StderrLimit)}
	mc := m.modCfg.WithStdout(in.stderr).WithStderr(in.stderr)
	if m.clock {
		mc = mc.WithNanosleep(in.sleep)
	}
	// One time limit for all the guest code that instantiating runs: the
	// module's start function, _initialize and wstream_abi_version.
	tctx, end := in.begin(ctx)
	defer end()
	mod, err := m.rt.InstantiateModule(withMemoryLimit(tctx, m.cfg.MemoryLimitPages, &in.oom), m.compiled, mc)
	if err != nil {
		var exit *sys.ExitError
		switch {
		case in.oom:
			return nil, fmt.Errorf("%w of %d pages (%s) while instantiating: %v", runtime.ErrMemoryLimit,
				m.cfg.MemoryLimitPages, runtime.Pages(uint64(m.cfg.MemoryLimitPages)), err)
		case errors.As(err, &exit):
			return nil, in.fail(ctx, tctx, "the start function", err)
		}
		return nil, fmt.Errorf("instantiating the module: %w", err)
	}
	in.mod = mod
	in.mem = mod.ExportedMemory("memory")
	in.alloc = mod.ExportedFunction(abi.ExportAlloc)
	in.call = mod.ExportedFunction(abi.ExportCall)
	in.mani = mod.ExportedFunction(abi.ExportManifest)

	if m.hasInit {
		if err := mod.ExportedFunction(abi.ExportInitialize).CallWithStack(tctx, nil); err != nil {
			err = in.fail(ctx, tctx, abi.ExportInitialize, err)
			in.Close(ctx)
			return nil, err
		}
	}
	if err := mod.ExportedFunction(abi.ExportVersion).CallWithStack(tctx, in.stack[:1]); err != nil {
		err = in.fail(ctx, tctx, abi.ExportVersion, err)
		in.Close(ctx)
		return nil, err
	}
	if v := api.DecodeI32(in.stack[0]); v != abi.Version {
		in.Close(ctx)
		return nil, fmt.Errorf("%w: the module speaks ABI %d, this host speaks ABI %d; rebuild it with a wstream SDK for ABI %d",
			runtime.ErrABIVersion, v, abi.Version, abi.Version)
	}
	return in, nil
}

// Manifest calls wstream_manifest and copies the bytes out.
func (in *instance) Manifest(ctx context.Context) ([]byte, error) {
	if in.closed {
		return nil, errClosed
	}
	tctx, end := in.begin(ctx)
	defer end()
	if err := in.mani.CallWithStack(tctx, in.stack[:1]); err != nil {
		return nil, in.fail(ctx, tctx, abi.ExportManifest, err)
	}
	return in.result(abi.ExportManifest)
}

// Call writes input into the guest's input buffer (growing it through
// wstream_alloc only when input does not fit), calls wstream_call and copies
// the response out, because the guest reuses that memory next call.
func (in *instance) Call(ctx context.Context, fn int, input []byte) ([]byte, error) {
	if in.closed {
		return nil, errClosed
	}
	if len(input) > math.MaxInt32 {
		return nil, fmt.Errorf("batch input of %d bytes is over the 2 GiB a 32-bit guest can address", len(input))
	}
	tctx, end := in.begin(ctx)
	defer end()
	in.oom = false
	n := uint32(len(input))
	if n > in.inCap || in.inPtr == 0 {
		if err := in.grow(ctx, tctx, n); err != nil {
			return nil, err
		}
	}
	if !in.mem.Write(in.inPtr, input) {
		return nil, fmt.Errorf("%w: %s returned %#x for %d bytes, past the end of memory (%d bytes)",
			runtime.ErrBadPointer, abi.ExportAlloc, in.inPtr, in.inCap, in.mem.Size())
	}
	s := in.stack[:]
	s[0], s[1], s[2] = api.EncodeI32(int32(fn)), api.EncodeU32(in.inPtr), api.EncodeU32(n)
	if err := in.call.CallWithStack(tctx, s); err != nil {
		return nil, in.fail(ctx, tctx, abi.ExportCall, err)
	}
	return in.result(abi.ExportCall)
}

// grow asks the guest for an input buffer of at least n bytes, doubling so
// that slowly growing batches do not allocate every call.
func (in *instance) grow(ctx, tctx context.Context, n uint32) error {
	size := max(n, minInput, min(2*in.inCap, math.MaxInt32))
	in.stack[0] = api.EncodeU32(size)
	if err := in.alloc.CallWithStack(tctx, in.stack[:1]); err != nil {
		return in.fail(ctx, tctx, abi.ExportAlloc, err)
	}
	ptr := api.DecodeU32(in.stack[0])
	if ptr == 0 {
		in.inPtr, in.inCap = 0, 0
		return fmt.Errorf("%w: %s(%d) returned 0 (out of memory); raise the plugin's memory limit (now %d pages, %s)",
			runtime.ErrMemoryLimit, abi.ExportAlloc, size, in.m.cfg.MemoryLimitPages, runtime.Pages(uint64(in.m.cfg.MemoryLimitPages)))
	}
	if _, ok := in.mem.Read(ptr, size); !ok {
		return fmt.Errorf("%w: %s(%d) returned %#x, but memory is %d bytes",
			runtime.ErrBadPointer, abi.ExportAlloc, size, ptr, in.mem.Size())
	}
	in.inPtr, in.inCap = ptr, size
	return nil
}

// result copies out the ptr<<32|len the last call left in the stack.
func (in *instance) result(fn string) ([]byte, error) {
	ptr, n := abi.Unpack(in.stack[0])
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: %s returned %d bytes at %#x, but memory is %d bytes",
			runtime.ErrBadPointer, fn, n, ptr, in.mem.Size())
	}
	return bytes.Clone(b), nil
}

var errClosed = errors.New("wazero: instance is closed")

// fail maps a wazero error from calling fn to the runtime's errors. parent
// is the caller's context and tctx the one with the plugin's time limit:
// when only tctx expired, the guest ran too long; when parent did, the
// caller gave up.
func (in *instance) fail(parent, tctx context.Context, fn string, err error) error {
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	if isExit && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) {
		if perr := parent.Err(); perr != nil {
			return fmt.Errorf("%s interrupted: %w", fn, perr)
		}
		return fmt.Errorf("%w of %v: %s did not return in time; raise the plugin's time limit if it legitimately needs longer",
			runtime.ErrTimeout, in.m.cfg.CallTimeout, fn)
	}
	if in.oom {
		first, _, _ := strings.Cut(err.Error(), "\n") // the guest's stack trace says nothing more here
		return fmt.Errorf("%w of %d pages (%s): %s could not grow its memory, then failed (%s); raise the plugin's memory limit if it legitimately needs more",
			runtime.ErrMemoryLimit, in.m.cfg.MemoryLimitPages, runtime.Pages(uint64(in.m.cfg.MemoryLimitPages)), fn, first)
	}
	if isExit {
		return fmt.Errorf("%w: %s: the guest exited with code %d (a Go guest exits with 2 when it panics; see its stderr)",
			runtime.ErrTrap, fn, exit.ExitCode())
	}
	return fmt.Errorf("%w: %s: %v", runtime.ErrTrap, fn, err)
}

// sleep is the guest's WASI sleep (poll_oneoff) when the clock is granted.
// It runs in the host, where the call's time limit cannot interrupt it, so
// it ends at the deadline of the guest code running: a guest cannot sleep
// past its limit, however many sleeps it asks for.
func (in *instance) sleep(ns int64) {
	if d := min(time.Duration(ns), time.Until(in.deadline)); d > 0 {
		time.Sleep(d)
	}
}

// Stderr drains what the guest wrote to stdout and stderr.
func (in *instance) Stderr() string { return in.stderr.Drain() }

// Close is idempotent and safe after a trap or a timeout (wazero has then
// already closed the module; closing again is a no-op).
func (in *instance) Close(ctx context.Context) error {
	if in.closed {
		return nil
	}
	in.closed = true
	if in.mod == nil {
		return nil
	}
	return in.mod.Close(context.WithoutCancel(ctx))
}
