// The word count of Spark Streaming's quick example in AssemblyScript, the
// same plugin as plugins/wordcount (Go), for comparing languages:
//
//   wstream run --plugin plugins/wordcount/assemblyscript/wordcount.wasm < plugins/wordcount/sample.txt
//
// Build it with `make` here.

import { plugin, defaultPipeline, map, flatMap, reduce, fail, add, typeName, Value } from "wstream-sdk";
export * from "wstream-sdk/exports";

plugin("wordcount", "1.0.0");
defaultPipeline(`stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
`);
flatMap("split-words", splitWords);
map("pair-with-one", (w: Value): Value | null => Value.pair(w, Value.int(1)));
reduce("sum", add);

// splitWords splits a line on each single space, like Spark's
// line.split(" "): no trimming, so two spaces make an empty word.
function splitWords(line: Value): Value[] | null {
  if (!line.isStr) {
    fail("split-words wants a line of text, got " + typeName(line));
    return null;
  }
  return line.split(" ");
}
