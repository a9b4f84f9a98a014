// Package pybuild makes wstream plugins from Python source without a C
// toolchain: the CPython interpreter is compiled once into a runtime module
// (guest-sdk/python/Makefile), and a plugin is a copy of that module with
// the author's files embedded as a bundle.
//
// A bundle is a passive data segment that the runtime's importer reads
// (runtime/bootstrap.py documents the format). The runtime has two slots:
// "stdlib", filled when the runtime is built, and "app", filled by Build.
package pybuild

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The runtime's bundle slots.
const (
	SlotStdlib = "stdlib"
	SlotApp    = "app"
)

// MainEntry is the app bundle entry that names the module to import first.
const MainEntry = ".main"

// RuntimeFile is the runtime module's file name, as the Makefile writes it
// and FindRuntime looks for it.
const RuntimeFile = "python-runtime.wasm"

// File is one file of a bundle. Path is relative, with forward slashes:
// "app.py", "mylib/__init__.py".
type File struct {
	Path string
	Data []byte
}

// Build returns a plugin: a copy of the runtime module with files (see
// ReadApp) as its app bundle. runtime is not modified.
func Build(runtime []byte, files []File) ([]byte, error) {
	main := false
	for _, f := range files {
		main = main || f.Path == MainEntry
	}
	if !main {
		return nil, fmt.Errorf("no %s entry names the module to run; use ReadApp", MainEntry)
	}
	return Embed(runtime, SlotApp, files)
}

// Embed fills one slot of a module with a bundle of files.
func Embed(module []byte, slot string, files []File) ([]byte, error) {
	data, err := Pack(files)
	if err != nil {
		return nil, err
	}
	out, err := fill(module, slot, data)
	if errors.Is(err, errSlotMissing) {
		return nil, fmt.Errorf("the module has no empty %q slot: it is not the Python runtime module (%s), or a plugin already built from it",
			slot, RuntimeFile)
	}
	return out, err
}

const bundleMagic = "WSPYBND1"

// Pack encodes files as a bundle, sorted by path so that the same files
// always give the same bytes.
func Pack(files []File) ([]byte, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var index bytes.Buffer
	size := 0
	for i, f := range sorted {
		if i > 0 && sorted[i-1].Path == f.Path {
			return nil, fmt.Errorf("bundle: %s appears twice", f.Path)
		}
		if err := checkPath(f.Path); err != nil {
			return nil, err
		}
		index.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(f.Path))))
		index.WriteString(f.Path)
		index.Write(make([]byte, 8)) // offset and length, below
		size += len(f.Data)
	}
	head := 16 + index.Len()
	if head+size > 1<<30 {
		return nil, fmt.Errorf("bundle: %d bytes of files; the limit is 1 GiB", size)
	}
	out := make([]byte, 0, head+size)
	out = append(out, bundleMagic...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(sorted)))
	out = binary.LittleEndian.AppendUint32(out, uint32(index.Len()))
	out = append(out, index.Bytes()...)
	at, off := 16, head
	for _, f := range sorted {
		at += 2 + len(f.Path)
		binary.LittleEndian.PutUint32(out[at:], uint32(off))
		binary.LittleEndian.PutUint32(out[at+4:], uint32(len(f.Data)))
		at += 8
		off += len(f.Data)
		out = append(out, f.Data...)
	}
	return out, nil
}

func checkPath(p string) error {
	if p == MainEntry {
		return nil
	}
	if p == "" || len(p) > 4096 || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") ||
		path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("bundle: %q is not a clean relative path", p)
	}
	return nil
}

// Unpack decodes a bundle made by Pack.
func Unpack(b []byte) ([]File, error) {
	if len(b) < 16 || string(b[:8]) != bundleMagic {
		return nil, errors.New("not a wstream Python bundle")
	}
	n := binary.LittleEndian.Uint32(b[8:])
	end := 16 + uint64(binary.LittleEndian.Uint32(b[12:]))
	if end > uint64(len(b)) {
		return nil, errors.New("bundle: index past the end")
	}
	index := b[16:end]
	files := make([]File, 0, n)
	for i := uint32(0); i < n; i++ {
		if len(index) < 2 {
			return nil, errors.New("bundle: index too short")
		}
		k := int(binary.LittleEndian.Uint16(index))
		if len(index) < 2+k+8 {
			return nil, errors.New("bundle: index too short")
		}
		p := string(index[2 : 2+k])
		off := uint64(binary.LittleEndian.Uint32(index[2+k:]))
		size := uint64(binary.LittleEndian.Uint32(index[2+k+4:]))
		if off+size > uint64(len(b)) {
			return nil, fmt.Errorf("bundle: %s past the end", p)
		}
		files = append(files, File{p, b[off : off+size]})
		index = index[2+k+8:]
	}
	return files, nil
}

// ReadApp reads a Python program: the main file, and every file of each
// lib folder (pure-Python packages, as `pip install --target DIR` leaves
// them; like spark-submit's --py-files). The main module is the main
// file's name without .py.
func ReadApp(mainFile string, libs ...string) ([]File, error) {
	base := filepath.Base(mainFile)
	mod, ok := strings.CutSuffix(base, ".py")
	if !ok || mod == "" || strings.Contains(mod, ".") {
		return nil, fmt.Errorf("%s: the main file must be a .py file named like a module (app.py)", mainFile)
	}
	src, err := os.ReadFile(mainFile)
	if err != nil {
		return nil, err
	}
	files := []File{{MainEntry, []byte(mod)}, {base, src}}
	from := map[string]string{base: mainFile}
	for _, lib := range libs {
		st, err := os.Stat(lib)
		if err != nil {
			return nil, fmt.Errorf("lib folder: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("lib folder %s is not a folder", lib)
		}
		err = filepath.WalkDir(lib, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if p != lib && (strings.HasPrefix(name, ".") || name == "__pycache__") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || strings.HasSuffix(name, ".pyc") {
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s: not a regular file", p)
			}
			switch filepath.Ext(name) {
			case ".so", ".pyd", ".dylib", ".dll":
				return fmt.Errorf("%s: a native extension cannot run in the Python runtime (WebAssembly); use pure-Python packages", p)
			}
			rel, err := filepath.Rel(lib, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if other, ok := from[rel]; ok {
				if prev := files[indexOf(files, rel)].Data; bytes.Equal(prev, data) {
					return nil
				}
				return fmt.Errorf("%s and %s are both %s in the plugin", other, p, rel)
			}
			from[rel] = p
			files = append(files, File{rel, data})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func indexOf(files []File, p string) int {
	for i, f := range files {
		if f.Path == p {
			return i
		}
	}
	return -1
}

// ReadDir reads every file below dir as bundle files (the runtime build
// packs the compiled standard library this way).
func ReadDir(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		files = append(files, File{filepath.ToSlash(rel), data})
		return err
	})
	return files, err
}

// WriteFile writes a module to path through a temporary file beside it
// renamed into place, so that path never holds half a module.
func WriteFile(path string, module []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pybuild-*.wasm")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(module); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// FindRuntime locates the runtime module: $WSTREAM_PYTHON_RUNTIME, else
// RuntimeFile beside the executable exe, else the build output of a
// wstream checkout above dir or exe (guest-sdk/python/_build).
func FindRuntime(exe, dir string) (string, error) {
	if p := os.Getenv("WSTREAM_PYTHON_RUNTIME"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("WSTREAM_PYTHON_RUNTIME: %w", err)
		}
		return p, nil
	}
	var starts []string
	if exe != "" {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		p := filepath.Join(filepath.Dir(exe), RuntimeFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if dir != "" {
		starts = append([]string{dir}, starts...)
	}
	for _, d := range starts {
		d, _ = filepath.Abs(d)
		for {
			p := filepath.Join(d, "guest-sdk", "python", "_build", RuntimeFile)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			up := filepath.Dir(d)
			if up == d {
				break
			}
			d = up
		}
	}
	return "", fmt.Errorf("no Python runtime module (%s) found: build it with `make -C guest-sdk/python` in a wstream checkout, then pass --runtime FILE or set WSTREAM_PYTHON_RUNTIME (or put it beside the wstream binary)", RuntimeFile)
}
