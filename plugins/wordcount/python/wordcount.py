"""The socket word count of Spark Streaming's quick example, in Python: the
same functions and default pipeline as the Go plugin (plugins/wordcount).

    PySpark                                         wstream
    lines.flatMap(lambda line: line.split(" "))     {op: flatMap, fn: split-words}
    words.map(lambda word: (word, 1))               {op: map, fn: pair-with-one}
    pairs.reduceByKey(lambda x, y: x + y)           {op: reduceByKey, fn: sum}

Build and run it:

    wstream build wordcount.py -o wordcount.wasm
    wstream run --plugin wordcount.wasm < ../sample.txt
"""
import wstream

wstream.plugin("wordcount", "1.0.0")
wstream.pipeline("""
stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
""")


@wstream.flat_map("split-words")
def split_words(line):
    return line.split(" ")


@wstream.map("pair-with-one")
def pair_with_one(word):
    return (word, 1)


@wstream.reduce("sum")
def add(x, y):
    return x + y
