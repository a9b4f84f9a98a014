// Package abi is the wire contract between the wstream host and a WebAssembly
// guest: export and import names, function kinds, the manifest, the msgpack
// encoding of batches, and the error codes. ABI.md beside this file is the
// normative text; this package implements it without reflection so that it
// can run on the host's hot path and inside guests (it builds for GOOS=wasip1).
package abi

// Version is the batch ABI version this package speaks. A guest's
// wstream_abi_version export must return it.
const Version = 1

// Export names a guest provides. Their signatures are in ABI.md.
const (
	ExportVersion    = "wstream_abi_version"
	ExportAlloc      = "wstream_alloc"
	ExportManifest   = "wstream_manifest"
	ExportCall       = "wstream_call"
	ExportInitialize = "_initialize"
)

// ImportModule is the module name of the host functions a guest may import.
// The version is in the name so that a v2 host can still serve v1 guests.
const ImportModule = "wstream_v1"

// ImportLog is the host function log(level, ptr, len i32).
const ImportLog = "log"

// Log levels for ImportLog.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// Kind is the calling convention of a guest function: what one call per batch
// receives and returns.
type Kind string

const (
	// KindMap: [x...] -> [y...], one result per element.
	KindMap Kind = "map"
	// KindFlatMap: [x...] -> [[y...]...], one array of results per element.
	KindFlatMap Kind = "flatMap"
	// KindFilter: [x...] -> [bool...].
	KindFilter Kind = "filter"
	// KindReduce: [[v...]...] -> [r...]: an associative binary function,
	// folded left over each group.
	KindReduce Kind = "reduce"
	// KindUpdate: [time, [[k, [v...], [s]|[]]...]] -> [[s]|[]...].
	KindUpdate Kind = "update"
	// KindMapState: [time, [[k, [s]|[], [v...], timingOut]...]] ->
	// [[[out]|[]...], nil|[]|[s]...]: Spark's mapWithState, called only for
	// the keys of the batch and the keys timing out.
	KindMapState Kind = "mapState"
)

// Valid reports whether k is one of the kinds of ABI v1.
func (k Kind) Valid() bool {
	switch k {
	case KindMap, KindFlatMap, KindFilter, KindReduce, KindUpdate, KindMapState:
		return true
	}
	return false
}

// Function is one named entry of a manifest.
type Function struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
}

// Manifest describes a plugin. The index of a function in Functions is the
// id passed to wstream_call.
type Manifest struct {
	ABI       int        `json:"abi"`
	Name      string     `json:"name"`
	Version   string     `json:"version"`
	Language  string     `json:"language"`
	Functions []Function `json:"functions"`
	// Pipeline is the plugin's default pipeline, as pipeline-file YAML
	// (JSON is YAML too); empty when the plugin has none.
	Pipeline string `json:"pipeline,omitempty"`
}

// Lookup returns the id and kind of the named function.
func (m *Manifest) Lookup(name string) (int, Kind, bool) {
	for i, f := range m.Functions {
		if f.Name == name {
			return i, f.Kind, true
		}
	}
	return -1, "", false
}

// Pack and Unpack put a guest pointer and length in one 64-bit result, as
// wstream_manifest and wstream_call return them: ptr in the high 32 bits.
func Pack(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// Unpack is the inverse of Pack.
func Unpack(v uint64) (ptr, length uint32) { return uint32(v >> 32), uint32(v) }
