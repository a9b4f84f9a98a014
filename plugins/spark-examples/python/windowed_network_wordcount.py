"""The windowed word count of Spark's Streaming Programming Guide in
wstream: every 10 seconds, the counts of the last 30 seconds, kept up
incrementally (the counts of the batch that leaves the window are
subtracted).

    PySpark                                                    wstream
    windowedWordCounts = pairs.reduceByKeyAndWindow(
        lambda x, y: x + y, lambda x, y: x - y, 30, 10)       .reduceByKeyAndWindow(add, subtract, 30, 10)

    wstream run --plugin windowed_network_wordcount.wasm --source socket://127.0.0.1:7777 --batch 1s
"""
import wstream


def split_line(line):
    return line.split(" ")


def pair_with_one(word):
    return (word, 1)


def add(x, y):
    return x + y


def subtract(x, y):
    return x - y


lines = wstream.stream()
pairs = lines.flatMap(split_line).map(pair_with_one)
windowedWordCounts = pairs.reduceByKeyAndWindow(add, subtract, 30, 10)
windowedWordCounts.pprint()
