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
	"bytes"
	"fmt"

	"github.com/wstream/wstream/abi"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

const pipeline = `stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
`

// The functions use the SDK's raw API (they read and write msgpack bytes
// instead of decoding every record into an any): a word count does little
// per word, so decoding was most of its cost.
func init() {
	wstream.Plugin("wordcount", "1.0.0")
	wstream.DefaultPipeline(pipeline)
	wstream.FlatMapRaw("split-words", splitWords)
	wstream.MapRaw("pair-with-one", pairWithOne)
	wstream.Reduce("sum", wstream.Add)
}

// splitWords splits a line on each single space, like Spark's
// line.split(" "): no trimming, so two spaces make an empty word.
func splitWords(dst []byte, line abi.Raw) ([]byte, int, error) {
	if abi.TypeOf(line) != abi.TypeString {
		v, _ := abi.Decode(line)
		return dst, 0, fmt.Errorf("split-words wants a line of text, got %T", v)
	}
	s, _, err := abi.ReadStringBytes(line)
	if err != nil {
		return dst, 0, err
	}
	n := 1
	for {
		i := bytes.IndexByte(s, ' ')
		if i < 0 {
			break
		}
		dst = abi.AppendStringBytes(dst, s[:i])
		s = s[i+1:]
		n++
	}
	return abi.AppendStringBytes(dst, s), n, nil
}

// pairWithOne makes [w, 1]. A string, nil or bool is copied as it is;
// anything else goes through the SDK's decoding so that it comes out in
// canonical form.
func pairWithOne(dst []byte, w abi.Raw) ([]byte, error) {
	switch abi.TypeOf(w) {
	case abi.TypeString, abi.TypeNil, abi.TypeBool:
		return abi.AppendInt(append(abi.AppendArrayHeader(dst, 2), w...), 1), nil
	}
	v, err := abi.Decode(w)
	if err != nil {
		return dst, err
	}
	return abi.Append(dst, wstream.Pair(v, int64(1)))
}
