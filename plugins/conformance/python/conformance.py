"""The wstream conformance vocabulary in Python, with the semantics of the
Go plugin (plugins/conformance), so that one vector file tests every SDK.
Numbers go through wstream.add, which adds as every SDK and Spark do (an
int stays a 64-bit int); type errors raise, which fails just that record.
"""
import wstream

wstream.plugin("conformance", "1.0.0")


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def wrap64(i):
    """i as a JVM long: two's complement, 64 bits."""
    return (i + (1 << 63)) % (1 << 64) - (1 << 63)


@wstream.map
def identity(x):
    return x


@wstream.map("to-string")
def to_string(x):
    """Scala's toString: an int in decimal, a string itself, (a,1), List(1, 2)."""
    return wstream.text(x)


@wstream.map("pair-with-one")
def pair_with_one(x):
    return (x, 1)


@wstream.map("pair-with-x")
def pair_with_x(x):
    return (x, "x")


wstream.map("add-4", lambda x: wstream.add(x, 4))
wstream.map("add-8", lambda x: wstream.add(x, 8))
wstream.map("add-10", lambda x: wstream.add(x, 10))


@wstream.flat_map("x-and-double")
def x_and_double(x):
    return [x, wstream.add(x, x)]


@wstream.flat_map("v-and-v-plus-10")
def v_and_v_plus_10(v):
    return [v, wstream.add(v, 10)]


@wstream.filter("is-even")
def is_even(x):
    if not is_int(x):
        raise TypeError("is-even wants an int, got " + wstream.type_name(x))
    return x % 2 == 0


@wstream.flat_map("split-words")
def split_words(line):
    """Every single space splits, like PySpark's line.split(" "): "a  b" has
    an empty word between the spaces."""
    if not isinstance(line, str):
        raise TypeError("split-words wants a string, got " + wstream.type_name(line))
    return line.split(" ")


@wstream.map
def first(x):
    if not isinstance(x, list) or len(x) != 2:
        raise TypeError("first wants a pair [a, b]")
    return x[0]


@wstream.map("int-seconds")
def int_seconds(x):
    if not is_int(x):
        raise TypeError("int-seconds wants an int (seconds), got " + wstream.type_name(x))
    return wrap64(x * 1000)


wstream.reduce("sum", wstream.add)
wstream.reduce("subtract", wstream.sub)


@wstream.filter("value-nonzero")
def value_nonzero(kv):
    if not isinstance(kv, list) or len(kv) != 2:
        raise TypeError("value-nonzero wants a pair [k, v]")
    v = kv[1]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("value-nonzero wants a number value, got " + wstream.type_name(v))
    return v != 0


def total(values):
    acc = 0
    for v in values:
        acc = wstream.add(acc, v)
    return acc


@wstream.update("sum-into-state")
def sum_into_state(values, state):
    return wstream.add(0 if state is None else state, total(values))


@wstream.update("add-batch-time-if-values")
def add_batch_time_if_values(time_ms, key, values, state):
    s = 0 if state is None else state
    return wstream.add(s, time_ms) if values else s


@wstream.update("count-expire-after-2-idle")
def count_expire_after_2_idle(values, state):
    """Spark's "updateStateByKey - object lifecycle": the state [counter,
    idle] counts values and the batches in a row without any; the key is
    dropped on its second idle batch."""
    st = [0, 0] if state is None else state
    if not isinstance(st, list) or len(st) != 2:
        raise TypeError("count-expire-after-2-idle wants a state [counter, idle]")
    counter, idle = st
    if not is_int(idle):
        raise TypeError("count-expire-after-2-idle: idle must be an int, got " + wstream.type_name(idle))
    s = total(values)
    if s == 0:
        idle += 1
    else:
        counter = wstream.add(counter, s)
        idle = 0
    if idle == 2:
        return None
    return [counter, idle]


def running_sum(emit):
    """Spark's running count of MapWithStateSuite: s' = (state or 0) +
    (value or 0) becomes the state, and emit(key, s') says what to return.
    A timeout call has no value and may not update: it fails the key, as
    Spark's update throws there."""
    def f(key, value, state):
        s = wstream.add(state.get(0), 0 if state.is_timing_out() else value)
        state.update(s)
        return emit(key, s)
    return f


def key_twice(key, s):
    if not isinstance(key, str):
        raise TypeError("running-sum-emit-key-twice wants a string key, got " + wstream.type_name(key))
    return key + key


wstream.map_state("running-sum", running_sum(lambda key, s: s))
wstream.map_state("running-sum-emit-key-twice", running_sum(key_twice))
wstream.map_state("running-sum-emit-pair", running_sum(lambda key, s: (key, s)))
wstream.map_state("running-sum-emit-none", running_sum(lambda key, s: None))


@wstream.map_state("remove-if-exists-emit-key")
def remove_if_exists_emit_key(key, value, state):
    """MapWithStateSuite's "state removing": a key's records alternately
    set its state and remove it, emitting the key then."""
    if state.exists():
        state.remove()
        return wstream.Some(key)
    state.update(value)
    return None


@wstream.map_state("set-one-emit-key-on-timeout")
def set_one_emit_key_on_timeout(key, value, state):
    """MapWithStateSuite's "state timing out"."""
    if state.is_timing_out():
        return wstream.Some(key)
    state.update(1)
    return None


def inc_or_init(state):
    """Increments the state, or sets it to 0 when there is none."""
    state.update(wstream.add(state.get(), 1) if state.exists() else 0)


@wstream.map_state("state-command")
def state_command(key, command, state):
    """MapWithStateRDDSuite's testFunc: each value is a command on the
    key's state."""
    if state.is_timing_out():
        return None
    if isinstance(command, str):
        if command == "noop":
            return None
        if command == "get-state":
            return wstream.Some(state.get(-1))  # a state of None is emitted too
        if command == "update-state":
            inc_or_init(state)
            return None
        if command == "remove-state":
            state.remove()
            return None
    raise ValueError("state-command: unknown command %s (want noop, get-state, update-state or remove-state)"
                     % wstream.text(command))


@wstream.map_state("inc-or-init-remove-on-2")
def inc_or_init_remove_on_2(key, value, state):
    """MapWithStateRDDSuite's "states generated by MapWithStateRDD": 1
    increments the state or sets it to 0, 2 removes it."""
    if state.is_timing_out() or not is_int(value):
        return None
    if value == 1:
        inc_or_init(state)
    elif value == 2:
        state.remove()
    return None


@wstream.map("key-by-first")
def key_by_first(x):
    """[a, b] -> [a, [a, b]]: a stream-stream join's v stays the row
    withWatermark read."""
    if not isinstance(x, list) or len(x) != 2:
        raise TypeError("key-by-first wants a pair [a, b]")
    return (x[0], x)


@wstream.map("second-seconds")
def second_seconds(x):
    """The event time of a row [key, seconds], in ms."""
    if not isinstance(x, list) or len(x) != 2:
        raise TypeError("second-seconds wants a pair [a, seconds]")
    return int_seconds(x[1])
