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


class MapState(unittest.TestCase):
    def test_forms(self):
        ws = fresh()
        ws.map_state("three", lambda key, value, state: value)
        ws.map_state("four", lambda t, key, value, state: value)
        with self.assertRaisesRegex(TypeError, r"takes 3 or 4 positional argument\(s\); <lambda> takes 2"):
            ws.map_state("two", lambda value, state: value)
        self.assertEqual({n: k for n, (k, _) in ws.functions().items()}, {"three": "mapState", "four": "mapState"})

    def test_a_running_count_tested_as_an_author_would(self):
        ws = fresh()

        @ws.map_state("running-count")
        def running_count(key, value, state):
            if state.is_timing_out():
                return (key, "idle", state.get())
            total = state.get(0) + value
            state.update(total)
            return (key, total)

        st = ws.State()
        self.assertEqual([running_count("a", v, st) for v in (1, 2)], [("a", 1), ("a", 3)])
        self.assertEqual(st.get(), 3)
        self.assertEqual(running_count("a", None, ws.State(3, timing_out=True)), ("a", "idle", 3))

    def test_state(self):
        ws = fresh()
        st = ws.State()
        self.assertEqual((st.exists(), st.get(), st.get(-1), st.is_timing_out(), st.isTimingOut()),
                         (False, None, -1, False, False))
        st.update(None)  # a state of None exists
        self.assertEqual((st.exists(), st.get(-1)), (True, None))
        st.remove()
        self.assertEqual((st.exists(), st.get(-1), repr(st)), (False, -1, "State()"))
        with self.assertRaisesRegex(TypeError, "at most one"):
            ws.State(1, 2)

    def test_a_timeout_call_may_not_change_the_state(self):
        ws = fresh()
        st = ws.State([1], timing_out=True)
        self.assertEqual(repr(st), "State([1], timing_out=True)")
        with self.assertRaisesRegex(RuntimeError, "^cannot update the state of a key that is timing out$"):
            st.update(2)
        with self.assertRaisesRegex(RuntimeError, "^cannot remove the state of a key that is timing out$"):
            st.remove()
        self.assertEqual((st.exists(), st.get()), (True, [1]))

    def test_some(self):
        ws = fresh()
        self.assertEqual(ws.Some(None), ws.Some(None))
        self.assertNotEqual(ws.Some(None), None)
        self.assertEqual(repr(ws.Some("x")), "Some('x')")


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

    def test_map_with_state(self):
        ws = fresh()

        def running_count(key, value, state):
            state.update(state.get(0) + value)

        pairs = ws.stream().map(lambda w: (w, 1))
        mapped = pairs.mapWithState(running_count, timeout=1800, initial=[("a", 5)])
        self.assertEqual(mapped.stages()[-1], {"op": "mapWithState", "fn": "running-count",
                                               "timeout": "1800s", "initial": [["a", 5]]})
        self.assertEqual(mapped.stateSnapshots().stages()[-1]["output"], "snapshots")
        self.assertNotIn("output", mapped.stages()[-1])  # stateSnapshots makes a new stream
        self.assertEqual(pairs.mapWithState(running_count).stages()[-1],
                         {"op": "mapWithState", "fn": "running-count"})
        self.assertEqual(ws.functions()["running-count"][0], "mapState")
        with self.assertRaisesRegex(ValueError, "follows mapWithState"):
            pairs.stateSnapshots()
        self.assertEqual(pairs.mapWithState(running_count, timeout="30m", initial={"a": 5, "b": [1]}).stages()[-1],
                         {"op": "mapWithState", "fn": "running-count", "timeout": "30m", "initial": [["a", 5], ["b", [1]]]})
        with self.assertRaisesRegex(ValueError, r"a \(key, state\) pair, not 'ab'"):
            pairs.mapWithState(running_count, initial=["ab"])
        with self.assertRaisesRegex(ValueError, "window, slide or timeout"):
            pairs.mapWithState(running_count, timeout=0)


if __name__ == "__main__":
    unittest.main()
