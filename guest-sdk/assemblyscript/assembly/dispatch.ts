// The registry and the batch dispatch of ABI.md §5-6: one wstream_call
// decodes a whole batch, calls the user function once per element, group or
// key, and writes the response. Everything a Go-SDK plugin would report the
// same way is reported with the same bytes.

import { Buf } from "./buf";
import { Value, decode } from "./value";
import { describe, utf8Bytes, appendQuote, bstrOf } from "./text";
import { BAD, T_ARRAY, T_BOOL, arrayHeader, skip, readInt, intVal, typeOf, hN } from "./msgpack";
import { err as mpErr } from "./msgpack";

const CODE_BAD_INPUT = 1;
const CODE_UNKNOWN_FUNCTION = 2;

const KIND_MAP = 0;
const KIND_FLATMAP = 1;
const KIND_FILTER = 2;
const KIND_REDUCE = 3;
const KIND_UPDATE = 4;
const KIND_MAP_STATE = 5;

const kindNames: string[] = ["map", "flatMap", "filter", "reduce", "update", "mapState"];

// A function fails its record with fail(message). A map, flatMap or reduce
// function may also return null after fail(), which is how add and sub
// report a failure; null without fail() is a bug, and fails the record too.
export type MapFn = (x: Value) => Value | null;
export type FlatMapFn = (x: Value) => Value[] | null;
export type FilterFn = (x: Value) => bool;
export type ReduceFn = (a: Value, b: Value) => Value | null;
export type UpdateFn = (key: Value, values: Value[], state: Value | null, timeMs: i64) => Value | null;
// A mapState function returns the value to emit, or null to emit nothing
// (fail() fails the key).
export type MapStateFn = (timeMs: i64, key: Value, value: Value | null, state: State) => Value | null;

// State is one key's state inside a mapState function (Spark's State).
export class State {
  private value: Value | null = null;
  changed: bool = false; // updated or removed since the key's first call
  private timingOut: bool = false;

  constructor(value: Value | null, timingOut: bool) {
    this.value = value;
    this.timingOut = timingOut;
  }

  // exists reports whether the key has a state.
  exists(): bool {
    return this.value != null;
  }

  // get returns the state, or null when there is none (Value.nil() is a
  // state that is present and nil).
  get(): Value | null {
    return this.value;
  }

  // update sets the state. While the key is timing out it fails the key
  // instead (Spark's update throws there).
  update(v: Value): void {
    if (this.timingOut) {
      fail("cannot update the state of a key that is timing out");
      return;
    }
    this.value = v;
    this.changed = true;
  }

  // remove removes the state. While the key is timing out it fails the key.
  remove(): void {
    if (this.timingOut) {
      fail("cannot remove the state of a key that is timing out");
      return;
    }
    this.value = null;
    this.changed = true;
  }

  // isTimingOut reports whether this call is the key's last, after its
  // state was idle longer than the stage's timeout.
  isTimingOut(): bool {
    return this.timingOut;
  }
}

function noMap(x: Value): Value | null {
  return x;
}
function noFlatMap(x: Value): Value[] | null {
  return [];
}
function noFilter(x: Value): bool {
  return false;
}
function noReduce(a: Value, b: Value): Value | null {
  return a;
}
function noUpdate(key: Value, values: Value[], state: Value | null, timeMs: i64): Value | null {
  return state;
}
function noMapState(timeMs: i64, key: Value, value: Value | null, state: State): Value | null {
  return null;
}

// Fn is one registered function; only the field matching kind is used.
// Typed fields, not a union, keep the per-record path free of casts.
class Fn {
  name: string = "";
  kind: i32 = 0;
  mapFn: MapFn = noMap;
  flatMapFn: FlatMapFn = noFlatMap;
  filterFn: FilterFn = noFilter;
  reduceFn: ReduceFn = noReduce;
  updateFn: UpdateFn = noUpdate;
  mapStateFn: MapStateFn = noMapState;
}

const fns = new Array<Fn>();
let pluginName = "";
let pluginVersion = "";
let pluginPipeline = "";

function add(name: string, kind: i32): Fn {
  if (name.length == 0) abort("wstream: a function needs a name");
  for (let i = 0; i < fns.length; i++) {
    if (unchecked(fns[i]).name == name) abort("wstream: function \"" + name + "\" registered twice");
  }
  const f = new Fn();
  f.name = name;
  f.kind = kind;
  fns.push(f);
  return f;
}

// ---- the public registration API ----

// plugin sets the plugin's name and version, as the manifest reports them.
export function plugin(name: string, version: string): void {
  pluginName = name;
  pluginVersion = version;
}

// defaultPipeline sets the pipeline (pipeline-file YAML) that
// `wstream run --plugin FILE` runs when no pipeline file is given.
export function defaultPipeline(yaml: string): void {
  pluginPipeline = yaml;
}

// map registers x -> y. It also serves mapValues and event-time extraction.
export function map(name: string, fn: MapFn): void {
  add(name, KIND_MAP).mapFn = fn;
}

// flatMap registers x -> [y...].
export function flatMap(name: string, fn: FlatMapFn): void {
  add(name, KIND_FLATMAP).flatMapFn = fn;
}

// filter registers a predicate; elements for which it is true are kept.
export function filter(name: string, fn: FilterFn): void {
  add(name, KIND_FILTER).filterFn = fn;
}

// reduce registers an associative (a, b) -> c. Each group is folded left,
// fn(fn(v1, v2), v3)...; a group of one value is its own result.
export function reduce(name: string, fn: ReduceFn): void {
  add(name, KIND_REDUCE).reduceFn = fn;
}

// update registers an updateStateByKey function: called for every key in
// state every batch with this batch's values (maybe none), the previous
// state (null: none) and the batch time in ms; it returns the new state, or
// null to remove the key. Value.nil() is a state that is present and nil.
export function update(name: string, fn: UpdateFn): void {
  add(name, KIND_UPDATE).updateFn = fn;
}

// mapState registers a mapWithState function (abi/ABI.md §6.1): called
// once per record of the batch, in batch order, with the batch time in ms,
// the record's key and value, and the key's state; the state a call leaves
// is what the next record of the same key sees. A key whose state timed
// out gets one more call with value null and state.isTimingOut(); it may
// read the state but not change it.
export function mapState(name: string, fn: MapStateFn): void {
  add(name, KIND_MAP_STATE).mapStateFn = fn;
}

// The failure of the record being processed: a byte string, or null.
let failed: string | null = null;

// fail fails the record the current function was called for: its result is
// dropped and the host applies the stage's failure policy with message.
// The first failure of a record wins. (AssemblyScript has no exceptions; an
// abort traps, which fails the whole batch and the instance.)
export function fail(message: string): void {
  failBytes(utf8Bytes(message));
}

export function failBytes(message: string): void {
  if (failed == null) failed = message;
}

// ---- the manifest ----

export function writeManifest(b: Buf): void {
  b.mapHeader(pluginPipeline.length > 0 ? 6 : 5);
  b.str("abi");
  b.int(1);
  b.str("name");
  b.str(pluginName);
  b.str("version");
  b.str(pluginVersion);
  b.str("language");
  b.str("assemblyscript");
  b.str("functions");
  b.arrayHeader(fns.length);
  for (let i = 0; i < fns.length; i++) {
    const f = unchecked(fns[i]);
    b.mapHeader(2);
    b.str("name");
    b.str(f.name);
    b.str("kind");
    b.str(kindNames[f.kind]);
  }
  if (pluginPipeline.length > 0) {
    b.str("pipeline");
    b.str(pluginPipeline);
  }
}

// ---- one call ----

// A call's state. The record errors are kept apart and written last.
let out = new Buf(1024);
let errIdx = new Array<i32>();
let errMsg = new Array<string>();

function returnedNull(f: Fn): void {
  failBytes(utf8Bytes(f.name) + " returned null without fail()");
}

// recordError drops what item i wrote from mark on, writes nil instead,
// and reports the message.
function recordError(i: i32, mark: i32, msg: string): void {
  out.len = mark;
  out.nil();
  errIdx.push(i);
  errMsg.push(msg);
}

function batchError(code: i32, msg: string): void {
  out.len = 0;
  out.byte(0x93);
  out.int(code);
  out.bstr(msg);
  out.byte(0x90);
}

function header(n: i32): void {
  out.byte(0x93);
  out.byte(0);
  out.arrayHeader(n);
}

// handle runs function fn on the n input bytes at p and returns the
// response, [code, payload, errors] (ABI.md §5), in a buffer that stays
// valid until the next call.
export function handle(fn: i32, p: usize, n: i32): Buf {
  out.len = 0;
  errIdx.length = 0;
  errMsg.length = 0;
  if (fn < 0 || fn >= fns.length) {
    const b = new Buf(64);
    b.ascii("plugin ");
    const name = String.UTF8.encode(pluginName);
    appendQuote(b, changetype<usize>(name), name.byteLength);
    batchError(
      CODE_UNKNOWN_FUNCTION,
      bstrOf(b, 0) + " has no function " + fn.toString() + " (it has " + fns.length.toString() + ")",
    );
    return out;
  }
  // One copy of the input, which the decoded strings then share: values
  // stay valid after the call even though the host reuses its buffer.
  const src = changetype<ArrayBuffer>(__new(<usize>n, idof<ArrayBuffer>()));
  memory.copy(changetype<usize>(src), p, <usize>n);
  const f = unchecked(fns[fn]);
  let msg: string | null;
  if (f.kind == KIND_REDUCE) msg = groups(f, src);
  else if (f.kind == KIND_UPDATE) msg = updates(f, src);
  else if (f.kind == KIND_MAP_STATE) msg = mapStates(f, src);
  else msg = elements(f, src);
  if (msg != null) {
    batchError(CODE_BAD_INPUT, utf8Bytes(f.name) + ": " + msg);
    return out;
  }
  out.arrayHeader(errIdx.length);
  for (let i = 0; i < errIdx.length; i++) {
    out.byte(0x92);
    out.int(unchecked(errIdx[i]));
    out.bstr(unchecked(errMsg[i]));
  }
  return out;
}

// elements serves map, flatMap and filter: [x...] -> one result per x. It
// returns null, or the message of a bad input.
function elements(f: Fn, src: ArrayBuffer): string | null {
  const end = changetype<usize>(src) + <usize>src.byteLength;
  let q = arrayHeader(changetype<usize>(src), end);
  if (q == BAD) return "want an array of elements: " + mpErr;
  const n = <i32>hN;
  header(n);
  for (let i = 0; i < n; i++) {
    const r = skip(q, end, 0);
    if (r == BAD) return "element " + i.toString() + ": " + mpErr;
    const mark = out.len;
    const x = decode(src, q, r);
    q = r;
    if (x == null) {
      recordError(i, mark, mpErr);
      continue;
    }
    failed = null;
    if (f.kind == KIND_MAP) {
      const y = f.mapFn(x);
      if (y == null) returnedNull(f);
      else if (failed == null) y.encode(out);
    } else if (f.kind == KIND_FLATMAP) {
      const ys = f.flatMapFn(x);
      if (ys == null) returnedNull(f);
      else if (failed == null) {
        out.arrayHeader(ys.length);
        for (let j = 0; j < ys.length; j++) unchecked(ys[j]).encode(out);
      }
    } else {
      const keep = f.filterFn(x);
      if (failed == null) out.bool(keep);
    }
    if (failed != null) recordError(i, mark, failed!);
  }
  if (q != end) return (end - q).toString() + " bytes after the input array";
  return null;
}

// groups serves reduce: [[v...]...] -> each group folded left.
function groups(f: Fn, src: ArrayBuffer): string | null {
  const end = changetype<usize>(src) + <usize>src.byteLength;
  let q = arrayHeader(changetype<usize>(src), end);
  if (q == BAD) return "want an array of groups: " + mpErr;
  const n = <i32>hN;
  header(n);
  for (let i = 0; i < n; i++) {
    q = arrayHeader(q, end);
    if (q == BAD) return "group " + i.toString() + ": " + mpErr;
    const m = <i32>hN;
    if (m == 0) return "group " + i.toString() + " is empty; a group has at least one value";
    const mark = out.len;
    let r = skip(q, end, 0);
    if (r == BAD) return "group " + i.toString() + ": " + mpErr;
    if (m == 1) {
      out.bytes(q, <i32>(r - q)); // a group of one is its own result
      q = r;
      continue;
    }
    let acc = decode(src, q, r);
    q = r;
    let ferr: string | null = acc == null ? mpErr : null;
    for (let j = 1; j < m; j++) {
      r = skip(q, end, 0);
      if (r == BAD) return "group " + i.toString() + " value " + j.toString() + ": " + mpErr;
      if (ferr != null) {
        q = r; // keep splitting the group so the next one starts right
        continue;
      }
      const v = decode(src, q, r);
      q = r;
      if (v == null) {
        ferr = mpErr;
        continue;
      }
      failed = null;
      acc = f.reduceFn(acc!, v);
      if (acc == null) returnedNull(f);
      if (failed != null) ferr = failed;
    }
    if (ferr == null) acc!.encode(out);
    else recordError(i, mark, ferr);
  }
  if (q != end) return (end - q).toString() + " bytes after the input array";
  return null;
}

// What timedItems read: the time, the number of items and where the
// first begins.
let itemsTime: i64 = 0;
let itemsCount: i32 = 0;
let itemsAt: usize = 0;

// timedItems reads the head of an update or mapState input, [time_ms,
// [item...]], whose items have the given shape, into itemsTime, itemsCount
// and itemsAt. It returns null, or the message of a bad input. An empty
// input array is legal for every kind (ABI.md §6) and has no items.
function timedItems(src: ArrayBuffer, shape: string): string | null {
  const start = changetype<usize>(src);
  const end = start + <usize>src.byteLength;
  let q = arrayHeader(start, end);
  if (q == BAD || (hN != 0 && hN != 2)) {
    return "want [time_ms, [[" + shape + "]...]], got " + describe(start, end);
  }
  itemsTime = 0;
  itemsCount = 0;
  itemsAt = q;
  if (hN == 0) return null;
  q = readInt(q, end);
  if (q == BAD) return "time_ms: " + mpErr;
  itemsTime = intVal;
  q = arrayHeader(q, end);
  if (q == BAD) return "want an array of [" + shape + "]: " + mpErr;
  itemsCount = <i32>hN;
  itemsAt = q;
  return null;
}

// What stateOption read: where the option's value begins and ends (0 and
// 0 for none), and where the option ends.
let optionAt: usize = 0;
let optionValueEnd: usize = 0;
let optionEnd: usize = 0;

// stateOption reads a state option, [] or [s], at q. It returns null, or
// what is wrong with it.
function stateOption(q: usize, end: usize): string | null {
  optionAt = 0;
  optionValueEnd = 0;
  q = arrayHeader(q, end);
  if (q == BAD) return mpErr;
  if (hN == 1) {
    optionAt = q;
    q = skip(q, end, 0);
    if (q == BAD) return mpErr;
    optionValueEnd = q;
  } else if (hN != 0) {
    return "want [] or [value], got an array of " + hN.toString();
  }
  optionEnd = q;
  return null;
}

// updates serves updateStateByKey: [time_ms, [[key, [v...], [s]|[]]...]] ->
// one state option per key.
function updates(f: Fn, src: ArrayBuffer): string | null {
  const end = changetype<usize>(src) + <usize>src.byteLength;
  const msg = timedItems(src, "key, values, state");
  if (msg != null) return msg;
  const t = itemsTime;
  const n = itemsCount;
  let q = itemsAt;
  header(n);
  for (let i = 0; i < n; i++) {
    q = arrayHeader(q, end);
    if (q == BAD || hN != 3) return "entry " + i.toString() + ": want [key, values, state]";
    const kp = q;
    q = skip(q, end, 0);
    if (q == BAD) return "entry " + i.toString() + " key: " + mpErr;
    const kEnd = q;
    const vp = q;
    q = skip(q, end, 0);
    if (q == BAD || typeOf(vp, end) != T_ARRAY) return "entry " + i.toString() + ": want an array of values";
    const vEnd = q;
    const serr = stateOption(q, end);
    if (serr != null) return "entry " + i.toString() + ": state must be [] or [value]: " + serr;
    q = optionEnd;
    const sp = optionAt;
    const sEnd = optionValueEnd;
    const mark = out.len;
    const k = decode(src, kp, kEnd);
    if (k == null) {
      recordError(i, mark, "key: " + mpErr);
      continue;
    }
    const vs = decode(src, vp, vEnd);
    if (vs == null) {
      recordError(i, mark, "values: " + mpErr);
      continue;
    }
    let prev: Value | null = null;
    if (sp != 0) {
      prev = decode(src, sp, sEnd);
      if (prev == null) {
        recordError(i, mark, "state: " + mpErr);
        continue;
      }
    }
    failed = null;
    const s = f.updateFn(k, vs.asArray(), prev, t);
    if (failed != null) recordError(i, mark, failed!);
    else if (s == null) out.byte(0x90);
    else {
      out.byte(0x91);
      s.encode(out);
    }
  }
  if (q != end) return (end - q).toString() + " bytes after the input";
  return null;
}

// mapStates serves mapWithState: [time_ms, [[key, state, [v...],
// timing_out]...]] -> one [[out option...], state change] per key.
function mapStates(f: Fn, src: ArrayBuffer): string | null {
  const end = changetype<usize>(src) + <usize>src.byteLength;
  const msg = timedItems(src, "key, state, values, timing_out");
  if (msg != null) return msg;
  const t = itemsTime;
  const n = itemsCount;
  let q = itemsAt;
  header(n);
  for (let i = 0; i < n; i++) {
    q = arrayHeader(q, end);
    if (q == BAD || hN != 4) return "item " + i.toString() + ": want [key, state, values, timing_out]";
    const kp = q;
    q = skip(q, end, 0);
    if (q == BAD) return "item " + i.toString() + " key: " + mpErr;
    const kEnd = q;
    const serr = stateOption(q, end);
    if (serr != null) return "item " + i.toString() + ": state must be [] or [value]: " + serr;
    q = optionEnd;
    const sp = optionAt;
    const sEnd = optionValueEnd;
    const vp = q;
    q = skip(q, end, 0);
    if (q == BAD || typeOf(vp, end) != T_ARRAY) return "item " + i.toString() + ": want an array of values";
    const vEnd = q;
    if (typeOf(q, end) != T_BOOL) return "item " + i.toString() + ": timing_out must be a bool";
    const timingOut = load<u8>(q) == 0xc3;
    q += 1;
    const mark = out.len;
    const msg = mapStateItem(f, src, t, kp, kEnd, sp, sEnd, vp, vEnd, timingOut);
    if (msg != null) recordError(i, mark, msg);
  }
  if (q != end) return (end - q).toString() + " bytes after the input";
  return null;
}

// mapStateItem calls f for one key's values (once, with none, when the key
// is timing out) and writes [outs, change]; it returns null, or the
// message the key failed with.
function mapStateItem(f: Fn, src: ArrayBuffer, t: i64, kp: usize, kEnd: usize, sp: usize, sEnd: usize, vp: usize, vEnd: usize, timingOut: bool): string | null {
  const k = decode(src, kp, kEnd);
  if (k == null) return "key: " + mpErr;
  let prev: Value | null = null;
  if (sp != 0) {
    prev = decode(src, sp, sEnd);
    if (prev == null) return "state: " + mpErr;
  }
  const vs = decode(src, vp, vEnd);
  if (vs == null) return "values: " + mpErr;
  const values = vs.asArray();
  if (timingOut && (values.length != 0 || prev == null)) return "a timing-out key comes with a state and no values";
  if (!timingOut && values.length == 0) return "a key with no values that is not timing out";
  const st = new State(prev, timingOut);
  const calls = timingOut ? 1 : values.length;
  out.byte(0x92);
  out.arrayHeader(calls);
  for (let j = 0; j < calls; j++) {
    failed = null;
    const o = f.mapStateFn(t, k, timingOut ? null : unchecked(values[j]), st);
    if (failed != null) return failed;
    if (o == null) out.byte(0x90);
    else {
      out.byte(0x91);
      o.encode(out);
    }
  }
  const s = st.get();
  if (!st.changed) out.nil();
  else if (s == null) out.byte(0x90);
  else {
    out.byte(0x91);
    s.encode(out);
  }
  return null;
}
