package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/wstream/wstream/abi"
)

// A checkpoint is one file, DIR/checkpoint, replaced atomically after a
// batch: written to DIR/checkpoint.tmp, fsynced, renamed over the old one,
// and the directory fsynced. A reader therefore sees the old checkpoint or
// the new one, never a mix. The file is
//
//	"WSTREAM-CKPT" | version (1 byte) | crc32 of payload (4 bytes BE) | payload
//
// and the payload is a msgpack map (see encode). Any damage shows up as a
// checksum mismatch, reported with the path; it is never silently ignored.

const (
	checkpointMagic   = "WSTREAM-CKPT"
	checkpointVersion = 1
	checkpointFile    = "checkpoint"
)

// ErrCheckpointCorrupt marks a checkpoint file that fails its checksum or
// does not decode.
var ErrCheckpointCorrupt = errors.New("checkpoint is corrupt")

// ErrCheckpointMismatch marks a checkpoint written by a different pipeline.
var ErrCheckpointMismatch = errors.New("checkpoint belongs to a different pipeline")

// Checkpoint is what survives a restart: the operator state, where each
// source got to, and how much output the sink holds, all as of the end of
// the batch at Time.
type Checkpoint struct {
	// Shape describes the operator chain that wrote the state.
	Shape string
	// Time is the last committed batch time (ms); Batches counts batches.
	Time    int64
	Batches int64
	// Sources maps source name to its position (nil: not replayable).
	Sources map[string][]byte
	// Sink is the main sink's progress (ProgressSink), or -1 when it has
	// none; Sides holds the side sinks' progress by side-output name, and
	// Sinks the other sinks' (RunConfig.Outputs) by their name.
	Sink  int64
	Sides map[string]int64
	Sinks map[string]int64
	// SinkURIs holds the URI of each sink but the side sinks, by name, so
	// that a sink that changed places finds its own progress.
	SinkURIs map[string]string
	// Staged holds what each StagingSink had staged, by sink name: output
	// to deliver once this checkpoint is durable, again after a restart.
	Staged map[string][]byte
	// ID names the pipeline for StagingSinks' records of what they
	// delivered; a new checkpoint directory is a new pipeline.
	ID string
	// State is the operator graph's snapshot.
	State []byte
	// Interval is the batch interval in ms (0 in checkpoints of wstream
	// versions that did not record it): a restart with another interval
	// would cut windows differently, so it is refused.
	Interval int64
	// Plugins maps each plugin file to the sha256 of its contents; a
	// changed plugin with the same functions is an upgrade of operator
	// code, which keeps the state and is logged.
	Plugins map[string]string
}

// FS is the file operations checkpoints use. The default is the real file
// system; tests wrap it to inject failed writes, torn renames and full disks.
type FS interface {
	MkdirAll(dir string) error
	// WriteFileSync creates or truncates path, writes data and fsyncs it.
	WriteFileSync(path string, data []byte) error
	Rename(from, to string) error
	// SyncDir fsyncs a directory so a rename in it is durable.
	SyncDir(dir string) error
	ReadFile(path string) ([]byte, error)
}

// OSFS is the real file system.
type OSFS struct{}

func (OSFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (OSFS) WriteFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (OSFS) Rename(from, to string) error { return os.Rename(from, to) }

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (OSFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// CheckpointStore reads and commits the checkpoint of one directory.
type CheckpointStore struct {
	dir  string
	fs   FS
	buf  []byte
	made bool // dir exists
}

// OpenCheckpoints returns the store of dir; fs nil means the real file
// system. Nothing is created before the first commit.
func OpenCheckpoints(dir string, fs FS) (*CheckpointStore, error) {
	if fs == nil {
		fs = OSFS{}
	}
	if dir == "" {
		return nil, errors.New("checkpoint: no directory")
	}
	return &CheckpointStore{dir: dir, fs: fs}, nil
}

// Path is the checkpoint file's path.
func (c *CheckpointStore) Path() string { return filepath.Join(c.dir, checkpointFile) }

// Load returns the committed checkpoint, or nil when there is none yet.
func (c *CheckpointStore) Load() (*Checkpoint, error) {
	data, err := c.fs.ReadFile(c.Path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", c.Path(), err)
	}
	ck, err := decodeCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v; move it away to start from scratch (state and positions will be lost), or restore it from a backup", ErrCheckpointCorrupt, c.Path(), err)
	}
	return ck, nil
}

// Commit atomically replaces the checkpoint with ck. On error the previous
// checkpoint is still in place and intact.
func (c *CheckpointStore) Commit(ck *Checkpoint) error {
	if !c.made {
		if err := c.fs.MkdirAll(c.dir); err != nil {
			return fmt.Errorf("checkpoint directory %s: %w", c.dir, err)
		}
		c.made = true
	}
	c.buf = encodeCheckpoint(c.buf[:0], ck)
	tmp := c.Path() + ".tmp"
	if err := c.fs.WriteFileSync(tmp, c.buf); err != nil {
		return fmt.Errorf("writing checkpoint %s: %w (the previous checkpoint is intact)", tmp, err)
	}
	if err := c.fs.Rename(tmp, c.Path()); err != nil {
		return fmt.Errorf("committing checkpoint %s: %w (the previous checkpoint is intact)", c.Path(), err)
	}
	if err := c.fs.SyncDir(c.dir); err != nil {
		return fmt.Errorf("syncing checkpoint directory %s: %w", c.dir, err)
	}
	return nil
}

func encodeCheckpoint(dst []byte, ck *Checkpoint) []byte {
	dst = append(dst, checkpointMagic...)
	dst = append(dst, checkpointVersion, 0, 0, 0, 0)
	start := len(dst)
	dst = abi.AppendMapHeader(dst, 13)
	dst = abi.AppendString(abi.AppendString(dst, "shape"), ck.Shape)
	dst = abi.AppendString(abi.AppendString(dst, "id"), ck.ID)
	dst = abi.AppendInt(abi.AppendString(dst, "time"), ck.Time)
	dst = abi.AppendInt(abi.AppendString(dst, "batches"), ck.Batches)
	dst = appendMap(abi.AppendString(dst, "sources"), ck.Sources, func(dst, p []byte) []byte {
		if p == nil {
			return abi.AppendNil(dst)
		}
		return abi.AppendBinary(dst, p)
	})
	dst = abi.AppendInt(abi.AppendString(dst, "sink"), ck.Sink)
	dst = appendMap(abi.AppendString(dst, "sides"), ck.Sides, abi.AppendInt)
	dst = appendMap(abi.AppendString(dst, "sinks"), ck.Sinks, abi.AppendInt)
	dst = appendMap(abi.AppendString(dst, "sinkURIs"), ck.SinkURIs, abi.AppendString)
	dst = appendMap(abi.AppendString(dst, "staged"), ck.Staged, abi.AppendBinary)
	dst = abi.AppendInt(abi.AppendString(dst, "interval"), ck.Interval)
	dst = appendMap(abi.AppendString(dst, "plugins"), ck.Plugins, abi.AppendString)
	dst = abi.AppendBinary(abi.AppendString(dst, "state"), ck.State)
	binary.BigEndian.PutUint32(dst[start-4:], crc32.ChecksumIEEE(dst[start:]))
	return dst
}

// appendMap appends m as a msgpack map, keys sorted.
func appendMap[V any](dst []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	dst = abi.AppendMapHeader(dst, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		dst = value(abi.AppendString(dst, k), m[k])
	}
	return dst
}

// readMap reads a msgpack map with string keys into m, each value by value.
func readMap[V any](b []byte, m map[string]V, value func([]byte) (V, []byte, error)) ([]byte, error) {
	n, rest, err := abi.MapHeader(b)
	for j := 0; j < n && err == nil; j++ {
		var k string
		var v V
		if k, rest, err = abi.ReadString(rest); err == nil {
			if v, rest, err = value(rest); err == nil {
				m[k] = v
			}
		}
	}
	return rest, err
}

// readBytes reads a binary or string value into a copy.
func readBytes(b []byte) ([]byte, []byte, error) {
	v, rest, err := abi.ReadStringBytes(b)
	return append([]byte(nil), v...), rest, err
}

func decodeCheckpoint(data []byte) (*Checkpoint, error) {
	head := len(checkpointMagic) + 5
	if len(data) < head || !bytes.HasPrefix(data, []byte(checkpointMagic)) {
		return nil, errors.New("not a wstream checkpoint file")
	}
	if v := data[len(checkpointMagic)]; v != checkpointVersion {
		return nil, fmt.Errorf("checkpoint format version %d; this wstream reads version %d", v, checkpointVersion)
	}
	payload := data[head:]
	if binary.BigEndian.Uint32(data[head-4:]) != crc32.ChecksumIEEE(payload) {
		return nil, errors.New("checksum mismatch")
	}
	n, rest, err := abi.MapHeader(payload)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Sources: map[string][]byte{}, Sink: -1, Sides: map[string]int64{}, Sinks: map[string]int64{}, SinkURIs: map[string]string{}, Staged: map[string][]byte{}}
	for i := 0; i < n; i++ {
		var key string
		if key, rest, err = abi.ReadString(rest); err != nil {
			return nil, err
		}
		switch key {
		case "shape":
			ck.Shape, rest, err = abi.ReadString(rest)
		case "time":
			ck.Time, rest, err = abi.ReadInt(rest)
		case "batches":
			ck.Batches, rest, err = abi.ReadInt(rest)
		case "sink":
			ck.Sink, rest, err = abi.ReadInt(rest)
		case "sides":
			rest, err = readMap(rest, ck.Sides, abi.ReadInt)
		case "id":
			ck.ID, rest, err = abi.ReadString(rest)
		case "sinks":
			rest, err = readMap(rest, ck.Sinks, abi.ReadInt)
		case "sinkURIs":
			rest, err = readMap(rest, ck.SinkURIs, abi.ReadString)
		case "staged":
			rest, err = readMap(rest, ck.Staged, readBytes)
		case "interval":
			ck.Interval, rest, err = abi.ReadInt(rest)
		case "plugins":
			plugins := map[string]string{}
			if rest, err = readMap(rest, plugins, abi.ReadString); len(plugins) > 0 {
				ck.Plugins = plugins
			}
		case "state":
			ck.State, rest, err = readBytes(rest)
		case "sources":
			rest, err = readMap(rest, ck.Sources, func(b []byte) ([]byte, []byte, error) {
				if abi.IsNil(b) {
					return nil, b[1:], nil
				}
				return readBytes(b)
			})
		default:
			_, rest, err = abi.Next(rest)
		}
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", key, err)
		}
	}
	return ck, nil
}
