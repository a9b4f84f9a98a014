"""The wstream package on a normal CPython, where authors unit-test their
functions: the decorators, the checks they make, the value helpers (the
pure-Python versions of the runtime's C ones) and the DStream builder.
Run by sdk_test.go, or: python3 -m unittest discover -s guest-sdk/python/tests
"""
import importlib
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def fresh():
    """A new wstream module, so that registrations do not leak between tests."""
    sys.modules.pop("wstream", None)
    return importlib.import_module("wstream")


class Decorators(unittest.TestCase):
    def test_forms_and_default_names(self):
        ws = fresh()

        @ws.map
        def pair_with_one(w):
            return (w, 1)

        @ws.flat_map("split")
        def split_words(line):
            return line.split(" ")

        ws.reduce("sum", lambda a, b: a + b)
        self.assertEqual(pair_with_one("a"), ("a", 1))  # returned unchanged
        self.assertEqual({n: k for n, (k, _) in ws.functions().items()},
                         {"pair-with-one": "map", "split": "flatMap", "sum": "reduce"})

    def test_mistakes_are_clear(self):
        ws = fresh()
        with self.assertRaisesRegex(TypeError, "a lambda needs a name"):
            ws.map(lambda x: x)
        with self.assertRaisesRegex(TypeError, "takes 2 positional argument"):
            ws.reduce("r", lambda a: a)
        with self.assertRaisesRegex(TypeError, r"takes 2 or 3 or 4 positional argument\(s\); f takes 1"):
            def f(values):
                return values
            ws.update(f)
        ws.map("x", len)
        with self.assertRaisesRegex(ValueError, "already registered"):
            ws.filter("x", bool)

    def test_update_arities(self):
        ws = fresh()
        ws.update("two", lambda values, state: state)
        ws.update("three", lambda key, values, state: state)
        ws.update("four", lambda t, key, values, state: state)
        ws.update("star", lambda *args: None)
        self.assertEqual(len(ws.functions()), 4)


class Values(unittest.TestCase):
    def test_add_wraps_like_the_jvm(self):
        ws = fresh()
        self.assertEqual(ws.add(2**63 - 1, 1), -2**63)
        self.assertEqual(ws.add(1, 0.5), 1.5)
        self.assertEqual(ws.sub(1, 3), -2)
        with self.assertRaisesRegex(TypeError, "want numbers"):
            ws.add(1, "x")
        with self.assertRaises(TypeError):
            ws.add(True, 1)

    def test_text_is_scalas_to_string(self):
        ws = fresh()
        cases = {"s": "s", 7: "7", None: "null", True: "true", 2.0: "2.0", 1e10: "1.0E10",
                 1.5e-4: "1.5E-4", 0.001: "0.001", 123.456: "123.456", -0.0: "-0.0"}
        for v, want in cases.items():
            self.assertEqual(ws.text(v), want, v)
        self.assertEqual(ws.text(["a", 1]), "(a,1)")
        self.assertEqual(ws.text([1, 2, 3]), "List(1, 2, 3)")
        self.assertEqual(ws.text({"b": 1, "a": [1.5, None]}), "Map(a -> (1.5,null), b -> 1)")

    def test_type_names(self):
        ws = fresh()
        self.assertEqual([ws.type_name(v) for v in (None, 1, 2**64 - 1, 1.0, "", b"", [], {})],
                         ["<nil>", "int64", "uint64", "float64", "string", "[]uint8", "[]interface {}",
                          "map[string]interface {}"])


class Builder(unittest.TestCase):
    def test_a_chain_is_the_default_pipeline(self):
        ws = fresh()

        def split_line(line):
            return line.split(" ")

        def add(a, b):
            return a + b

        counts = ws.stream().flatMap(split_line).map(lambda w: (w, 1)) \
            .reduceByKeyAndWindow(add, add, 30, 0.5).filter(bool)
        self.assertEqual(counts.stages(), [
            {"op": "flatMap", "fn": "split-line"},
            {"op": "map", "fn": "map-2"},
            {"op": "reduceByKeyAndWindow", "fn": "add", "window": "30s", "slide": "500ms", "inverse": "add"},
            {"op": "filter", "fn": "bool"},
        ])
        self.assertEqual({n: k for n, (k, _) in ws.functions().items()},
                         {"split-line": "flatMap", "map-2": "map", "add": "reduce", "bool": "filter"})
        with self.assertRaisesRegex(ValueError, "number of seconds"):
            ws.stream().window(-1)


if __name__ == "__main__":
    unittest.main()
