/* The socket word count of Spark Streaming's quick example, in C: the same
 * functions and default pipeline as the Go plugin (plugins/wordcount), for
 * the cross-language benchmark. */
#include "wstream.h"

static const char pipeline[] =
    "stages:\n"
    "  - {op: flatMap, fn: split-words}\n"
    "  - {op: map, fn: pair-with-one}\n"
    "  - {op: reduceByKey, fn: sum}\n";

/* Split a line on each single space, like Spark's line.split(" "): no
 * trimming, so two spaces make an empty word. */
static ws_result split_words(ws_value line) {
    if (line.type != WS_STR) return ws_err("split-words wants a line of text, got %s", ws_type_name(line));
    size_t n = 1;
    for (size_t i = 0; i < line.s.len; i++) n += line.s.ptr[i] == ' ';
    ws_value words = ws_array(n);
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= line.s.len; i++) {
        if (i == line.s.len || line.s.ptr[i] == ' ') {
            words.a.items[k++] = ws_strn(line.s.ptr + start, i - start);
            start = i + 1;
        }
    }
    return ws_ok(words);
}

static ws_result pair_with_one(ws_value w) { return ws_ok(ws_pair(w, ws_int(1))); }

WS_INIT {
    ws_plugin("wordcount", "1.0.0");
    ws_default_pipeline(pipeline);
    ws_register_flat_map("split-words", split_words);
    ws_register_map("pair-with-one", pair_with_one);
    ws_register_reduce("sum", ws_add);
}
