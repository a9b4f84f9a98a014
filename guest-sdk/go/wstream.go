// Package wstream is the Go guest SDK for wstream plugins. A plugin registers
// plain Go functions, usually from init, and the SDK provides the ABI v1
// exports (abi/ABI.md): it decodes each batch, calls the function once per
// element, group or key, encodes the results, and turns errors and panics
// into per-record errors so one bad record never fails the whole batch.
//
// Values are what abi.Decode returns: nil, bool, int64, float64, string,
// []byte, []any and map[string]any (uint64 only for integers above
// math.MaxInt64). A key/value pair is a []any of length 2 (see Pair).
// Results may also use the other Go int and float types; they are encoded in
// the shortest canonical form, so an int key stays the same key.
//
// Build a plugin as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// main.main is not run in a reactor, so register functions from init.
package wstream

import (
	"fmt"

	"github.com/wstream/wstream/abi"
)

// Option is an optional value: the state of an Update function. A state
// that is present but nil (Some(nil)) is different from no state (None).
type Option struct {
	Value any
	OK    bool
}

// None is the absent Option; an Update function returns it to remove a key.
var None Option

// Some returns a present Option holding v.
func Some(v any) Option { return Option{Value: v, OK: true} }

// Or returns the value, or def when o is None: the usual "state or 0".
func (o Option) Or(def any) any {
	if o.OK {
		return o.Value
	}
	return def
}

// function is one registered function; exactly one of the func fields is
// set, matching kind. A struct of typed fields instead of an interface keeps
// the per-record path free of reflection and allocation.
type function struct {
	name    string
	kind    abi.Kind
	mapFn   func(any) (any, error)
	flatFn  func(any) ([]any, error)
	filter  func(any) (bool, error)
	reduce  func(a, b any) (any, error)
	updateF func(key any, values []any, state Option, timeMs int64) (Option, error)
	mapSt   func(timeMs int64, key any, value Option, state *State) (Option, error)

	// the raw API (raw.go)
	mapRaw    func(dst []byte, x abi.Raw) ([]byte, error)
	flatRaw   func(dst []byte, x abi.Raw) ([]byte, int, error)
	filterRaw func(x abi.Raw) (bool, error)
}

// registry is everything the manifest and dispatch need. The exported
// functions fill the package-level one; tests build their own.
type registry struct {
	name, version, pipeline string
	fns                     []function
}

var plugin registry

func (r *registry) add(f function, set bool) {
	if f.name == "" {
		panic("wstream: a function needs a name")
	}
	if !set {
		panic(fmt.Sprintf("wstream: function %q is nil", f.name))
	}
	for _, g := range r.fns {
		if g.name == f.name {
			panic(fmt.Sprintf("wstream: function %q registered twice", f.name))
		}
	}
	r.fns = append(r.fns, f)
}

// Plugin sets the plugin's name and version, as the manifest reports them.
func Plugin(name, version string) { plugin.name, plugin.version = name, version }

// DefaultPipeline sets the pipeline (pipeline-file YAML) that
// `wstream run --plugin FILE` runs when no pipeline file is given.
func DefaultPipeline(yaml string) { plugin.pipeline = yaml }

// Map registers a function that turns each element into one result. It also
// serves mapValues (it then receives values only) and event-time extraction.
// Registering a name twice or a nil function panics.
func Map(name string, f func(x any) (any, error)) {
	plugin.add(function{name: name, kind: abi.KindMap, mapFn: f}, f != nil)
}

// FlatMap registers a function that turns each element into zero or more results.
func FlatMap(name string, f func(x any) ([]any, error)) {
	plugin.add(function{name: name, kind: abi.KindFlatMap, flatFn: f}, f != nil)
}

// Filter registers a predicate; elements for which it returns true are kept.
func Filter(name string, f func(x any) (bool, error)) {
	plugin.add(function{name: name, kind: abi.KindFilter, filter: f}, f != nil)
}

// Reduce registers an associative binary function. Each group of values is
// folded left, f(f(v1, v2), v3)…; a group of one value is its own result and
// f is not called.
func Reduce(name string, f func(a, b any) (any, error)) {
	plugin.add(function{name: name, kind: abi.KindReduce, reduce: f}, f != nil)
}

// Update registers an updateStateByKey function. It is called for every key
// in state every batch, with this batch's values for the key (possibly
// none), the previous state, and the batch time in ms since the epoch. It
// returns the new state, or None to remove the key.
func Update(name string, f func(key any, values []any, state Option, timeMs int64) (Option, error)) {
	plugin.add(function{name: name, kind: abi.KindUpdate, updateF: f}, f != nil)
}

// MapState registers a mapWithState function (Spark's StateSpec.function).
// It is called once per record of the batch, in batch order, with the
// batch time in ms, the record's key and value, and the key's state, which
// it may read, update or remove; the state a call leaves is what the next
// record of the same key sees. A key whose state timed out (the stage's
// timeout:) gets one more call with value None and state.IsTimingOut(): it
// may read the state but not change it, and the key is then removed. The
// returned Option is emitted when it is Some.
func MapState(name string, f func(timeMs int64, key any, value Option, state *State) (Option, error)) {
	plugin.add(function{name: name, kind: abi.KindMapState, mapSt: f}, f != nil)
}

// State is one key's state inside a MapState function (Spark's State).
type State struct {
	value     any
	exists    bool
	changed   bool // updated or removed since the key's first call of the batch
	timingOut bool
	misuse    string // a change tried while timing out: fails the key
}

// NewState returns a key's state as a MapState function receives it, for
// a plugin's own tests: s is the state before the call, and timingOut
// makes it the key's last call.
func NewState(s Option, timingOut bool) *State {
	return &State{value: s.Value, exists: s.OK, timingOut: timingOut}
}

// Exists reports whether the key has a state.
func (s *State) Exists() bool { return s.exists }

// Get returns the state, None when the key has none.
func (s *State) Get() Option {
	if !s.exists {
		return None
	}
	return Some(s.value)
}

// Update sets the key's state. While the key is timing out it fails the
// key instead, as Spark's update throws there.
func (s *State) Update(v any) {
	if s.timingOut {
		s.misuse = "cannot update the state of a key that is timing out"
		return
	}
	s.value, s.exists, s.changed = v, true, true
}

// Remove removes the key's state. While the key is timing out it fails
// the key instead.
func (s *State) Remove() {
	if s.timingOut {
		s.misuse = "cannot remove the state of a key that is timing out"
		return
	}
	s.value, s.exists, s.changed = nil, false, true
}

// IsTimingOut reports whether this call is the key's last, after its
// state was idle longer than the stage's timeout.
func (s *State) IsTimingOut() bool { return s.timingOut }

// manifest returns the plugin's manifest, in registration (id) order.
func (r *registry) manifest() *abi.Manifest {
	m := &abi.Manifest{
		ABI:       abi.Version,
		Name:      r.name,
		Version:   r.version,
		Language:  "go",
		Pipeline:  r.pipeline,
		Functions: make([]abi.Function, len(r.fns)),
	}
	for i, f := range r.fns {
		m.Functions[i] = abi.Function{Name: f.name, Kind: f.kind}
	}
	return m
}
