package pybuild

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// A module with the runtime's slot shape: the slot function (a placeholder
// body), a caller that reads through it, and maybe an active data segment.
const slotModule = `(module
  (memory (export "memory") 1)
  (func $slot (export "wstream_py_bundle_app") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "read") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $slot)
  %s)`

func wat(t *testing.T, src string, flags ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not found: apt-get install -y wabt")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "m.wat")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.wasm")
	if b, err := exec.Command("wat2wasm", append(flags, "-o", out, in)...).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFillMakesTheBundleReadable(t *testing.T) {
	files := []File{{"b/__init__.py", []byte("x = 1\n")}, {MainEntry, []byte("a")}, {"a.py", []byte("import b\n")}}
	for name, body := range map[string]string{
		"no data":           "",
		"active data":       `(data (i32.const 100) "keep")`,
		"passive and count": `(data "first") (func (export "drop") data.drop 0)`,
	} {
		t.Run(name, func(t *testing.T) {
			module := wat(t, strings.ReplaceAll(slotModule, "%s", body))
			out, err := Build(module, files)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			mod, err := rt.Instantiate(ctx, out)
			if err != nil {
				t.Fatalf("the filled module does not instantiate: %v", err)
			}
			if mod.ExportedFunction("wstream_py_bundle_app") != nil {
				t.Error("the slot is still exported")
			}
			read := mod.ExportedFunction("read")
			res, err := read.Call(ctx, 0, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Pack(files)
			if int(res[0]) != len(want) {
				t.Fatalf("size %d, want %d", res[0], len(want))
			}
			if _, err := read.Call(ctx, 1000, 3, uint64(len(want)-3)); err != nil {
				t.Fatal(err)
			}
			got, _ := mod.Memory().Read(1000, uint32(len(want)-3))
			if !bytes.Equal(got, want[3:]) {
				t.Fatalf("read %q, want %q", got, want[3:])
			}
			if _, err := read.Call(ctx, 1000, 0, uint64(len(want)+1)); err == nil {
				t.Error("a read past the bundle's end did not trap")
			}
			if strings.Contains(body, "keep") {
				if b, _ := mod.Memory().Read(100, 4); string(b) != "keep" {
					t.Errorf("active data at 100 is %q", b)
				}
			}
			if _, err := Build(out, files); err == nil || !strings.Contains(err.Error(), "no empty \"app\" slot") {
				t.Errorf("filling a slot twice: %v", err)
			}
		})
	}
}

func TestPackRoundTrip(t *testing.T) {
	files := []File{{"z.py", []byte("z")}, {"a/b.txt", nil}, {MainEntry, []byte("z")}}
	b, err := Pack(files)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Path != MainEntry || got[1].Path != "a/b.txt" || string(got[2].Data) != "z" {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []string{"/abs.py", "../up.py", "a/../b.py", "a\\b.py", ""} {
		if _, err := Pack([]File{{bad, nil}}); err == nil {
			t.Errorf("%q packed", bad)
		}
	}
	if _, err := Pack([]File{{"a.py", nil}, {"a.py", nil}}); err == nil {
		t.Error("a duplicate path packed")
	}
}

func TestBuildRefusesWhatIsNotTheRuntime(t *testing.T) {
	module := wat(t, `(module (memory (export "memory") 1))`)
	_, err := Build(module, []File{{MainEntry, []byte("a")}})
	if err == nil || !strings.Contains(err.Error(), "not the Python runtime module") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Build([]byte("text"), []File{{MainEntry, []byte("a")}}); err == nil {
		t.Fatal("a non-module built")
	}
	wrong := wat(t, `(module (func (export "wstream_py_bundle_app") (param i32) (result i32) i32.const 0))`)
	if _, err := Build(wrong, []File{{MainEntry, []byte("a")}}); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("a slot with the wrong signature: %v", err)
	}
}

func TestReadApp(t *testing.T) {
	dir := t.TempDir()
	write := func(p, body string) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.py", "import dep\n")
	write("lib/dep/__init__.py", "")
	write("lib/dep/data.json", "{}")
	write("lib/dep/__pycache__/x.pyc", "junk")
	write("lib/.git/config", "junk")
	files, err := ReadApp(filepath.Join(dir, "app.py"), filepath.Join(dir, "lib"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != ".main app.py dep/__init__.py dep/data.json" {
		t.Fatalf("files: %s", got)
	}
	write("native/fast.so", "ELF")
	if _, err := ReadApp(filepath.Join(dir, "app.py"), filepath.Join(dir, "native")); err == nil || !strings.Contains(err.Error(), "native extension") {
		t.Errorf("a .so: %v", err)
	}
	write("other/app.py", "different")
	if _, err := ReadApp(filepath.Join(dir, "app.py"), filepath.Join(dir, "other")); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("two app.py: %v", err)
	}
	for _, bad := range []string{"app.txt", "my.app.py"} {
		write(bad, "")
		if _, err := ReadApp(filepath.Join(dir, bad)); err == nil {
			t.Errorf("%s accepted as the main file", bad)
		}
	}
}
