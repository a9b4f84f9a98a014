"""The Python SDK's own rules, which the conformance vocabulary does not
reach: how Python values are sent, what each kind accepts, and where
exceptions, print and log go."""
import sys

import wstream

wstream.plugin("rules", "0.1")


@wstream.map
def same(x):
    return x


@wstream.map("as-tuple")
def as_tuple(x):
    return (x, (1, 2.5))


@wstream.map
def big(x):
    return x * (1 << 40)


@wstream.map
def unsendable(x):
    return {x}


@wstream.map("int-keys")
def int_keys(x):
    return {1: x}


@wstream.map("bytes-of")
def bytes_of(x):
    if isinstance(x, str):
        return x.encode("utf-8", "surrogateescape")
    return bytearray(b"ab")


@wstream.map("self-list")
def self_list(x):
    v = [x]
    v.append(v)
    return v


@wstream.flat_map
def upto(n):
    yield from range(n)


@wstream.flat_map
def chars(s):
    return s  # a str is iterable, but surely not meant as a list of characters


@wstream.filter
def truthy(x):
    return x


@wstream.reduce
def concat(a, b):
    return a + b


@wstream.update
def count(values, state):
    return (state or 0) + len(values)


@wstream.update
def keyed(key, values, state):
    return [key, len(values)]


@wstream.update("drop-when-empty")
def drop_when_empty(time_ms, key, values, state):
    return time_ms if values else None


@wstream.map
def chatty(x):
    print("saw", x)
    wstream.log("logged %s" % (x,), level=2)
    return x


@wstream.map
def fail(x):
    raise ValueError("bad record %r" % (x,))


@wstream.map("exit")
def exit_(x):
    sys.exit(3)


@wstream.map
def stdlib(x):
    import datetime
    import decimal
    import hashlib
    import json
    import re
    import statistics
    return [json.dumps({"x": x}), re.sub(r"\d", "#", "a1b22"), str(decimal.Decimal("1.1") * 3),
            datetime.date(2024, 2, 28).isoformat(), hashlib.sha256(b"x").hexdigest()[:8],
            statistics.mean([1, 2, 3, 4])]


wstream.map("lambda-named", lambda x: [x])


@wstream.flat_map
def unique(words):
    return sorted(set(words)) == list(set(words)), list(set(words))


@wstream.map_state("count-with-time")
def count_with_time(time_ms, key, value, state):
    n = state.get(0) + 1
    state.update(n)
    return [time_ms, key, value, n]


@wstream.map_state("emit-none")
def emit_none(key, value, state):
    """Some(None) emits null; None emits nothing."""
    return wstream.Some(None) if value else None


@wstream.map_state("keep-text")
def keep_text(key, value, state):
    """A state made of fresh objects in one call must outlive them: it is
    sent after the key's last call, which here makes plenty of garbage."""
    if value == "churn":
        return len([str(i) * 20 for i in range(2000)])
    state.update({"s": "".join([value, "!"]), "b": value.encode(), "l": [value * 3]})
    return None


@wstream.map_state("change-anyway")
def change_anyway(key, value, state):
    """A timeout call that tries to change its state fails the key, even
    when it catches the error."""
    try:
        if value == "remove" or state.is_timing_out() and state.get() == "remove":
            state.remove()
        else:
            state.update(value)
    except RuntimeError:
        pass
    return "after"


@wstream.map_state("bad-state")
def bad_state(key, value, state):
    state.update(value)
    if value == "set":
        state.update({1})
    if value == "raise":
        raise ValueError("no")
    return state.get()
