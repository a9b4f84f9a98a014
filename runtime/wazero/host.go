package wazero

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// instantiateHost defines wstream_v1 in the module's runtime. log writes
// straight to Config.Stderr, prefixed with the plugin name.
func (m *module) instantiateHost(ctx context.Context) error {
	logFn := api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		level, ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
		in, _ := ctx.Value(instanceKey{}).(*instance)
		m.log(in, mod.Memory(), level, ptr, n)
	})
	_, err := m.rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(logFn, []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(abi.ImportLog).
		Instantiate(ctx)
	if err != nil {
		return err
	}
	// tick is called by a metered guest every meterBudget loop iterations
	// or calls (meter.go): it ends the call when its context is done (the
	// time limit, or the caller giving up) and returns the next budget.
	tick := api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
		if err := ctx.Err(); err != nil {
			code := sys.ExitCodeContextCanceled
			if errors.Is(err, context.DeadlineExceeded) {
				code = sys.ExitCodeDeadlineExceeded
			}
			panic(sys.NewExitError(code))
		}
		stack[0] = meterBudget
	})
	_, err = m.rt.NewHostModuleBuilder(meterModule).
		NewFunctionBuilder().
		WithGoModuleFunction(tick, nil, []api.ValueType{i32}).
		Export(meterTick).
		Instantiate(ctx)
	return err
}

// log writes one guest log line (runtime.LogLine checks every pointer)
// within the budget of the instance's call.
func (m *module) log(in *instance, mem api.Memory, level, ptr, n uint32) {
	line := runtime.Inert(runtime.LogLine(m.name, level, ptr, n, func(p, k uint32) ([]byte, bool) { return readMem(mem, p, k) }))
	if in != nil && !in.logs.Take(len(line)) {
		return
	}
	runtime.WriteStderr(m.cfg.Stderr, line)
}

func readMem(mem api.Memory, ptr, n uint32) ([]byte, bool) {
	if mem == nil {
		return nil, false
	}
	return mem.Read(ptr, n)
}

// moduleConfig is the WASI sandbox: no args, env, files or real clock, a
// deterministic random source (wazero's default), empty stdin, unless allow
// grants a capability. clock reports whether the clock is granted, in
// which case each instance sets a sleep of its own (instance.sleep); root
// is the fs: directory, which the module closes.
func moduleConfig(allow []string) (mc wazero.ModuleConfig, clock bool, root *os.Root, err error) {
	mc = wazero.NewModuleConfig().
		WithName("").        // anonymous: many instances of one module coexist
		WithStartFunctions() // _initialize is called explicitly, under the call timeout
	fsSet := false
	for _, a := range allow {
		switch {
		case a == "clock":
			mc, clock = mc.WithSysWalltime().WithSysNanotime(), true
		case a == "env":
			for _, kv := range os.Environ() {
				if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
					mc = mc.WithEnv(k, v)
				}
			}
		case strings.HasPrefix(a, "fs:"):
			dir := strings.TrimPrefix(a, "fs:")
			if fsSet {
				return nil, false, nil, fmt.Errorf("capability %q: only one fs: directory can be granted", a)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return nil, false, nil, fmt.Errorf("capability %q: %s is not a directory", a, dir)
			}
			// Through an os.Root, which refuses a path that leaves dir,
			// symbolic links included; wazero's own directory mount
			// follows a link out of it.
			r, err := os.OpenRoot(dir)
			if err != nil {
				return nil, false, nil, fmt.Errorf("capability %q: %w", a, err)
			}
			mc = mc.WithFSConfig(wazero.NewFSConfig().WithFSMount(r.FS(), "/"))
			root, fsSet = r, true
		default:
			return nil, false, nil, fmt.Errorf("unknown capability %q (want clock, env or fs:DIR)", a)
		}
	}
	return mc, clock, root, nil
}

// limitedMemory backs one instance's linear memory and refuses to grow past
// the plugin's limit, recording that it did: that flag is how a failed call
// is reported as ErrMemoryLimit whatever the guest does after memory.grow
// returns -1 (a Go guest exits 2, a Rust one aborts, C may trap anywhere).
//
// Where the system allows (mem_mmap.go), the memory is one reservation of
// address space of the limit's size, outside the Go heap, of which the
// kernel backs only the pages the guest touches: growing is then free,
// where growing a Go slice copied the whole memory and left the old copy
// to the GC (a guest growing to 50 MB page by page made gigabytes of
// garbage, and the peak RSS held old and new copies at once).
type limitedMemory struct {
	buf      []byte
	limit    uint64
	hit      *bool
	started  bool
	reserved []byte // the mapping, when reserve succeeded
}

func (l *limitedMemory) Reallocate(size uint64) []byte {
	if size > l.limit && l.started { // the first call is the module's minimum, checked at compile
		*l.hit = true
		return nil
	}
	if !l.started && size <= l.limit {
		l.reserved = reserve(l.limit)
	}
	l.started = true
	switch {
	case size <= uint64(cap(l.reserved)):
		l.buf = l.reserved[:size]
	case size <= uint64(cap(l.buf)):
		l.buf = l.buf[:size]
	default:
		l.buf = append(l.buf, make([]byte, size-uint64(len(l.buf)))...)
	}
	return l.buf
}

func (l *limitedMemory) Free() {
	l.buf = nil
	if l.reserved != nil {
		release(l.reserved)
		l.reserved = nil
	}
}

// withMemoryLimit makes the instance created under ctx use a limitedMemory.
func withMemoryLimit(ctx context.Context, limitPages uint32, hit *bool) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(
		func(_, _ uint64) experimental.LinearMemory {
			return &limitedMemory{limit: uint64(limitPages) * pageSize, hit: hit}
		}))
}
