"""Spark's network_wordcount.py in wstream: counts the words of each
batch of lines from a socket.

    PySpark                                          wstream
    lines = ssc.socketTextStream(host, port)         lines = wstream.stream()   (--source socket://host:port)
    counts = lines.flatMap(lambda line: line.split(" ")) \\
                  .map(lambda word: (word, 1)) \\
                  .reduceByKey(lambda a, b: a + b)   the same calls, with the small functions below
    counts.pprint()                                  counts.pprint()

    nc -lk 7777
    wstream run --plugin network_wordcount.wasm --source socket://127.0.0.1:7777 --batch 1s
"""
import wstream


def split_line(line):
    return line.split(" ")


def pair_with_one(word):
    return (word, 1)


def add(a, b):
    return a + b


lines = wstream.stream()
counts = lines.flatMap(split_line) \
              .map(pair_with_one) \
              .reduceByKey(add)
counts.pprint()
