"""Spark's StatefulNetworkWordCount (mapWithState with an initial state),
with a timeout: each word's running count, and a word's last count when
it has been idle for longer than 2 s. Its default pipeline is built with
wstream.stream()."""
import wstream


def split_words(line):
    return line.split(" ")


def pair_with_one(word):
    return (word, 1)


def running_count(word, one, state):
    if state.isTimingOut():
        return (word, "idle", state.get())
    total = state.get(0) + one
    state.update(total)
    return (word, total)


(wstream.stream().flatMap(split_words).map(pair_with_one)
    .mapWithState(running_count, timeout=2, initial=[("hello", 1), ("world", 1)]).pprint())
