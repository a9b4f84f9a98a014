package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// A Python plugin starts from the Python word count and builds with
// `wstream build`, so it needs no C toolchain; its unit test runs on a
// normal python3, where the wstream package works without the runtime.
func init() {
	scaffolds["python"] = scaffold{
		from:  "plugins/wordcount/python",
		files: map[string]string{"wordcount.py": "{{name}}.py"},
		build: "make",
		extra: pythonPlugin,
	}
}

func pythonPlugin(root, dir, name string) error {
	mk := fmt.Sprintf(`# Builds %[1]s.wasm from %[1]s.py: the Python runtime module with this
# file embedded (no C toolchain needed). make test runs the unit test on
# the local python3.
WSTREAM ?= wstream
PYTHON ?= python3
PYTHON_RUNTIME ?= %[2]s/guest-sdk/python/_build/python-runtime.wasm

%[1]s.wasm: %[1]s.py
	$(WSTREAM) build --python-runtime $(PYTHON_RUNTIME) -o $@ %[1]s.py

test:
	PYTHONPATH=%[2]s/guest-sdk/python $(PYTHON) -m unittest -v test_%[3]s

clean:
	rm -f %[1]s.wasm

.PHONY: test clean
`, name, root, pyIdent(name))
	test := fmt.Sprintf(`"""Unit tests of %[1]s's functions, on a normal python3: the wstream
decorators return the functions unchanged."""
import importlib
import unittest

import wstream

plugin = importlib.import_module("%[1]s")


class Test%[2]s(unittest.TestCase):
    def test_split_words_keeps_empty_words(self):
        self.assertEqual(plugin.split_words("a  b"), ["a", "", "b"])

    def test_pair_with_one(self):
        self.assertEqual(plugin.pair_with_one("a"), ("a", 1))

    def test_registered(self):
        kinds = {name: kind for name, (kind, _) in wstream.functions().items()}
        self.assertEqual(kinds, {"split-words": "flatMap", "pair-with-one": "map", "sum": "reduce"})


if __name__ == "__main__":
    unittest.main()
`, name, pyIdent(name))
	for f, body := range map[string]string{"Makefile": mk, "test_" + pyIdent(name) + ".py": test} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// pyIdent makes a plugin name usable in a Python identifier.
func pyIdent(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}
