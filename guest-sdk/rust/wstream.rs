//! wstream.rs — the Rust guest SDK for wstream plugins (batch ABI v1,
//! abi/ABI.md), one file with no crates, for rustc 1.63 and later.
//!
//! Put it next to your plugin as a module and define `register` at the
//! crate root; the SDK calls it once, before the first call:
//!
//! ```ignore
//! #[path = "wstream.rs"]
//! mod wstream;
//! use wstream::{Plugin, Value};
//!
//! pub fn register(p: &mut Plugin) {
//!     p.name("example", "1.0.0");
//!     p.map("add-4", |x| wstream::add(&x, &Value::Int(4)));
//!     p.reduce("sum", |a, b| wstream::add(&a, &b));
//! }
//! ```
//!
//! Build: `rustc --edition 2021 --crate-type cdylib --target
//! wasm32-unknown-unknown -O -o plugin.wasm plugin.rs`.
//!
//! Return `Err(message)` to fail one record. Do not panic: on wasm32 a
//! panic aborts (a trap), which fails the whole batch and makes the host
//! discard the instance. The panic message is sent to the host's log first.
//!
//! The wire behaviour, including error messages, follows the Go SDK
//! (guest-sdk/go), so the same plugin in either language answers with the
//! same bytes. One difference: a msgpack str must be UTF-8 to become a
//! `Value::Str`; invalid UTF-8 is a record error here, where Go passes the
//! bytes through.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A decoded msgpack value. Integers are `Int` unless above `i64::MAX`
/// (`Uint`); maps have string keys, sorted by their bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The value of an `Int`. Floats are not ints here, even 2.0: the ABI
    /// keeps int and float apart.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Any number as an f64.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Uint(u) => Some(u as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The type's name as the Go SDK's messages spell it (int64, string,
    /// []interface {}), so that every SDK's errors read the same.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Bin(_) => "[]uint8",
            Value::Array(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// The value as Scala's toString and the host's stdout sink show it:
    /// strings bare, [k, v] as (k,v), List(1, 2), Map(k -> v), 2.0, 1.0E10.
    pub fn text(&self) -> String {
        let mut s = Vec::new();
        put_text(&mut s, self);
        String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value { Value::Bool(b) }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value { Value::Int(i) }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value { Value::Float(f) }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value { Value::Str(s.to_string()) }
}
impl From<String> for Value {
    fn from(s: String) -> Value { Value::Str(s) }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value { Value::Array(a) }
}

/// The key/value pair `[k, v]`, as the host expects it for *ByKey operators.
pub fn pair(k: impl Into<Value>, v: impl Into<Value>) -> Value {
    Value::Array(vec![k.into(), v.into()])
}

/// + as Spark users expect it: int + int stays an int (wrapping, like the
/// JVM), a float on either side makes a float; anything else is an error.
pub fn add(a: &Value, b: &Value) -> Result<Value, String> { arith('+', a, b) }

/// a - b, typed like `add`, for inverse reducers.
pub fn sub(a: &Value, b: &Value) -> Result<Value, String> { arith('-', a, b) }

fn arith(op: char, a: &Value, b: &Value) -> Result<Value, String> {
    if let (Some(x), Some(y)) = (a.as_int(), b.as_int()) {
        return Ok(Value::Int(if op == '-' { x.wrapping_sub(y) } else { x.wrapping_add(y) }));
    }
    match (a.as_float(), b.as_float()) {
        (Some(f), Some(g)) => Ok(Value::Float(if op == '-' { f - g } else { f + g })),
        _ => Err(format!("cannot compute {} {} {}: want numbers", describe(a), op, describe(b))),
    }
}

/// A line in the host's log: level 0 debug, 1 info, 2 warn, 3 error.
pub fn log(level: i32, msg: &str) {
    host_log(level, msg);
}

#[cfg(target_arch = "wasm32")]
fn host_log(level: i32, msg: &str) {
    #[link(wasm_import_module = "wstream_v1")]
    extern "C" {
        #[link_name = "log"]
        fn wstream_v1_log(level: i32, ptr: *const u8, len: usize);
    }
    unsafe { wstream_v1_log(level, msg.as_ptr(), msg.len()) }
}

// Natively (a plugin's own unit tests) there is no host: write to stderr.
#[cfg(not(target_arch = "wasm32"))]
fn host_log(level: i32, msg: &str) {
    eprintln!("wstream level {}: {}", level, msg);
}

// ---- registration ----

type MapFn = Box<dyn Fn(Value) -> Result<Value, String>>;
type FlatMapFn = Box<dyn Fn(Value) -> Result<Vec<Value>, String>>;
type FilterFn = Box<dyn Fn(Value) -> Result<bool, String>>;
type ReduceFn = Box<dyn Fn(Value, Value) -> Result<Value, String>>;
type UpdateFn = Box<dyn Fn(Value, Vec<Value>, Option<Value>, i64) -> Result<Option<Value>, String>>;
type MapStateFn = Box<dyn Fn(i64, &Value, Option<Value>, &mut State) -> Result<Option<Value>, String>>;

enum Func {
    Map(MapFn),
    FlatMap(FlatMapFn),
    Filter(FilterFn),
    Reduce(ReduceFn),
    Update(UpdateFn),
    MapState(MapStateFn),
}

/// One key's state inside a `map_state` function (Spark's `State`).
pub struct State {
    value: Option<Value>,
    changed: bool, // updated or removed since the key's first call
    timing_out: bool,
    misuse: Option<&'static str>,
}

impl State {
    /// Whether the key has a state.
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// The state, if any.
    pub fn get(&self) -> Option<&Value> {
        self.value.as_ref()
    }

    /// Sets the state. While the key is timing out this fails the key
    /// instead (Spark's update throws there).
    pub fn update(&mut self, v: Value) {
        if self.timing_out {
            self.misuse = Some("cannot update the state of a key that is timing out");
            return;
        }
        self.value = Some(v);
        self.changed = true;
    }

    /// Removes the state. While the key is timing out this fails the key.
    pub fn remove(&mut self) {
        if self.timing_out {
            self.misuse = Some("cannot remove the state of a key that is timing out");
            return;
        }
        self.value = None;
        self.changed = true;
    }

    /// Whether this call is the key's last, after its state was idle
    /// longer than the stage's timeout.
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }
}

impl Func {
    fn kind(&self) -> &'static str {
        match self {
            Func::Map(_) => "map",
            Func::FlatMap(_) => "flatMap",
            Func::Filter(_) => "filter",
            Func::Reduce(_) => "reduce",
            Func::Update(_) => "update",
            Func::MapState(_) => "mapState",
        }
    }
}

/// The plugin being registered: its name, default pipeline and functions,
/// whose ids follow registration order. Registering a name twice panics
/// (in `register`, so the module is refused before any batch).
#[derive(Default)]
pub struct Plugin {
    name: String,
    version: String,
    pipeline: String,
    fns: Vec<(String, Func)>,
}

impl Plugin {
    /// Sets the plugin's name and version, as the manifest reports them.
    pub fn name(&mut self, name: &str, version: &str) -> &mut Self {
        self.name = name.to_string();
        self.version = version.to_string();
        self
    }

    /// Sets the pipeline (pipeline-file YAML) that `wstream run --plugin`
    /// runs when no pipeline file is given.
    pub fn pipeline(&mut self, yaml: &str) -> &mut Self {
        self.pipeline = yaml.to_string();
        self
    }

    fn add(&mut self, name: &str, f: Func) -> &mut Self {
        assert!(!name.is_empty(), "wstream: a function needs a name");
        assert!(self.fns.iter().all(|(n, _)| n != name), "wstream: function {:?} registered twice", name);
        self.fns.push((name.to_string(), f));
        self
    }

    /// x -> y. Also serves mapValues and event-time extraction (x -> ms).
    pub fn map(&mut self, name: &str, f: impl Fn(Value) -> Result<Value, String> + 'static) -> &mut Self {
        self.add(name, Func::Map(Box::new(f)))
    }

    /// x -> [y...], possibly empty.
    pub fn flat_map(&mut self, name: &str, f: impl Fn(Value) -> Result<Vec<Value>, String> + 'static) -> &mut Self {
        self.add(name, Func::FlatMap(Box::new(f)))
    }

    /// x -> keep? Also the filter of reduceByKeyAndWindow, on [k, v] pairs.
    pub fn filter(&mut self, name: &str, f: impl Fn(Value) -> Result<bool, String> + 'static) -> &mut Self {
        self.add(name, Func::Filter(Box::new(f)))
    }

    /// (a, b) -> c, associative, folded left over each group. A group of
    /// one value is its own result and f is not called.
    pub fn reduce(&mut self, name: &str, f: impl Fn(Value, Value) -> Result<Value, String> + 'static) -> &mut Self {
        self.add(name, Func::Reduce(Box::new(f)))
    }

    /// updateStateByKey: (key, this batch's values, previous state, batch
    /// time in ms) -> new state, or None to remove the key. Called for
    /// every key in state every batch, even with no values.
    pub fn update(
        &mut self,
        name: &str,
        f: impl Fn(Value, Vec<Value>, Option<Value>, i64) -> Result<Option<Value>, String> + 'static,
    ) -> &mut Self {
        self.add(name, Func::Update(Box::new(f)))
    }

    /// mapWithState (abi/ABI.md §6.1): (batch time in ms, key, the record's
    /// value, the key's state) -> Some(x) to emit x, or None. Called once
    /// per record of the batch, in batch order; the state a call leaves is
    /// what the next record of the same key sees. A key whose state timed
    /// out gets one more call with value None and `state.is_timing_out()`;
    /// it may read the state but not change it.
    pub fn map_state(
        &mut self,
        name: &str,
        f: impl Fn(i64, &Value, Option<Value>, &mut State) -> Result<Option<Value>, String> + 'static,
    ) -> &mut Self {
        self.add(name, Func::MapState(Box::new(f)))
    }
}

// ---- msgpack encoding: the host's canonical forms (ABI.md §5) ----

fn put_be(b: &mut Vec<u8>, tag: u8, v: u64, k: usize) {
    b.push(tag);
    for i in (0..k).rev() {
        b.push((v >> (8 * i)) as u8);
    }
}

/// v in canonical form (ABI.md §5): positive fixint or the shortest
/// uint8/16/32/64, so keys from any SDK compare equal as bytes.
fn put_uint(b: &mut Vec<u8>, v: u64) {
    if v <= 0x7f {
        b.push(v as u8);
    } else if v <= u8::MAX as u64 {
        put_be(b, 0xcc, v, 1);
    } else if v <= u16::MAX as u64 {
        put_be(b, 0xcd, v, 2);
    } else if v <= u32::MAX as u64 {
        put_be(b, 0xce, v, 4);
    } else {
        put_be(b, 0xcf, v, 8);
    }
}

/// v in canonical form: a negative value as negative fixint or the
/// shortest int8/16/32/64.
fn put_int(b: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        put_uint(b, v as u64);
    } else if v >= -32 {
        b.push(v as u8);
    } else if v >= i8::MIN as i64 {
        put_be(b, 0xd0, v as u64, 1);
    } else if v >= i16::MIN as i64 {
        put_be(b, 0xd1, v as u64, 2);
    } else if v >= i32::MIN as i64 {
        put_be(b, 0xd2, v as u64, 4);
    } else {
        put_be(b, 0xd3, v as u64, 8);
    }
}

fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n <= 31 {
        b.push(0xa0 | n as u8);
    } else if n <= 0xff {
        put_be(b, 0xd9, n as u64, 1);
    } else if n <= 0xffff {
        put_be(b, 0xda, n as u64, 2);
    } else {
        put_be(b, 0xdb, n as u64, 4);
    }
    b.extend_from_slice(s);
}

fn put_array_header(b: &mut Vec<u8>, n: usize) {
    if n <= 15 {
        b.push(0x90 | n as u8);
    } else if n <= 0xffff {
        put_be(b, 0xdc, n as u64, 2);
    } else {
        put_be(b, 0xdd, n as u64, 4);
    }
}

fn put_map_header(b: &mut Vec<u8>, n: usize) {
    if n <= 15 {
        b.push(0x80 | n as u8);
    } else if n <= 0xffff {
        put_be(b, 0xde, n as u64, 2);
    } else {
        put_be(b, 0xdf, n as u64, 4);
    }
}

fn encode(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => b.push(0xc0),
        Value::Bool(x) => b.push(if *x { 0xc3 } else { 0xc2 }),
        Value::Int(i) => put_int(b, *i),
        Value::Uint(u) => put_uint(b, *u),
        Value::Float(f) => put_be(b, 0xcb, f.to_bits(), 8),
        Value::Str(s) => put_str(b, s.as_bytes()),
        Value::Bin(x) => {
            let n = x.len();
            if n <= 0xff {
                put_be(b, 0xc4, n as u64, 1);
            } else if n <= 0xffff {
                put_be(b, 0xc5, n as u64, 2);
            } else {
                put_be(b, 0xc6, n as u64, 4);
            }
            b.extend_from_slice(x);
        }
        Value::Array(a) => {
            put_array_header(b, a.len());
            for x in a {
                encode(b, x);
            }
        }
        Value::Map(m) => {
            put_map_header(b, m.len());
            for (k, x) in m {
                put_str(b, k.as_bytes());
                encode(b, x);
            }
        }
    }
}

// ---- msgpack decoding, mirroring the host's checks and messages ----

const MAX_DEPTH: usize = 512;
const TRUNCATED: &str = "msgpack: truncated value";

#[derive(Clone, Copy, PartialEq)]
enum T {
    Invalid,
    Nil,
    Bool,
    Int,
    Float,
    Str,
    Bin,
    Array,
    Map,
    Ext,
}

fn tname(t: T) -> &'static str {
    match t {
        T::Invalid => "invalid",
        T::Nil => "nil",
        T::Bool => "bool",
        T::Int => "int",
        T::Float => "float",
        T::Str => "string",
        T::Bin => "binary",
        T::Array => "array",
        T::Map => "map",
        T::Ext => "ext",
    }
}

fn type_of(b: &[u8]) -> T {
    let c = match b.first() {
        Some(&c) => c,
        None => return T::Invalid,
    };
    match c {
        0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => T::Int,
        0x80..=0x8f | 0xde | 0xdf => T::Map,
        0x90..=0x9f | 0xdc | 0xdd => T::Array,
        0xa0..=0xbf | 0xd9..=0xdb => T::Str,
        0xc0 => T::Nil,
        0xc2 | 0xc3 => T::Bool,
        0xc4..=0xc6 => T::Bin,
        0xc7..=0xc9 | 0xd4..=0xd8 => T::Ext,
        0xca | 0xcb => T::Float,
        _ => T::Invalid,
    }
}

fn be(p: &[u8]) -> u64 {
    p.iter().fold(0, |v, &c| v << 8 | c as u64)
}

/// A value's type, header length, and payload length (str, bin, ext) or
/// element count (arrays n, maps 2n), as abi's header() gives them.
fn header(b: &[u8]) -> Result<(T, usize, u64), String> {
    let c = match b.first() {
        Some(&c) => c,
        None => return Err(TRUNCATED.into()),
    };
    let t = type_of(b);
    let k = match c {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => return Ok((t, 1, 0)),
        0x80..=0x8f => return Ok((t, 1, (c & 0x0f) as u64 * 2)),
        0x90..=0x9f => return Ok((t, 1, (c & 0x0f) as u64)),
        0xa0..=0xbf => return Ok((t, 1, (c & 0x1f) as u64)),
        0xca => return Ok((t, 1, 4)),
        0xcb => return Ok((t, 1, 8)),
        0xcc | 0xd0 => return Ok((t, 1, 1)),
        0xcd | 0xd1 => return Ok((t, 1, 2)),
        0xce | 0xd2 => return Ok((t, 1, 4)),
        0xcf | 0xd3 => return Ok((t, 1, 8)),
        0xd4 => return Ok((t, 2, 1)),
        0xd5 => return Ok((t, 2, 2)),
        0xd6 => return Ok((t, 2, 4)),
        0xd7 => return Ok((t, 2, 8)),
        0xd8 => return Ok((t, 2, 16)),
        0xc4 | 0xd9 | 0xc7 => 1,
        0xc5 | 0xda | 0xc8 | 0xdc | 0xde => 2,
        0xc6 | 0xdb | 0xc9 | 0xdd | 0xdf => 4,
        _ => return Err(format!("msgpack: invalid type byte 0x{:02x}", c)),
    };
    let ext = (0xc7..=0xc9).contains(&c);
    let hdr = 1 + k + ext as usize; // an ext's header holds its type byte
    if b.len() < hdr {
        return Err(TRUNCATED.into());
    }
    let mut n = be(&b[1..1 + k]);
    if c == 0xde || c == 0xdf {
        n *= 2;
    }
    Ok((t, hdr, n))
}

fn check_count(n: u64, remaining: usize) -> Result<(), String> {
    if n > remaining as u64 {
        return Err(format!("msgpack: container of {} elements in {} bytes", n, remaining));
    }
    Ok(())
}

fn skip(b: &[u8], depth: usize) -> Result<usize, String> {
    if depth > MAX_DEPTH {
        return Err("msgpack: nesting deeper than 512".into());
    }
    let (t, hdr, n) = header(b)?;
    if b.len() < hdr {
        return Err(TRUNCATED.into());
    }
    if t == T::Array || t == T::Map {
        check_count(n, b.len() - hdr)?;
        let mut off = hdr;
        for _ in 0..n {
            off += skip(&b[off..], depth + 1)?;
        }
        return Ok(off);
    }
    if ((b.len() - hdr) as u64) < n {
        return Err(TRUNCATED.into());
    }
    Ok(hdr + n as usize)
}

/// A reader over one call's input; the methods split values off the front.
struct Rd<'a> {
    b: &'a [u8],
}

impl<'a> Rd<'a> {
    fn next(&mut self) -> Result<&'a [u8], String> {
        let n = skip(self.b, 0)?;
        let (v, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(v)
    }

    fn container(&mut self, want: T) -> Result<usize, String> {
        let (t, hdr, n) = header(self.b)?;
        if t != want {
            return Err(format!("msgpack: want {}, got {}", tname(want), tname(t)));
        }
        check_count(n, self.b.len() - hdr)?;
        self.b = &self.b[hdr..];
        Ok((if want == T::Map { n / 2 } else { n }) as usize)
    }

    fn array(&mut self) -> Result<usize, String> { self.container(T::Array) }

    fn int(&mut self) -> Result<i64, String> {
        let (t, hdr, n) = header(self.b)?;
        if t != T::Int {
            return Err(format!("msgpack: want int, got {}", tname(t)));
        }
        let end = hdr + n as usize;
        if self.b.len() < end {
            return Err(TRUNCATED.into());
        }
        let p = &self.b[hdr..end];
        let v = match self.b[0] {
            0xcc | 0xcd | 0xce => be(p) as i64,
            0xcf => {
                let u = be(p);
                if u > i64::MAX as u64 {
                    return Err(format!("msgpack: uint {} overflows int64", u));
                }
                u as i64
            }
            0xd0 => p[0] as i8 as i64,
            0xd1 => be(p) as u16 as i16 as i64,
            0xd2 => be(p) as u32 as i32 as i64,
            0xd3 => be(p) as i64,
            c => c as i8 as i64,
        };
        self.b = &self.b[end..];
        Ok(v)
    }

    fn float(&mut self) -> Result<f64, String> {
        let b = self.b;
        if b.len() >= 5 && b[0] == 0xca {
            self.b = &b[5..];
            return Ok(f32::from_bits(be(&b[1..5]) as u32) as f64);
        }
        if b.len() >= 9 && b[0] == 0xcb {
            self.b = &b[9..];
            return Ok(f64::from_bits(be(&b[1..9])));
        }
        Err(format!("msgpack: want float, got {}", tname(type_of(b))))
    }

    /// A str or bin value's bytes.
    fn str(&mut self) -> Result<&'a [u8], String> {
        let (t, hdr, n) = header(self.b)?;
        if t != T::Str && t != T::Bin {
            return Err(format!("msgpack: want string, got {}", tname(t)));
        }
        if ((self.b.len() - hdr) as u64) < n {
            return Err(TRUNCATED.into());
        }
        let end = hdr + n as usize;
        let s = &self.b[hdr..end];
        self.b = &self.b[end..];
        Ok(s)
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("msgpack: nesting deeper than 512".into());
        }
        match type_of(self.b) {
            T::Nil => {
                self.b = &self.b[1..];
                Ok(Value::Nil)
            }
            T::Bool => {
                let v = self.b[0] == 0xc3;
                self.b = &self.b[1..];
                Ok(Value::Bool(v))
            }
            T::Int if self.b[0] == 0xcf => {
                if self.b.len() < 9 {
                    return Err(TRUNCATED.into());
                }
                let u = be(&self.b[1..9]);
                self.b = &self.b[9..];
                Ok(if u > i64::MAX as u64 { Value::Uint(u) } else { Value::Int(u as i64) })
            }
            T::Int => self.int().map(Value::Int),
            T::Float => self.float().map(Value::Float),
            T::Str => {
                let s = self.str()?;
                String::from_utf8(s.to_vec()).map(Value::Str).map_err(|_| "msgpack: invalid UTF-8 in a string".to_string())
            }
            T::Bin => self.str().map(|s| Value::Bin(s.to_vec())),
            T::Array => {
                let n = self.array()?;
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(a))
            }
            T::Map => {
                let n = self.container(T::Map)?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = self.str().map_err(|e| format!("map key: {}", e))?;
                    let k = String::from_utf8(k.to_vec()).map_err(|_| "map key: msgpack: invalid UTF-8 in a string".to_string())?;
                    let v = self.value(depth + 1)?;
                    m.insert(k, v); // a repeated key: the last wins
                }
                Ok(Value::Map(m))
            }
            T::Invalid => match self.b.first() {
                None => Err(TRUNCATED.into()),
                Some(c) => Err(format!("msgpack: invalid type byte 0x{:02x}", c)),
            },
            T::Ext => Err("msgpack: ext values are not supported".into()),
        }
    }
}

fn decode(raw: &[u8]) -> Result<Value, String> {
    Rd { b: raw }.value(0)
}

// ---- text: float formats, JSON, Scala text and Go-style descriptions ----

/// The fewest decimal digits that read back as f (finite, nonzero), and
/// the decimal exponent of the first. Rust's {:e} prints exactly those.
fn shortest(f: f64) -> (Vec<u8>, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_at(s.find('e').unwrap());
    let digits: Vec<u8> = mant.bytes().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp[1..].parse().unwrap())
}

/// Digits d with the point after dp, as %f with just enough precision.
fn put_plain(b: &mut Vec<u8>, d: &[u8], dp: i32) {
    let nd = d.len() as i32;
    if dp > 0 {
        for i in 0..dp {
            b.push(if i < nd { d[i as usize] } else { b'0' });
        }
    } else {
        b.push(b'0');
    }
    if nd - dp > 0 {
        b.push(b'.');
        for j in dp..nd {
            b.push(if j >= 0 { d[j as usize] } else { b'0' });
        }
    }
}

/// f as Go's strconv.FormatFloat(f, 'g', -1, 64); f must be finite.
fn put_go_g(b: &mut Vec<u8>, f: f64) {
    if f.is_sign_negative() {
        b.push(b'-');
    }
    if f == 0.0 {
        b.push(b'0');
        return;
    }
    let (d, exp) = shortest(f);
    if exp < -4 || exp >= 6 {
        b.push(d[0]);
        if d.len() > 1 {
            b.push(b'.');
            b.extend_from_slice(&d[1..]);
        }
        let _ = write!(Bytes(b), "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return;
    }
    put_plain(b, &d, exp + 1);
}

/// f as Java's Double.toString (abi.AppendText): plain for 1e-3 <= |f| <
/// 1e7, always with a fraction (2.0), else scientific (1.0E10, 1.5E-4).
fn put_java_double(b: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        return b.extend_from_slice(b"NaN");
    }
    if f.is_infinite() {
        return b.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
    }
    if f.is_sign_negative() {
        b.push(b'-');
    }
    let a = f.abs();
    if a == 0.0 {
        return b.extend_from_slice(b"0.0");
    }
    let (d, exp) = shortest(a);
    if (1e-3..1e7).contains(&a) {
        put_plain(b, &d, exp + 1);
        if d.len() as i32 - (exp + 1) <= 0 {
            b.extend_from_slice(b".0");
        }
        return;
    }
    b.push(d[0]);
    b.push(b'.');
    if d.len() > 1 {
        b.extend_from_slice(&d[1..]);
    } else {
        b.push(b'0');
    }
    let _ = write!(Bytes(b), "E{}", exp);
}

/// Lets write! append to a Vec<u8>.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn put_text(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => b.extend_from_slice(b"null"),
        Value::Bool(x) => b.extend_from_slice(if *x { b"true" } else { b"false" }),
        Value::Int(i) => b.extend_from_slice(i.to_string().as_bytes()),
        Value::Uint(u) => b.extend_from_slice(u.to_string().as_bytes()),
        Value::Float(f) => put_java_double(b, *f),
        Value::Str(s) => b.extend_from_slice(s.as_bytes()),
        Value::Bin(x) => b.extend_from_slice(x),
        Value::Array(a) => {
            let pair = a.len() == 2;
            b.extend_from_slice(if pair { b"(" } else { b"List(" });
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    b.extend_from_slice(if pair { b"," } else { b", " });
                }
                put_text(b, x);
            }
            b.push(b')');
        }
        Value::Map(m) => {
            b.extend_from_slice(b"Map(");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    b.extend_from_slice(b", ");
                }
                b.extend_from_slice(k.as_bytes());
                b.extend_from_slice(b" -> ");
                put_text(b, x);
            }
            b.push(b')');
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One rune as Go's utf8.DecodeRune reads it: (rune, size), or None for
/// an invalid byte.
fn utf8_rune(s: &[u8]) -> Option<(u32, usize)> {
    let c = s[0];
    if c < 0x80 {
        return Some((c as u32, 1));
    }
    let (size, mut r, lo, hi) = match c {
        0xc2..=0xdf => (2, (c & 0x1f) as u32, 0x80, 0xbf),
        0xe0 => (3, (c & 0x0f) as u32, 0xa0, 0xbf),
        0xed => (3, (c & 0x0f) as u32, 0x80, 0x9f), // no surrogates
        0xe1..=0xef => (3, (c & 0x0f) as u32, 0x80, 0xbf),
        0xf0 => (4, (c & 0x07) as u32, 0x90, 0xbf),
        0xf4 => (4, (c & 0x07) as u32, 0x80, 0x8f),
        0xf1..=0xf3 => (4, (c & 0x07) as u32, 0x80, 0xbf),
        _ => return None,
    };
    if s.len() < size {
        return None;
    }
    for (i, &d) in s[1..size].iter().enumerate() {
        let ok = if i == 0 { d >= lo && d <= hi } else { (0x80..=0xbf).contains(&d) };
        if !ok {
            return None;
        }
        r = r << 6 | (d & 0x3f) as u32;
    }
    Some((r, size))
}

fn put_json_string(b: &mut Vec<u8>, s: &[u8]) {
    b.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c < 0x80 {
            match c {
                b'"' | b'\\' => b.extend_from_slice(&[b'\\', c]),
                b'\n' => b.extend_from_slice(b"\\n"),
                b'\r' => b.extend_from_slice(b"\\r"),
                b'\t' => b.extend_from_slice(b"\\t"),
                0..=0x1f => b.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]),
                _ => b.push(c),
            }
            i += 1;
            continue;
        }
        match utf8_rune(&s[i..]) {
            Some((_, size)) => {
                b.extend_from_slice(&s[i..i + size]);
                i += size;
            }
            None => {
                // Keep every byte visible and the text valid JSON.
                b.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
                i += 1;
            }
        }
    }
    b.push(b'"');
}

/// The JSON text of the msgpack value at the reader, as abi.AppendJSON
/// writes it: binary as a string, a non-string map key as the string of
/// its JSON text.
fn put_json(b: &mut Vec<u8>, r: &mut Rd, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("msgpack: nesting deeper than 512".into());
    }
    match type_of(r.b) {
        T::Nil => {
            b.extend_from_slice(b"null");
            r.b = &r.b[1..];
        }
        T::Bool => {
            b.extend_from_slice(if r.b[0] == 0xc3 { b"true" } else { b"false" });
            r.b = &r.b[1..];
        }
        T::Int if r.b[0] == 0xcf => {
            if r.b.len() < 9 {
                return Err(TRUNCATED.into());
            }
            b.extend_from_slice(be(&r.b[1..9]).to_string().as_bytes());
            r.b = &r.b[9..];
        }
        T::Int => {
            let v = r.int()?;
            b.extend_from_slice(v.to_string().as_bytes());
        }
        T::Float => {
            let f = r.float()?;
            if f.is_nan() {
                b.extend_from_slice(b"\"NaN\"");
            } else if f.is_infinite() {
                b.extend_from_slice(if f > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" });
            } else {
                let start = b.len();
                put_go_g(b, f);
                if !b[start..].iter().any(|&c| c == b'.' || c == b'e' || c == b'E') {
                    b.extend_from_slice(b".0"); // so that it reads back as a float
                }
            }
        }
        T::Str | T::Bin => {
            let s = r.str()?;
            put_json_string(b, s);
        }
        T::Array => {
            let n = r.array()?;
            b.push(b'[');
            for i in 0..n {
                if i > 0 {
                    b.push(b',');
                }
                put_json(b, r, depth + 1)?;
            }
            b.push(b']');
        }
        T::Map => {
            let n = r.container(T::Map)?;
            b.push(b'{');
            for i in 0..n {
                if i > 0 {
                    b.push(b',');
                }
                if type_of(r.b) == T::Str {
                    put_json(b, r, depth + 1)?;
                } else {
                    let k = r.next()?;
                    let mut kj = Vec::new();
                    put_json(&mut kj, &mut Rd { b: k }, 0)?;
                    put_json_string(b, &kj);
                }
                b.push(b':');
                put_json(b, r, depth + 1)?;
            }
            b.push(b'}');
        }
        T::Ext => return Err("msgpack ext values have no JSON form".into()),
        T::Invalid => {
            return Err(match r.b.first() {
                None => TRUNCATED.into(),
                Some(c) => format!("msgpack: invalid type byte 0x{:02x}", c),
            })
        }
    }
    Ok(())
}

/// Raw input rendered shortly for error messages (abi.Describe).
fn describe_raw(b: &[u8]) -> String {
    let mut s = Vec::new();
    match put_json(&mut s, &mut Rd { b }, 0) {
        Err(e) => format!("<{}, undecodable: {}>", tname(type_of(b)), e),
        Ok(()) => {
            if s.len() > 80 {
                s.truncate(77);
                s.extend_from_slice(b"...");
            }
            String::from_utf8_lossy(&s).into_owned()
        }
    }
}

/// Approximates Go's unicode.IsPrint for the runes strconv.Quote escapes:
/// controls, spaces other than ' ', and common format characters.
fn is_print(r: u32) -> bool {
    !(r < 0x20
        || (0x7f..=0xa0).contains(&r)
        || r == 0xad
        || r == 0x1680
        || (0x2000..=0x200f).contains(&r)
        || (0x2028..=0x202f).contains(&r)
        || (0x205f..=0x206f).contains(&r)
        || r == 0x3000
        || r == 0xfeff
        || (0xfff9..=0xfffb).contains(&r)
        || r == 0xfffe
        || r == 0xffff
        || (0xe000..=0xf8ff).contains(&r)
        || r >= 0xf0000)
}

/// s as Go's strconv.Quote writes it.
fn put_go_quote(b: &mut Vec<u8>, s: &[u8]) {
    b.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let (r, size) = match utf8_rune(&s[i..]) {
            Some(x) => x,
            None => {
                let _ = write!(Bytes(b), "\\x{:02x}", s[i]);
                i += 1;
                continue;
            }
        };
        match r {
            0x22 | 0x5c => b.extend_from_slice(&[b'\\', r as u8]),
            _ if is_print(r) => b.extend_from_slice(&s[i..i + size]),
            0x07 => b.extend_from_slice(b"\\a"),
            0x08 => b.extend_from_slice(b"\\b"),
            0x0c => b.extend_from_slice(b"\\f"),
            0x0a => b.extend_from_slice(b"\\n"),
            0x0d => b.extend_from_slice(b"\\r"),
            0x09 => b.extend_from_slice(b"\\t"),
            0x0b => b.extend_from_slice(b"\\v"),
            _ if r < 0x20 || r == 0x7f => {
                let _ = write!(Bytes(b), "\\x{:02x}", r);
            }
            _ if r < 0x10000 => {
                let _ = write!(Bytes(b), "\\u{:04x}", r);
            }
            _ => {
                let _ = write!(Bytes(b), "\\U{:08x}", r);
            }
        }
        i += size;
    }
    b.push(b'"');
}

/// v as Go's fmt.Sprint shows a decoded value.
fn put_go_print(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => b.extend_from_slice(b"<nil>"),
        Value::Float(f) if f.is_nan() => b.extend_from_slice(b"NaN"),
        Value::Float(f) if f.is_infinite() => b.extend_from_slice(if *f > 0.0 { b"+Inf" } else { b"-Inf" }),
        Value::Float(f) => put_go_g(b, *f),
        Value::Str(s) => b.extend_from_slice(s.as_bytes()),
        Value::Bin(x) => {
            b.push(b'[');
            for (i, c) in x.iter().enumerate() {
                let _ = write!(Bytes(b), "{}{}", if i > 0 { " " } else { "" }, c);
            }
            b.push(b']');
        }
        Value::Array(a) => {
            b.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    b.push(b' ');
                }
                put_go_print(b, x);
            }
            b.push(b']');
        }
        Value::Map(m) => {
            b.extend_from_slice(b"map[");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    b.push(b' ');
                }
                b.extend_from_slice(k.as_bytes());
                b.push(b':');
                put_go_print(b, x);
            }
            b.push(b']');
        }
        _ => put_text(b, v), // bool and ints read the same
    }
}

/// A value and its type for error messages, as the Go SDK writes them:
/// `"s" (string)`, `[1 2] ([]interface {})`.
fn describe(v: &Value) -> String {
    if *v == Value::Nil {
        return "nil".into();
    }
    let mut b = Vec::new();
    match v {
        Value::Str(s) => put_go_quote(&mut b, s.as_bytes()),
        _ => put_go_print(&mut b, v),
    }
    if b.len() > 40 {
        b.truncate(37);
        b.extend_from_slice(b"...");
    }
    let _ = write!(Bytes(&mut b), " ({})", v.type_name());
    String::from_utf8_lossy(&b).into_owned()
}

// ---- dispatch: one call per batch (ABI.md §5, §6) ----

/// Where one call's failure stands: the input's shape (code 1, the whole
/// call fails) or one record (a record error, the batch goes on).
struct Bad(String);

macro_rules! bad {
    ($($arg:tt)*) => { Err(Bad(format!($($arg)*))) };
}

struct Call<'a> {
    out: &'a mut Vec<u8>,
    errs: Vec<(usize, String)>,
}

impl Call<'_> {
    /// Item i failed: its result becomes nil, written from mark on over
    /// whatever part of it was written.
    fn fail(&mut self, i: usize, mark: usize, msg: String) {
        self.out.truncate(mark);
        self.out.push(0xc0);
        self.errs.push((i, msg));
    }

    fn header(&mut self, n: usize) {
        self.out.extend_from_slice(&[0x93, 0x00]);
        put_array_header(self.out, n);
    }

    /// map, flatMap and filter: [x...] -> one result per x.
    fn elements(&mut self, f: &Func, input: &[u8]) -> Result<(), Bad> {
        let mut r = Rd { b: input };
        let n = match r.array() {
            Ok(n) => n,
            Err(e) => return bad!("want an array of elements: {}", e),
        };
        self.header(n);
        for i in 0..n {
            let raw = match r.next() {
                Ok(raw) => raw,
                Err(e) => return bad!("element {}: {}", i, e),
            };
            let mark = self.out.len();
            let res = decode(raw).and_then(|x| {
                set_current(Some(i));
                match f {
                    Func::Map(f) => f(x).map(|y| encode(self.out, &y)),
                    Func::FlatMap(f) => f(x).map(|ys| {
                        put_array_header(self.out, ys.len());
                        for y in &ys {
                            encode(self.out, y);
                        }
                    }),
                    Func::Filter(f) => f(x).map(|keep| self.out.push(if keep { 0xc3 } else { 0xc2 })),
                    _ => unreachable!(),
                }
            });
            if let Err(e) = res {
                self.fail(i, mark, e);
            }
        }
        if !r.b.is_empty() {
            return bad!("{} bytes after the input array", r.b.len());
        }
        Ok(())
    }

    /// reduce: [[v...]...] -> each group folded left.
    fn groups(&mut self, f: &ReduceFn, input: &[u8]) -> Result<(), Bad> {
        let mut r = Rd { b: input };
        let n = match r.array() {
            Ok(n) => n,
            Err(e) => return bad!("want an array of groups: {}", e),
        };
        self.header(n);
        for i in 0..n {
            let m = match r.array() {
                Ok(m) => m,
                Err(e) => return bad!("group {}: {}", i, e),
            };
            if m == 0 {
                return bad!("group {} is empty; a group has at least one value", i);
            }
            let mark = self.out.len();
            let raw = match r.next() {
                Ok(raw) => raw,
                Err(e) => return bad!("group {}: {}", i, e),
            };
            if m == 1 {
                self.out.extend_from_slice(raw); // a group of one is its own result
                continue;
            }
            let mut acc = decode(raw);
            for j in 1..m {
                let raw = match r.next() {
                    Ok(raw) => raw,
                    Err(e) => return bad!("group {} value {}: {}", i, j, e),
                };
                // After a failure, keep splitting the group so the next one starts right.
                if let Ok(a) = acc {
                    set_current(Some(i));
                    acc = decode(raw).and_then(|v| f(a, v));
                }
            }
            match acc {
                Ok(v) => encode(self.out, &v),
                Err(e) => self.fail(i, mark, e),
            }
        }
        if !r.b.is_empty() {
            return bad!("{} bytes after the input array", r.b.len());
        }
        Ok(())
    }

    /// updateStateByKey: [time_ms, [[key, [v...], [s]|[]]...]] -> one state
    /// option per key.
    fn update(&mut self, f: &UpdateFn, input: &[u8]) -> Result<(), Bad> {
        let (t, n, mut r) = timed_items(input, "key, values, state")?;
        self.header(n);
        for i in 0..n {
            if r.array() != Ok(3) {
                return bad!("entry {}: want [key, values, state]", i);
            }
            let key = match r.next() {
                Ok(k) => k,
                Err(e) => return bad!("entry {} key: {}", i, e),
            };
            let vals = match r.next() {
                Ok(v) if type_of(v) == T::Array => v,
                _ => return bad!("entry {}: want an array of values", i),
            };
            let state = match read_option(&mut r) {
                Ok(s) => s,
                Err(e) => return bad!("entry {}: state must be [] or [value]: {}", i, e),
            };
            let mark = self.out.len();
            set_current(Some(i));
            match update_entry(f, key, vals, state, t) {
                Ok(None) => self.out.push(0x90),
                Ok(Some(s)) => {
                    self.out.push(0x91);
                    encode(self.out, &s);
                }
                Err(e) => self.fail(i, mark, e),
            }
        }
        if !r.b.is_empty() {
            return bad!("{} bytes after the input", r.b.len());
        }
        Ok(())
    }
}

impl Call<'_> {
    /// mapWithState: [time_ms, [[key, state, [v...], timing_out]...]] -> one
    /// [[out option...], state change] per key (ABI.md §6.1).
    fn map_state(&mut self, f: &MapStateFn, input: &[u8]) -> Result<(), Bad> {
        let (t, n, mut r) = timed_items(input, "key, state, values, timing_out")?;
        self.header(n);
        for i in 0..n {
            if r.array() != Ok(4) {
                return bad!("item {}: want [key, state, values, timing_out]", i);
            }
            let key = match r.next() {
                Ok(k) => k,
                Err(e) => return bad!("item {} key: {}", i, e),
            };
            let state = match read_option(&mut r) {
                Ok(s) => s,
                Err(e) => return bad!("item {}: state must be [] or [value]: {}", i, e),
            };
            let vals = match r.next() {
                Ok(v) if type_of(v) == T::Array => v,
                _ => return bad!("item {}: want an array of values", i),
            };
            let timing_out = match r.next() {
                Ok(b) if type_of(b) == T::Bool => b[0] == 0xc3,
                _ => return bad!("item {}: timing_out must be a bool", i),
            };
            let mark = self.out.len();
            set_current(Some(i));
            if let Err(e) = map_state_item(self.out, f, t, key, state, vals, timing_out) {
                self.fail(i, mark, e);
            }
        }
        if !r.b.is_empty() {
            return bad!("{} bytes after the input", r.b.len());
        }
        Ok(())
    }
}

/// Calls f for one key's values (once, with none, when the key is timing
/// out) and writes [outs, change].
fn map_state_item(out: &mut Vec<u8>, f: &MapStateFn, t: i64, key: &[u8], state: Option<&[u8]>, vals: &[u8], timing_out: bool) -> Result<(), String> {
    let k = decode(key).map_err(|e| format!("key: {}", e))?;
    let value = match state {
        None => None,
        Some(s) => Some(decode(s).map_err(|e| format!("state: {}", e))?),
    };
    let vs = match decode(vals).map_err(|e| format!("values: {}", e))? {
        Value::Array(a) => a,
        _ => unreachable!(), // checked by the caller
    };
    let mut st = State { value, changed: false, timing_out, misuse: None };
    if timing_out && (!vs.is_empty() || !st.exists()) {
        return Err("a timing-out key comes with a state and no values".to_string());
    }
    if !timing_out && vs.is_empty() {
        return Err("a key with no values that is not timing out".to_string());
    }
    let calls: Vec<Option<Value>> = if timing_out { vec![None] } else { vs.into_iter().map(Some).collect() };
    out.push(0x92);
    put_array_header(out, calls.len());
    for v in calls {
        let o = f(t, &k, v, &mut st)?;
        if let Some(m) = st.misuse {
            return Err(m.to_string());
        }
        match o {
            None => out.push(0x90),
            Some(x) => {
                out.push(0x91);
                encode(out, &x);
            }
        }
    }
    match (&st.value, st.changed) {
        (_, false) => out.push(0xc0),
        (None, true) => out.push(0x90),
        (Some(s), true) => {
            out.push(0x91);
            encode(out, s);
        }
    }
    Ok(())
}

/// Reads the head of an update or mapState input, [time_ms, [item...]],
/// whose items have the given shape: the time, the number of items and a
/// reader at the first. An empty input array is legal for every kind
/// (ABI.md §6) and has no items.
fn timed_items<'a>(input: &'a [u8], shape: &str) -> Result<(i64, usize, Rd<'a>), Bad> {
    let mut r = Rd { b: input };
    let n = r.array();
    if !matches!(n, Ok(0) | Ok(2)) {
        return bad!("want [time_ms, [[{}]...]], got {}", shape, describe_raw(input));
    }
    if n == Ok(0) {
        return Ok((0, 0, r));
    }
    let t = match r.int() {
        Ok(t) => t,
        Err(e) => return bad!("time_ms: {}", e),
    };
    match r.array() {
        Ok(n) => Ok((t, n, r)),
        Err(e) => bad!("want an array of [{}]: {}", shape, e),
    }
}

fn read_option<'a>(r: &mut Rd<'a>) -> Result<Option<&'a [u8]>, String> {
    let start = r.b;
    match r.array()? {
        0 => Ok(None),
        1 => r.next().map(Some).map_err(|e| {
            r.b = start;
            e
        }),
        n => {
            r.b = start;
            Err(format!("want [] or [value], got an array of {}", n))
        }
    }
}

fn update_entry(f: &UpdateFn, key: &[u8], vals: &[u8], state: Option<&[u8]>, t: i64) -> Result<Option<Value>, String> {
    let k = decode(key).map_err(|e| format!("key: {}", e))?;
    let vs = match decode(vals).map_err(|e| format!("values: {}", e))? {
        Value::Array(a) => a,
        _ => unreachable!(), // checked by the caller
    };
    let s = match state {
        None => None,
        Some(s) => Some(decode(s).map_err(|e| format!("state: {}", e))?),
    };
    f(k, vs, s, t)
}

fn go_quote(s: &str) -> String {
    let mut b = Vec::new();
    put_go_quote(&mut b, s.as_bytes());
    String::from_utf8_lossy(&b).into_owned()
}

fn error_response(out: &mut Vec<u8>, code: i64, msg: &str) {
    out.clear();
    out.push(0x93);
    put_int(out, code);
    put_str(out, msg.as_bytes());
    out.push(0x90);
}

/// Runs function fn on one call input and writes the response
/// ([code, payload, errors], ABI.md §5) to out.
fn handle(p: &Plugin, out: &mut Vec<u8>, fn_id: i32, input: &[u8]) {
    out.clear();
    let (name, f) = match usize::try_from(fn_id).ok().and_then(|i| p.fns.get(i)) {
        Some((name, f)) => (name, f),
        None => {
            let msg = format!("plugin {} has no function {} (it has {})", go_quote(&p.name), fn_id, p.fns.len());
            return error_response(out, 2, &msg);
        }
    };
    set_function(name);
    let mut c = Call { out, errs: Vec::new() };
    let res = match f {
        Func::Reduce(f) => c.groups(f, input),
        Func::Update(f) => c.update(f, input),
        Func::MapState(f) => c.map_state(f, input),
        _ => c.elements(f, input),
    };
    let errs = std::mem::take(&mut c.errs);
    set_current(None);
    if let Err(Bad(msg)) = res {
        return error_response(out, 1, &format!("{}: {}", name, msg));
    }
    put_array_header(out, errs.len());
    for (i, msg) in errs {
        out.push(0x92);
        put_int(out, i as i64);
        put_str(out, msg.as_bytes());
    }
}

fn manifest(p: &Plugin, b: &mut Vec<u8>) {
    b.clear();
    put_map_header(b, if p.pipeline.is_empty() { 5 } else { 6 });
    put_str(b, b"abi");
    put_int(b, 1);
    for (k, v) in [("name", p.name.as_str()), ("version", p.version.as_str()), ("language", "rust")] {
        put_str(b, k.as_bytes());
        put_str(b, v.as_bytes());
    }
    put_str(b, b"functions");
    put_array_header(b, p.fns.len());
    for (name, f) in &p.fns {
        put_map_header(b, 2);
        put_str(b, b"name");
        put_str(b, name.as_bytes());
        put_str(b, b"kind");
        put_str(b, f.kind().as_bytes());
    }
    if !p.pipeline.is_empty() {
        put_str(b, b"pipeline");
        put_str(b, p.pipeline.as_bytes());
    }
}

// ---- the ABI v1 exports (ABI.md §2) ----

struct Instance {
    plugin: Plugin,
    input: Vec<u8>, // the last wstream_alloc buffer
    out: Vec<u8>,   // the last response
    manifest: Vec<u8>,
}

thread_local! {
    // wasm32 guests have one thread and the host never re-enters an export,
    // so this is simply the instance's state, built on first use.
    static STATE: RefCell<Option<Instance>> = RefCell::new(None);
    // What is running, for the panic message: the function and the item.
    static FUNCTION: RefCell<String> = RefCell::new(String::new());
    static ITEM: Cell<Option<usize>> = Cell::new(None);
}

fn set_function(name: &str) {
    FUNCTION.with(|f| {
        let mut f = f.borrow_mut();
        f.clear();
        f.push_str(name);
    });
}

fn set_current(i: Option<usize>) {
    ITEM.with(|c| c.set(i));
}

fn with_state<R>(f: impl FnOnce(&mut Instance) -> R) -> R {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            // A panic traps: say where it happened before the host sees
            // only "unreachable".
            std::panic::set_hook(Box::new(|info| {
                let name = FUNCTION.with(|f| f.try_borrow().map(|f| f.clone()).unwrap_or_default());
                let msg = match ITEM.with(|i| i.get()) {
                    Some(i) if !name.is_empty() => format!("wstream: {} panicked on item {}: {}", name, i, info),
                    _ if !name.is_empty() => format!("wstream: {} panicked: {}", name, info),
                    _ => format!("wstream: panic: {}", info),
                };
                log(3, &msg);
            }));
            let mut plugin = Plugin::default();
            crate::register(&mut plugin);
            *s = Some(Instance { plugin, input: Vec::new(), out: Vec::new(), manifest: Vec::new() });
        }
        f(s.as_mut().unwrap())
    })
}

fn pack(p: *const u8, n: usize) -> i64 {
    ((p as usize as u64) << 32 | n as u32 as u64) as i64
}

#[no_mangle]
pub extern "C" fn wstream_abi_version() -> i32 {
    1
}

/// The old buffer is reused while it is big enough; growing doubles it so
/// that slowly growing batches do not allocate on every call.
#[no_mangle]
pub extern "C" fn wstream_alloc(size: i32) -> i32 {
    if size < 0 {
        return 0;
    }
    with_state(|s| {
        if size as usize > s.input.len() || s.input.is_empty() {
            let n = (size as usize).max(2 * s.input.len()).max(64);
            s.input = vec![0; n];
        }
        s.input.as_ptr() as usize as i32
    })
}

#[no_mangle]
pub extern "C" fn wstream_manifest() -> i64 {
    with_state(|s| {
        manifest(&s.plugin, &mut s.manifest);
        pack(s.manifest.as_ptr(), s.manifest.len())
    })
}

#[no_mangle]
pub extern "C" fn wstream_call(fn_id: i32, ptr: i32, len: i32) -> i64 {
    with_state(|s| {
        let Instance { plugin, input, out, .. } = s;
        let base = input.as_ptr() as usize as u64;
        let (p, n) = (ptr as u32 as u64, len as u32 as u64);
        // The input must lie inside the alloc buffer, so that a confused
        // host cannot make the guest read memory it does not own.
        if !input.is_empty() && p >= base && p - base + n <= input.len() as u64 {
            let off = (p - base) as usize;
            handle(plugin, out, fn_id, &input[off..off + n as usize]);
        } else if n == 0 {
            handle(plugin, out, fn_id, &[]);
        } else {
            error_response(out, 1, "input is not inside the wstream_alloc buffer");
        }
        pack(out.as_ptr(), out.len())
    })
}
