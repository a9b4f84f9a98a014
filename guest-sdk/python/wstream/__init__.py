"""wstream: stream operators in Python, run sandboxed by wstream.

Decorate plain functions; `wstream build app.py -o app.wasm` makes a plugin
of them (no C toolchain needed), and the host calls them once per record
within one call per batch:

    import wstream

    wstream.plugin("wordcount", "1.0.0")
    wstream.pipeline('''
    stages:
      - {op: flatMap, fn: split-words}
      - {op: map, fn: pair-with-one}
      - {op: reduceByKey, fn: sum}
    ''')

    @wstream.flat_map
    def split_words(line):          # registered as "split-words"
        return line.split(" ")

    @wstream.map("pair-with-one")
    def pair(word):
        return (word, 1)

    @wstream.reduce
    def sum(a, b):
        return a + b

Values are what JSON has, plus bytes: None, bool, int, float, str, bytes,
lists (a tuple is sent as a list) and dicts with str keys. A [k, v] pair
arrives as a two-item list.

An exception fails only the record it was raised for (the stage's onError
decides what happens to it); a MemoryError ends the call, because the
plugin's memory limit, not the record, is at fault.

The package also runs on a normal CPython, so functions can be unit-tested
without wstream: the decorators return the function unchanged.
"""

try:
    import _wstream  # the runtime's C side; absent on a normal CPython
except ImportError:
    _wstream = None

__all__ = [
    "plugin", "pipeline", "map", "flat_map", "flatMap", "filter", "reduce", "update",
    "map_state", "State", "Some", "functions", "add", "sub", "text", "type_name", "log", "stream", "DStream",
]

_functions = {}  # name -> (kind, fn), in registration order
_named = False

# Each decorator's kind, as the manifest names it, and the numbers of
# positional arguments its functions may take. A new function kind is a
# row here, a decorator below and a callback in the runtime's shim.
_KINDS = {
    "map": ("map", (1,)),
    "flat_map": ("flatMap", (1,)),
    "filter": ("filter", (1,)),
    "reduce": ("reduce", (2,)),
    "update": ("update", (2, 3, 4)),
    "map_state": ("mapState", (3, 4)),
}


def plugin(name, version="1.0.0"):
    """Names the plugin (the manifest's name and version). Default: the
    main file's name and version 0.0.0."""
    global _named
    if not isinstance(name, str) or not name:
        raise TypeError("wstream.plugin: the name must be a non-empty str")
    _named = True
    if _wstream:
        _wstream.plugin(name, str(version))


def pipeline(spec):
    """Sets the default pipeline that `wstream run --plugin FILE` runs: a
    pipeline file's YAML as a str, or the same structure as a dict."""
    if isinstance(spec, dict):
        import json
        spec = json.dumps(spec)  # JSON is YAML
    if not isinstance(spec, str):
        raise TypeError("wstream.pipeline: pass the pipeline as YAML text or a dict")
    if _wstream:
        _wstream.pipeline(spec)


def _arity(fn, allowed, kind, name):
    """How many positional arguments fn takes, checked against the kind."""
    code = getattr(fn, "__code__", None)
    if code is None:  # a builtin such as operator.add: trust it
        return allowed[0]
    n = code.co_argcount
    if getattr(fn, "__self__", None) is not None:  # a bound method
        n -= 1
    if code.co_flags & 0x04:  # *args takes them all
        return allowed[-1]
    required = n - len(getattr(fn, "__defaults__", None) or ())
    for a in reversed(allowed):
        if required <= a <= n:
            return a
    want = " or ".join(str(a) for a in allowed)
    raise TypeError("%s %r: a %s function takes %s positional argument(s); %s takes %d"
                    % (kind, name, kind, want, getattr(fn, "__name__", "it"), n))


def _register(decorator, name, fn):
    kind, allowed = _KINDS[decorator]
    if not callable(fn):
        raise TypeError("wstream.%s: %r is not a function" % (decorator, fn))
    if name is None:
        name = getattr(fn, "__name__", "")
        if not name or name == "<lambda>":
            raise TypeError("wstream.%s: a lambda needs a name: wstream.%s(\"my-name\", lambda x: ...)"
                            % (decorator, decorator))
        name = name.replace("_", "-")
    if not isinstance(name, str) or not name:
        raise TypeError("wstream.%s: the function name must be a non-empty str" % decorator)
    if name in _functions:
        raise ValueError("wstream.%s: a function named %r is already registered" % (decorator, name))
    arity = _arity(fn, allowed, kind, name)
    _functions[name] = (kind, fn)
    if _wstream:
        _wstream.register(kind, name, fn, arity)
    return fn


def _decorator(decorator, name_or_fn, fn):
    if fn is not None:  # wstream.map("name", fn)
        return _register(decorator, name_or_fn, fn)
    if callable(name_or_fn):  # @wstream.map
        return _register(decorator, None, name_or_fn)
    return lambda f: _register(decorator, name_or_fn, f)  # @wstream.map("name")


def map(name=None, fn=None):
    """Registers x -> y: `@wstream.map`, `@wstream.map("name")` or
    `wstream.map("name", fn)`. Serves map, mapValues and event-time
    extraction (x -> int ms)."""
    return _decorator("map", name, fn)


def flat_map(name=None, fn=None):
    """Registers x -> iterable of ys (a list, a tuple, a generator...)."""
    return _decorator("flat_map", name, fn)


flatMap = flat_map


def filter(name=None, fn=None):
    """Registers x -> keep it? (true in Python's sense)."""
    return _decorator("filter", name, fn)


def reduce(name=None, fn=None):
    """Registers (a, b) -> c, associative, folded left over each group. A
    group of one value is its own result and the function is not called."""
    return _decorator("reduce", name, fn)


def update(name=None, fn=None):
    """Registers a state update for updateStateByKey, called for every key
    in state every batch, in one of three forms:

        f(values, state)                    PySpark's form
        f(key, values, state)
        f(time_ms, key, values, state)      Scala's fullest form

    values is this batch's list (maybe empty); state is None when the key
    has none. Return the new state, or None to remove the key."""
    return _decorator("update", name, fn)


def map_state(name=None, fn=None):
    """Registers a function for mapWithState (Spark's StateSpec.function),
    called once per record of the batch, in batch order, in one of two
    forms:

        f(key, value, state)                Spark's form
        f(time_ms, key, value, state)       with the batch time

    state is the key's State: exists(), get(default), update(s), remove(),
    is_timing_out(). A key's second record in a batch sees the state its
    first left. Return what to emit, or None to emit nothing (to emit None
    itself, return wstream.Some(None)).

    With the stage's `timeout:`, a key idle for longer gets one more call,
    with value None and state.is_timing_out() true: it may read the state,
    but update or remove raise RuntimeError and fail the key, as Spark's
    State.update throws; the key is removed after that call.

        @wstream.map_state("card-activity")
        def card_activity(card, amount, state):
            if state.is_timing_out():
                return {"card": card, "idle": True}
            total = state.get(0) + amount
            state.update(total)
            return (card, total)
    """
    return _decorator("map_state", name, fn)


class State:
    """One key's state inside a map_state function (Spark's State). The
    runtime passes one; a unit test makes its own: State() has no state,
    State(5) holds 5, State(5, timing_out=True) is a key's timeout call.

    Only update() and remove() change the state: a list or dict from
    get() changed in place without update() is not kept (each call gets
    its own copy of the state)."""

    __slots__ = ("_value", "_exists", "_timing_out", "_changed", "_misuse")

    def __init__(self, *value, timing_out=False):
        if len(value) > 1:
            raise TypeError("State() takes at most one state value, got %d" % len(value))
        self._exists = bool(value)
        self._value = value[0] if value else None
        self._timing_out = bool(timing_out)
        self._changed = False  # updated or removed during this call
        self._misuse = None  # a change tried while timing out: fails the key

    def exists(self):
        """Whether the key has a state (which may be None)."""
        return self._exists

    def get(self, default=None):
        """The state, or default when the key has none."""
        return self._value if self._exists else default

    def update(self, value):
        """Sets the state. Raises RuntimeError in a timeout call."""
        if self._timing_out:
            self._misuse = "cannot update the state of a key that is timing out"
            raise RuntimeError(self._misuse)
        self._value, self._exists, self._changed = value, True, True

    def remove(self):
        """Removes the state. Raises RuntimeError in a timeout call."""
        if self._timing_out:
            self._misuse = "cannot remove the state of a key that is timing out"
            raise RuntimeError(self._misuse)
        self._value, self._exists, self._changed = None, False, True

    def is_timing_out(self):
        """Whether this is the key's last call, after its state was idle
        longer than the stage's timeout."""
        return self._timing_out

    isTimingOut = is_timing_out

    def __repr__(self):
        state = "State(%r" % (self._value,) if self._exists else "State("
        return state + (", timing_out=True)" if self._timing_out else ")")


class Some:
    """A value to emit from a map_state function even when it is None:
    return Some(None) to emit null (returning None emits nothing)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Some) and self.value == other.value

    def __hash__(self):
        return hash((Some, self.value))

    def __repr__(self):
        return "Some(%r)" % (self.value,)


if _wstream:
    _wstream.state_types(State, Some)


def functions():
    """The registered functions: {name: (kind, fn)}, for tests."""
    return dict(_functions)


def log(message, level=1):
    """A line in the host's log: level 0 debug, 1 info, 2 warn, 3 error."""
    if _wstream:
        _wstream.log(int(level), str(message))
    else:
        import sys
        print(str(message), file=sys.stderr)


# ---- values as the host and every other SDK treat them ----

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1


def _is_int64(x):
    return type(x) is int and _INT_MIN <= x <= _INT_MAX


def _arith(op, a, b):
    if _is_int64(a) and _is_int64(b):  # wraps like the JVM's longs
        r = a + b if op == "+" else a - b
        return (r - _INT_MIN) % (1 << 64) + _INT_MIN
    if isinstance(a, (int, float)) and not isinstance(a, bool) and \
            isinstance(b, (int, float)) and not isinstance(b, bool):
        return float(a) + float(b) if op == "+" else float(a) - float(b)
    raise TypeError("cannot compute %r (%s) %s %r (%s): want numbers"
                    % (a, type_name(a), op, b, type_name(b)))


def add(a, b):
    """a + b as Spark adds numbers: int + int stays a 64-bit int (wrapping
    like the JVM), a float on either side makes a float; anything else is a
    TypeError."""
    if _wstream:
        return _wstream.add(a, b)
    return _arith("+", a, b)


def sub(a, b):
    """a - b, with add's rules."""
    if _wstream:
        return _wstream.sub(a, b)
    return _arith("-", a, b)


def type_name(x):
    """x's type as the Go SDK names it in messages: int64, string, ..."""
    if _wstream:
        return _wstream.type_name(x)
    if x is None:
        return "<nil>"
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return "int64" if _is_int64(x) else "uint64"
    if isinstance(x, float):
        return "float64"
    if isinstance(x, str):
        return "string"
    if isinstance(x, (bytes, bytearray)):
        return "[]uint8"
    if isinstance(x, (list, tuple)):
        return "[]interface {}"
    if isinstance(x, dict):
        return "map[string]interface {}"
    return type(x).__name__


def _java_double(f):
    """Java's Double.toString: 2.0, 0.001, 1.0E10, 1.5E-4."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    sign = "-" if str(f).startswith("-") else ""
    f = abs(f)
    if f == 0:
        return sign + "0.0"
    mantissa, _, e = repr(f).partition("e")  # repr: the shortest digits that read back
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    leading = len(all_digits) - len(all_digits.lstrip("0"))
    digits = all_digits.strip("0") or "0"
    exp = int(e or 0) + len(whole) - 1 - leading  # of the first digit
    if 1e-3 <= f < 1e7:
        point = exp + 1
        if point <= 0:
            return sign + "0." + "0" * -point + digits
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits)) + ".0"
        return sign + digits[:point] + "." + digits[point:]
    return sign + digits[0] + "." + (digits[1:] or "0") + "E" + str(exp)


def text(x):
    """x as Scala's toString and the host's stdout sink show it: strings
    bare, [k, v] as (k,v), other lists as List(1, 2), dicts as
    Map(k -> v), 2.0, 1.0E10, null."""
    if _wstream:
        return _wstream.text(x)
    if isinstance(x, str):
        return x
    if isinstance(x, (bytes, bytearray)):
        return bytes(x).decode("utf-8", "surrogateescape")
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return _java_double(x)
    if isinstance(x, (list, tuple)):
        if len(x) == 2:
            return "(%s,%s)" % (text(x[0]), text(x[1]))
        return "List(" + ", ".join(text(i) for i in x) + ")"
    if isinstance(x, dict):
        items = sorted(x.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape"))
        return "Map(" + ", ".join("%s -> %s" % (text(k), text(v)) for k, v in items) + ")"
    raise TypeError("text: cannot show a value of type %s" % type(x).__name__)


# ---- the default pipeline as DStream calls, as a PySpark program writes it ----


class DStream:
    """A stream of the default pipeline. Each method is the DStream method
    of the same name and adds a stage; functions passed to it are
    registered under their names (split_words as "split-words"), and a
    lambda under the method's name and its position ("map-2"). pprint()
    makes the chain the plugin's default pipeline.

        counts = wstream.stream().flatMap(split_words).map(pair_with_one).reduceByKey(add)
        counts.pprint()

    Sources, sinks and checkpoints belong to whoever runs the plugin
    (`wstream run --plugin app.wasm --source socket://...`), not to it."""

    def __init__(self, stages=()):
        self._stages = list(stages)

    def _then(self, op, decorator=None, fn=None, **fields):
        stage = {"op": op}
        if fn is not None:
            stage["fn"] = _name_for(decorator, op, fn, len(self._stages) + 1)
        for k, v in fields.items():
            if v is not None:
                stage[k] = v
        return DStream(self._stages + [stage])

    def map(self, f):
        return self._then("map", "map", f)

    def flatMap(self, f):
        return self._then("flatMap", "flat_map", f)

    def filter(self, f):
        return self._then("filter", "filter", f)

    def mapValues(self, f):
        return self._then("mapValues", "map", f)

    def flatMapValues(self, f):
        return self._then("flatMapValues", "flat_map", f)

    def reduce(self, f):
        return self._then("reduce", "reduce", f)

    def reduceByKey(self, f):
        return self._then("reduceByKey", "reduce", f)

    def groupByKey(self):
        return self._then("groupByKey")

    def count(self):
        return self._then("count")

    def countByValue(self):
        return self._then("countByValue")

    def updateStateByKey(self, f):
        return self._then("updateStateByKey", "update", f)

    def mapWithState(self, f, timeout=None, initial=None):
        """Spark's mapWithState(StateSpec.function(f).timeout(...)
        .initialState(...)): f is a map_state function; timeout is in
        seconds (or a string such as "30m"); initial holds the states
        before the first batch, as (k, s) pairs or a dict."""
        return self._then("mapWithState", "map_state", f, timeout=_duration(timeout),
                          initial=None if initial is None else _pairs(initial))

    def stateSnapshots(self):
        """The mapWithState before it emits every [k, s] in state after
        each batch instead of what its function returns."""
        if not self._stages or self._stages[-1]["op"] != "mapWithState":
            raise ValueError("stateSnapshots() follows mapWithState(...)")
        s = DStream(self._stages)
        s._stages[-1] = dict(s._stages[-1], output="snapshots")
        return s

    def window(self, windowDuration, slideDuration=None):
        return self._then("window", window=_duration(windowDuration), slide=_duration(slideDuration))

    def reduceByKeyAndWindow(self, f, invFunc=None, windowDuration=None, slideDuration=None, filterFunc=None):
        s = self._then("reduceByKeyAndWindow", "reduce", f,
                       window=_duration(windowDuration), slide=_duration(slideDuration))
        last = s._stages[-1]
        if invFunc is not None:
            last["inverse"] = _name_for("reduce", "inverse", invFunc, len(s._stages))
        if filterFunc is not None:
            last["filter"] = _name_for("filter", "filter", filterFunc, len(s._stages))
        return s

    def countByWindow(self, windowDuration, slideDuration=None):
        return self._then("countByWindow", window=_duration(windowDuration), slide=_duration(slideDuration))

    def countByValueAndWindow(self, windowDuration, slideDuration=None):
        return self._then("countByValueAndWindow", window=_duration(windowDuration), slide=_duration(slideDuration))

    def pprint(self):
        """The output: makes this chain the plugin's default pipeline."""
        pipeline({"stages": self._stages})

    def stages(self):
        """The chain as pipeline-file stages (lists of dicts), for tests."""
        return [dict(s) for s in self._stages]


def stream():
    """The input stream of the default pipeline: the lines (or records) of
    the source that `wstream run` is given."""
    return DStream()


def _name_for(decorator, op, fn, position):
    """The registered name of fn, registering it first if needed."""
    for name, (_, f) in _functions.items():
        if f is fn:
            return name
    name = getattr(fn, "__name__", "")
    if not name or name == "<lambda>":
        name = "%s-%d" % (op, position)
    else:
        name = name.replace("_", "-")
    _register(decorator, name, fn)
    return name


def _pairs(kvs):
    """[[k, s], ...] from a dict or an iterable of (k, s) pairs."""
    if isinstance(kvs, dict):
        return [[k, s] for k, s in kvs.items()]
    out = []
    for kv in kvs:
        if not isinstance(kv, (list, tuple)) or len(kv) != 2:
            raise ValueError("an initial state is a (key, state) pair, not %r" % (kv,))
        out.append(list(kv))
    return out


def _duration(d):
    """Spark's durations are seconds; pipeline files take Go durations."""
    if d is None or isinstance(d, str):
        return d
    if isinstance(d, bool) or not isinstance(d, (int, float)) or d <= 0:
        raise ValueError("a window, slide or timeout is a number of seconds or a duration such as '500ms', not %r" % (d,))
    ms = round(d * 1000)
    return "%ds" % (ms // 1000) if ms % 1000 == 0 else "%dms" % ms


def _load_app(module):
    """Imports the author's main module (the runtime calls this once)."""
    import importlib
    importlib.import_module(module)
    if not _named:
        plugin(module, "0.0.0")
