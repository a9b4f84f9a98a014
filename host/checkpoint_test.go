package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	. "github.com/wstream/wstream/host"
)

func sampleCheckpoint(t int64) *Checkpoint {
	return &Checkpoint{
		Shape: "output<input;map(pair-with-one,,,,0,0,)", Time: t, Batches: t / 1000,
		Sources: map[string][]byte{"input": []byte("123"), "sock": nil},
		Sink:    456, Sides: map[string]int64{"late": 7}, State: []byte{0x93, 0xc3, 0x00, 0x90},
		Sinks:    map[string]int64{"counts": 9, "counts#2": 10},
		Staged:   map[string][]byte{"sink": {0x91, 0x01}},
		SinkURIs: map[string]string{"sink": "jsonl:a.jsonl", "counts": "postgres://u:xxxxx@h/db?table=t"},
		ID:       "0123abcd",
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	store, err := OpenCheckpoints(filepath.Join(t.TempDir(), "ckpt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck, err := store.Load(); ck != nil || err != nil {
		t.Fatalf("empty dir: %v, %v", ck, err)
	}
	for _, tm := range []int64{1000, 2000} {
		if err := store.Commit(sampleCheckpoint(tm)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.Load()
	if err != nil || !reflect.DeepEqual(got, sampleCheckpoint(2000)) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestCheckpointCorruptionIsReported(t *testing.T) {
	store, _ := OpenCheckpoints(t.TempDir(), nil)
	if err := store.Commit(sampleCheckpoint(1000)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(store.Path())
	for _, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-3] ^= 0xff; return b }, // a flipped bit
		func(b []byte) []byte { return b[:len(b)/2] },           // a torn file
		func(b []byte) []byte { return []byte("{}") },           // someone else's file
	} {
		os.WriteFile(store.Path(), damage(append([]byte(nil), data...)), 0o644)
		_, err := store.Load()
		if !errors.Is(err, ErrCheckpointCorrupt) || !strings.Contains(err.Error(), store.Path()) {
			t.Fatalf("damaged checkpoint: %v", err)
		}
	}
}

// faultFS injects failures into the checkpoint file system.
type faultFS struct {
	OSFS
	failWrite  error // WriteFileSync writes half, then fails with this
	failRename error
}

func (f *faultFS) WriteFileSync(path string, data []byte) error {
	if f.failWrite != nil {
		os.WriteFile(path, data[:len(data)/2], 0o644)
		return f.failWrite
	}
	return f.OSFS.WriteFileSync(path, data)
}

func (f *faultFS) Rename(from, to string) error {
	if f.failRename != nil {
		return f.failRename
	}
	return f.OSFS.Rename(from, to)
}

func TestCheckpointFaultsKeepThePreviousOne(t *testing.T) {
	for name, fs := range map[string]*faultFS{
		"full disk":    {failWrite: syscall.ENOSPC},
		"failed write": {failWrite: syscall.EIO},
		"torn rename":  {failRename: syscall.EIO},
	} {
		t.Run(name, func(t *testing.T) {
			store, _ := OpenCheckpoints(t.TempDir(), fs)
			saved := *fs
			*fs = faultFS{}
			if err := store.Commit(sampleCheckpoint(1000)); err != nil {
				t.Fatal(err)
			}
			*fs = saved
			err := store.Commit(sampleCheckpoint(2000))
			if err == nil || !strings.Contains(err.Error(), "previous checkpoint is intact") {
				t.Fatalf("commit under fault: %v", err)
			}
			if fs.failWrite == syscall.ENOSPC && !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("full disk not named: %v", err)
			}
			got, err := store.Load()
			if err != nil || got.Time != 1000 {
				t.Fatalf("after the fault the checkpoint is %+v, %v; want the one at 1000", got, err)
			}
		})
	}
}
