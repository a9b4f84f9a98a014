"""Spark's stateful_network_wordcount.py in wstream: every batch prints
each word's count since the start (updateStateByKey), kept across
restarts in the checkpoint folder.

    PySpark                                                wstream
    def updateFunc(new_values, last_sum):                  the same function
        return sum(new_values) + (last_sum or 0)
    running_counts = lines.flatMap(lambda line: line.split(" ")) \\
                          .map(lambda word: (word, 1)) \\
                          .updateStateByKey(updateFunc)    the same calls
    running_counts.pprint()

    wstream run --plugin stateful_network_wordcount.wasm --source socket://127.0.0.1:7777 \\
        --batch 1s --checkpoint ./ckpt-stateful
"""
import wstream


def updateFunc(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


def split_line(line):
    return line.split(" ")


def pair_with_one(word):
    return (word, 1)


lines = wstream.stream()
running_counts = lines.flatMap(split_line) \
                      .map(pair_with_one) \
                      .updateStateByKey(updateFunc)
running_counts.pprint()
