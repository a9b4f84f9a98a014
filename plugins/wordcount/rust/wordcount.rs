//! The socket word count of Spark Streaming's quick example, in Rust: the
//! same functions and default pipeline as the Go plugin (plugins/wordcount),
//! for the cross-language benchmark.

#[path = "../../../guest-sdk/rust/wstream.rs"]
mod wstream;

use wstream::{add, pair, Plugin, Value};

const PIPELINE: &str = "stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
";

pub fn register(p: &mut Plugin) {
    p.name("wordcount", "1.0.0");
    p.pipeline(PIPELINE);
    p.flat_map("split-words", split_words);
    p.map("pair-with-one", |w| Ok(pair(w, 1)));
    p.reduce("sum", |a, b| add(&a, &b));
}

/// Splits a line on each single space, like Spark's line.split(" "): no
/// trimming, so two spaces make an empty word.
fn split_words(line: Value) -> Result<Vec<Value>, String> {
    match line {
        Value::Str(s) => Ok(s.split(' ').map(Value::from).collect()),
        _ => Err(format!("split-words wants a line of text, got {}", line.type_name())),
    }
}
