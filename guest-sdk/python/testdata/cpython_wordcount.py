"""The Python word count's functions on a normal CPython, timed: the
baseline that BenchmarkWordcount compares the WebAssembly runtime with.

    python3 cpython_wordcount.py LINES_FILE BATCH ROUNDS

Runs the plugin's own split_words and pair_with_one (imported from
plugins/wordcount/python; the wstream package works outside the runtime)
over batches of BATCH lines, counting pairs in a dict as the host's
reduceByKey sum does, and prints the best round's CPU nanoseconds per line.
"""
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, ".."), os.path.join(here, "../../../plugins/wordcount/python")]

import wordcount  # noqa: E402


def main():
    path, batch, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    batches = [lines[i:i + batch] for i in range(0, len(lines), batch)]
    split, pair = wordcount.split_words, wordcount.pair_with_one
    best = None
    for _ in range(rounds):
        start = time.process_time_ns()
        for b in batches:
            words = []
            for line in b:
                words.extend(split(line))
            counts = {}
            for w in words:
                k, v = pair(w)
                counts[k] = counts.get(k, 0) + v
        took = (time.process_time_ns() - start) / len(lines)
        best = took if best is None else min(best, took)
    print("%.1f" % best)


if __name__ == "__main__":
    main()
