//go:build cgo

package wasmtime

import (
	"encoding/binary"
	"math/rand"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// Wasmtime's WASI reads the real clock and real random bytes, and sleeps
// in the host where epoch interruption cannot reach. These functions
// shadow its clock_time_get, clock_res_get, random_get and poll_oneoff so
// that a guest sees what it sees on wazero: wazero's fixed random stream,
// and without the clock capability wazero's fake clocks (2022-01-01 and 0,
// one millisecond more at each reading) and sleeps that return at once;
// with it, the real clocks and sleeps cut at the call's deadline.

// WASI errno values.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNotsup  = 58
)

// fakeEpoch is wazero's fake wall clock start: midnight UTC 2022-01-01.
const fakeEpoch = 1640995200 * int64(time.Second)

// fakeRandSeed is wazero's seed for its fixed random stream.
const fakeRandSeed = 42

// wasiState is one instance's clocks and random stream.
type wasiState struct {
	wall, mono int64 // the fake clocks' next readings
	rand       *rand.Rand
	start      time.Time // for the real monotonic clock
}

func newWASIState() wasiState {
	return wasiState{wall: fakeEpoch, rand: rand.New(rand.NewSource(fakeRandSeed)), start: time.Now()}
}

// defineWASI shadows the linker's WASI clock, random and poll functions.
func (m *module) defineWASI(l *wasmtime.Linker) error {
	i32, i64 := wasmtime.NewValType(wasmtime.KindI32), wasmtime.NewValType(wasmtime.KindI64)
	vt := func(ks ...*wasmtime.ValType) []*wasmtime.ValType { return ks }
	l.AllowShadowing(true)
	for _, f := range []struct {
		name            string
		params, results []*wasmtime.ValType
		fn              func(in *instance, mem []byte, args []wasmtime.Val) int32
	}{
		{"clock_time_get", vt(i32, i64, i32), vt(i32), (*instance).clockTimeGet},
		{"clock_res_get", vt(i32, i32), vt(i32), (*instance).clockResGet},
		{"random_get", vt(i32, i32), vt(i32), (*instance).randomGet},
		{"poll_oneoff", vt(i32, i32, i32, i32), vt(i32), (*instance).pollOneoff},
	} {
		fn := f.fn
		err := l.FuncNew(wasiModule, f.name, wasmtime.NewFuncType(f.params, f.results), func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			in, _ := c.Data().(*instance)
			var mem []byte
			if ext := c.GetExport("memory"); ext != nil && ext.Memory() != nil {
				mem = ext.Memory().UnsafeData(c)
			}
			errno := int32(errnoFault)
			if in != nil {
				errno = fn(in, mem, args)
			}
			return []wasmtime.Val{wasmtime.ValI32(errno)}, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func putUint64(mem []byte, at uint32, v uint64) int32 {
	if uint64(at)+8 > uint64(len(mem)) {
		return errnoFault
	}
	binary.LittleEndian.PutUint64(mem[at:], v)
	return errnoSuccess
}

func (in *instance) clockTimeGet(mem []byte, args []wasmtime.Val) int32 {
	id, at := uint32(args[0].I32()), uint32(args[2].I32())
	var v int64
	switch {
	case id == 0 && in.m.caps.clock: // realtime
		v = time.Now().UnixNano()
	case id == 1 && in.m.caps.clock: // monotonic
		v = int64(time.Since(in.wasi.start))
	case id == 0:
		v, in.wasi.wall = in.wasi.wall, in.wasi.wall+int64(time.Millisecond)
	case id == 1:
		v, in.wasi.mono = in.wasi.mono, in.wasi.mono+int64(time.Millisecond)
	default:
		return errnoInval
	}
	return putUint64(mem, at, uint64(v))
}

func (in *instance) clockResGet(mem []byte, args []wasmtime.Val) int32 {
	switch id, at := uint32(args[0].I32()), uint32(args[1].I32()); id {
	case 0:
		return putUint64(mem, at, uint64(time.Microsecond))
	case 1:
		return putUint64(mem, at, 1)
	}
	return errnoInval
}

// randomGet fills the buffer from the fixed stream, with or without the
// clock, as wazero does.
func (in *instance) randomGet(mem []byte, args []wasmtime.Val) int32 {
	at, n := uint32(args[0].I32()), uint32(args[1].I32())
	if uint64(at)+uint64(n) > uint64(len(mem)) {
		return errnoFault
	}
	in.wasi.rand.Read(mem[at : at+n])
	return errnoSuccess
}

// pollOneoff answers fd subscriptions at once (stdin is empty, stdout and
// stderr always take writes) and sleeps for the shortest clock
// subscription only when the clock is granted, and never past the deadline
// of the call running.
func (in *instance) pollOneoff(mem []byte, args []wasmtime.Val) int32 {
	subs, events, n, nOut := uint32(args[0].I32()), uint32(args[1].I32()), uint32(args[2].I32()), uint32(args[3].I32())
	if n == 0 {
		return errnoInval
	}
	if uint64(subs)+48*uint64(n) > uint64(len(mem)) || uint64(events)+32*uint64(n) > uint64(len(mem)) || uint64(nOut)+4 > uint64(len(mem)) {
		return errnoFault
	}
	le := binary.LittleEndian
	sleep, fdReady := time.Duration(-1), false
	for i := uint32(0); i < n; i++ {
		sub := mem[subs+48*i:][:48]
		ev := mem[events+32*i:][:32]
		clear(ev)
		copy(ev, sub[:8]) // userdata
		ev[10] = sub[8]   // the event type is the subscription's
		switch sub[8] {
		case 0: // clock
			switch le.Uint16(sub[40:]) {
			case 0: // relative
			case 1:
				return errnoNotsup
			default:
				return errnoInval
			}
			if d := time.Duration(min(le.Uint64(sub[24:]), 1<<63-1)); sleep < 0 || d < sleep {
				sleep = d
			}
		case 1, 2: // fd_read, fd_write
			fdReady = true
			if fd := le.Uint32(sub[16:]); fd > 2 {
				ev[8] = errnoBadf
			}
		default:
			return errnoInval
		}
	}
	le.PutUint32(mem[nOut:], n)
	if sleep > 0 && !fdReady && in.m.caps.clock {
		if left := time.Until(in.deadline); left < sleep {
			sleep = left
		}
		if sleep > 0 {
			time.Sleep(sleep) // guest memory may move meanwhile; nothing is written after this
		}
	}
	return errnoSuccess
}
