"""Functions that misbehave, for the limits tests: each must end cleanly on
both runtimes, with an error naming the plugin and the cause."""
import wstream


@wstream.map
def spin(x):
    while True:
        pass


@wstream.map
def bomb(x):
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


@wstream.map
def recurse(x):
    return recurse(x + 1)


@wstream.map("nest-repr")
def nest_repr(x):
    """Recursion in C (repr of a deeply nested list), not in Python frames."""
    v = []
    for _ in range(100000):
        v = [v]
    return repr(v)


@wstream.map("big-string")
def big_string(x):
    return "x" * (x << 20)
