// Command wordcount is the socket word count of Spark Streaming's quick
// example as a wstream plugin: split lines into words, pair each with 1,
// and sum per word in every batch. Its default pipeline runs with just
//
//	wstream run --plugin plugins/wordcount/wordcount.wasm < plugins/wordcount/sample.txt
//
// or on a socket, like the seed's `nc -lk 7777`, with --source
// socket://127.0.0.1:7777 --batch 1s. Build it with `make plugins`.
package main

import (
	"fmt"
	"strings"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

const pipeline = `stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
`

func init() {
	wstream.Plugin("wordcount", "1.0.0")
	wstream.DefaultPipeline(pipeline)
	wstream.FlatMap("split-words", splitWords)
	wstream.Map("pair-with-one", func(w any) (any, error) { return wstream.Pair(w, int64(1)), nil })
	wstream.Reduce("sum", wstream.Add)
}

// splitWords splits a line on each single space, like Spark's
// line.split(" "): no trimming, so two spaces make an empty word.
func splitWords(line any) ([]any, error) {
	s, ok := line.(string)
	if !ok {
		return nil, fmt.Errorf("split-words wants a line of text, got %T", line)
	}
	words := strings.Split(s, " ")
	out := make([]any, len(words))
	for i, w := range words {
		out[i] = w
	}
	return out, nil
}
