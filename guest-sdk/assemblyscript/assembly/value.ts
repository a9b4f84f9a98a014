// Value: one msgpack value, decoded the way the Go SDK decodes it so that
// both encode it back to the same bytes: every int width becomes an i64
// (a uint above i64.MAX_VALUE stays a Uint), float32 widens to f64 and is
// written as float64, str and bin keep their bytes as they are (UTF-8 or
// not), and a map keeps one value per key (the last), written in byte
// order of its keys.

import { Buf } from "./buf";
import { appendG } from "./dtoa";
import { bstr, bstrOf, appendQuote, appendText } from "./text";
import {
  BAD, T_ARRAY, T_BINARY, T_BOOL, T_FLOAT, T_INT, T_MAP, T_NIL, T_STRING,
  typeOf, header, hLen, hN, readInt, intVal, readFloat, floatVal,
  readStrBytes, strPtr, strLen, be64, bad, T_INVALID,
} from "./msgpack";
import { typeName as mpTypeName, err as mpErr } from "./msgpack";

export enum Kind {
  Nil,
  Bool,
  Int,
  Uint, // an integer above i64.MAX_VALUE
  Float,
  Str,
  Bin,
  Array,
  Map,
}

const EMPTY = new ArrayBuffer(0);

export class Value {
  kind: Kind = Kind.Nil;
  private i: i64 = 0; // Bool (0 or 1), Int, Uint (its bits)
  private f: f64 = 0;
  // Str and Bin: the bytes buf[off, off+n). Decoded strings share the
  // call's copy of the input instead of copying each one.
  private buf: ArrayBuffer = EMPTY;
  private off: i32 = 0;
  private n: i32 = 0;
  // Array: the elements. Map: keys (Str) at even and values at odd indexes.
  private items: Value[] | null = null;

  // ---- constructors ----

  static nil(): Value {
    return new Value();
  }

  static bool(b: bool): Value {
    const v = new Value();
    v.kind = Kind.Bool;
    v.i = b ? 1 : 0;
    return v;
  }

  static int(i: i64): Value {
    const v = new Value();
    v.kind = Kind.Int;
    v.i = i;
    return v;
  }

  // uint is an unsigned integer; above i64.MAX_VALUE it is kept as a Uint.
  static uint(u: u64): Value {
    if (u <= <u64>i64.MAX_VALUE) return Value.int(<i64>u);
    const v = new Value();
    v.kind = Kind.Uint;
    v.i = <i64>u;
    return v;
  }

  static float(f: f64): Value {
    const v = new Value();
    v.kind = Kind.Float;
    v.f = f;
    return v;
  }

  // str is a string value, written as UTF-8.
  static str(s: string): Value {
    const b = String.UTF8.encode(s);
    return Value.bytesOf(Kind.Str, b, 0, b.byteLength);
  }

  // bin is a binary value holding a copy of bytes.
  static bin(bytes: Uint8Array): Value {
    const b = bytes.slice().buffer;
    return Value.bytesOf(Kind.Bin, b, 0, b.byteLength);
  }

  static array(items: Value[]): Value {
    const v = new Value();
    v.kind = Kind.Array;
    v.items = items;
    return v;
  }

  // pair is the key/value pair [k, v] that *ByKey operators expect.
  static pair(k: Value, v: Value): Value {
    const items = new Array<Value>(2);
    unchecked((items[0] = k));
    unchecked((items[1] = v));
    return Value.array(items);
  }

  // map is a map from keys[i] to values[i]; a repeated key keeps its last value.
  static map(keys: string[], values: Value[]): Value {
    const items = new Array<Value>(keys.length << 1);
    for (let i = 0; i < keys.length; i++) {
      unchecked((items[i << 1] = Value.str(keys[i])));
      unchecked((items[(i << 1) + 1] = values[i]));
    }
    return Value.mapOf(items);
  }

  static bytesOf(kind: Kind, buf: ArrayBuffer, off: i32, n: i32): Value {
    const v = new Value();
    v.kind = kind;
    v.buf = buf;
    v.off = off;
    v.n = n;
    return v;
  }

  static mapOf(items: Value[]): Value {
    const v = new Value();
    v.kind = Kind.Map;
    v.items = normalize(items);
    return v;
  }

  // ---- predicates and accessors ----

  get isNil(): bool {
    return this.kind == Kind.Nil;
  }
  get isBool(): bool {
    return this.kind == Kind.Bool;
  }
  // isInt: an integer that fits an i64 (see asInt).
  get isInt(): bool {
    return this.kind == Kind.Int;
  }
  get isFloat(): bool {
    return this.kind == Kind.Float;
  }
  // isNumber: an int, uint or float (see asFloat).
  get isNumber(): bool {
    return this.kind == Kind.Int || this.kind == Kind.Uint || this.kind == Kind.Float;
  }
  get isStr(): bool {
    return this.kind == Kind.Str;
  }
  get isBin(): bool {
    return this.kind == Kind.Bin;
  }
  get isArray(): bool {
    return this.kind == Kind.Array;
  }
  get isMap(): bool {
    return this.kind == Kind.Map;
  }

  asBool(): bool {
    return this.i != 0;
  }

  // asInt is the integer of an Int (0 for anything else).
  asInt(): i64 {
    return this.kind == Kind.Int ? this.i : 0;
  }

  // asUint is the integer of an Int or Uint as a u64.
  asUint(): u64 {
    return this.kind == Kind.Int || this.kind == Kind.Uint ? <u64>this.i : 0;
  }

  // asFloat is any number as an f64 (NaN for anything else).
  asFloat(): f64 {
    if (this.kind == Kind.Float) return this.f;
    if (this.kind == Kind.Int) return <f64>this.i;
    if (this.kind == Kind.Uint) return <f64>(<u64>this.i);
    return NaN;
  }

  // asString decodes a Str or Bin as UTF-8 ("" for anything else).
  asString(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.buf) + <usize>this.off, <usize>this.n);
  }

  // asBytes is a copy of the bytes of a Str or Bin.
  asBytes(): Uint8Array {
    return Uint8Array.wrap(this.buf, this.off, this.n).slice();
  }

  // asArray is the elements of an Array (empty for anything else); the
  // array is the value's own, not a copy.
  asArray(): Value[] {
    const items = this.items;
    return this.kind == Kind.Array && items != null ? items : [];
  }

  // length: elements of an Array, keys of a Map, bytes of a Str or Bin.
  get length(): i32 {
    const items = this.items;
    if (this.kind == Kind.Array) return items!.length;
    if (this.kind == Kind.Map) return items!.length >> 1;
    return this.n;
  }

  // keys of a Map, in byte order.
  keys(): string[] {
    const out = new Array<string>();
    if (this.kind != Kind.Map) return out;
    const items = this.items!;
    for (let i = 0; i < items.length; i += 2) out.push(unchecked(items[i]).asString());
    return out;
  }

  // get is the value of key in a Map, or null.
  get(key: string): Value | null {
    if (this.kind != Kind.Map) return null;
    const k = Value.str(key);
    const items = this.items!;
    for (let i = 0; i < items.length; i += 2) {
      if (compareBytes(unchecked(items[i]), k) == 0) return unchecked(items[i + 1]);
    }
    return null;
  }

  // split cuts a Str at every occurrence of sep (like Go's strings.Split,
  // and Scala's split without its dropping of trailing empty strings): n
  // separators give n+1 strings, empty ones included. The parts share this
  // value's bytes. An empty sep, or a value that is not a Str, gives [this].
  split(sep: string): Value[] {
    const sb = String.UTF8.encode(sep);
    const m = sb.byteLength;
    if (this.kind != Kind.Str || m == 0) return [this];
    const base = changetype<usize>(this.buf);
    const s0 = changetype<usize>(sb);
    const first = load<u8>(s0);
    const end = this.off + this.n;
    // Count first, so the result is allocated once at its size.
    let count = 1;
    for (let i = this.off; i + m <= end; ) {
      if (load<u8>(base + <usize>i) == first && (m == 1 || memory.compare(base + <usize>i, s0, <usize>m) == 0)) {
        count++;
        i += m;
      } else i++;
    }
    const out = new Array<Value>(count);
    let k = 0;
    let start = this.off;
    for (let i = start; i + m <= end; ) {
      if (load<u8>(base + <usize>i) == first && (m == 1 || memory.compare(base + <usize>i, s0, <usize>m) == 0)) {
        unchecked((out[k++] = Value.bytesOf(Kind.Str, this.buf, start, i - start)));
        i += m;
        start = i;
      } else i++;
    }
    unchecked((out[k] = Value.bytesOf(Kind.Str, this.buf, start, end - start)));
    return out;
  }

  // toText is a Str of the value as Scala's toString shows it, as the host's
  // pprint does: strings bare, [k, v] as (k,v), other arrays as List(a, b),
  // maps as Map(k -> v), nil as null, floats as Java doubles (2.0, 1.0E10).
  toText(): Value {
    if (this.kind == Kind.Str) return this;
    const enc = new Buf(32);
    this.encode(enc);
    const b = new Buf(32);
    appendText(b, enc.ptr, enc.ptr + <usize>enc.len, 0);
    return Value.bytesOf(Kind.Str, b.data, 0, b.len);
  }

  // encode appends the value's msgpack encoding to b.
  encode(b: Buf): void {
    switch (this.kind) {
      case Kind.Nil:
        b.nil();
        break;
      case Kind.Bool:
        b.bool(this.i != 0);
        break;
      case Kind.Int:
        b.int(this.i);
        break;
      case Kind.Uint:
        b.uint(<u64>this.i);
        break;
      case Kind.Float:
        b.float(this.f);
        break;
      case Kind.Str:
        b.strHeader(this.n);
        b.bytes(changetype<usize>(this.buf) + <usize>this.off, this.n);
        break;
      case Kind.Bin:
        b.binHeader(this.n);
        b.bytes(changetype<usize>(this.buf) + <usize>this.off, this.n);
        break;
      case Kind.Array: {
        const items = this.items!;
        b.arrayHeader(items.length);
        for (let i = 0; i < items.length; i++) unchecked(items[i]).encode(b);
        break;
      }
      case Kind.Map: {
        const items = this.items!;
        b.mapHeader(items.length >> 1);
        for (let i = 0; i < items.length; i++) unchecked(items[i]).encode(b);
        break;
      }
    }
  }

  // ptr is where a Str's or Bin's bytes start.
  @inline get bytesPtr(): usize {
    return changetype<usize>(this.buf) + <usize>this.off;
  }

  // sprint appends Go's fmt %v of the value as the Go SDK holds it.
  sprint(b: Buf): void {
    switch (this.kind) {
      case Kind.Nil:
        b.ascii("<nil>");
        break;
      case Kind.Bool:
        b.ascii(this.i != 0 ? "true" : "false");
        break;
      case Kind.Int:
        b.dec(this.i);
        break;
      case Kind.Uint:
        b.udec(<u64>this.i);
        break;
      case Kind.Float:
        appendG(b, this.f);
        break;
      case Kind.Str:
        b.bytes(this.bytesPtr, this.n);
        break;
      case Kind.Bin: {
        b.byte(0x5b);
        for (let i = 0; i < this.n; i++) {
          if (i > 0) b.byte(0x20);
          b.dec(load<u8>(this.bytesPtr + <usize>i));
        }
        b.byte(0x5d);
        break;
      }
      case Kind.Array: {
        const items = this.items!;
        b.byte(0x5b);
        for (let i = 0; i < items.length; i++) {
          if (i > 0) b.byte(0x20);
          unchecked(items[i]).sprint(b);
        }
        b.byte(0x5d);
        break;
      }
      case Kind.Map: {
        const items = this.items!;
        b.ascii("map[");
        for (let i = 0; i < items.length; i += 2) {
          if (i > 0) b.byte(0x20);
          unchecked(items[i]).sprint(b);
          b.byte(0x3a);
          unchecked(items[i + 1]).sprint(b);
        }
        b.byte(0x5d);
        break;
      }
    }
  }
}

// typeName is the name messages give a value's type: the Go SDK's (%T), so
// that an error reads the same from every SDK.
export function typeName(v: Value): string {
  switch (v.kind) {
    case Kind.Nil: return "<nil>";
    case Kind.Bool: return "bool";
    case Kind.Int: return "int64";
    case Kind.Uint: return "uint64";
    case Kind.Float: return "float64";
    case Kind.Str: return "string";
    case Kind.Bin: return "[]uint8";
    case Kind.Array: return "[]interface {}";
  }
  return "map[string]interface {}";
}

// describe renders a value shortly for an error message: a quoted string or
// Go's %v, cut to 40 bytes, and its type. The result is a byte string.
export function describe(v: Value): string {
  if (v.kind == Kind.Nil) return "nil";
  const b = new Buf(48);
  if (v.kind == Kind.Str) appendQuote(b, v.bytesPtr, v.length);
  else v.sprint(b);
  const s = b.len > 40 ? bstr(b.ptr, 37) + "..." : bstrOf(b, 0);
  return s + " (" + typeName(v) + ")";
}

function compareBytes(a: Value, b: Value): i32 {
  const n = min(a.length, b.length);
  const c = memory.compare(a.bytesPtr, b.bytesPtr, <usize>n);
  if (c != 0) return c;
  return a.length - b.length;
}

// normalize sorts map items by key bytes (a stable insertion sort, as the Go
// SDK sorts keys) and keeps the last value of a repeated key.
function normalize(items: Value[]): Value[] {
  const n = items.length >> 1;
  for (let i = 1; i < n; i++) {
    const k = unchecked(items[i << 1]);
    const v = unchecked(items[(i << 1) + 1]);
    let j = i;
    while (j > 0 && compareBytes(unchecked(items[(j - 1) << 1]), k) > 0) {
      unchecked((items[j << 1] = items[(j - 1) << 1]));
      unchecked((items[(j << 1) + 1] = items[((j - 1) << 1) + 1]));
      j--;
    }
    unchecked((items[j << 1] = k));
    unchecked((items[(j << 1) + 1] = v));
  }
  let w = 0;
  for (let i = 0; i < n; i++) {
    if (i + 1 < n && compareBytes(unchecked(items[i << 1]), unchecked(items[(i + 1) << 1])) == 0) continue;
    if (w != i) {
      unchecked((items[w << 1] = items[i << 1]));
      unchecked((items[(w << 1) + 1] = items[(i << 1) + 1]));
    }
    w++;
  }
  items.length = w << 1;
  return items;
}

// decodeEnd is where the last decode stopped.
let decodeEnd: usize = 0;

// decode turns the value at p, inside src, into a Value (abi.Decode), or
// returns null with the message in msgpack.err. The input has been
// validated by skip, so only what Go's Decode refuses can fail here: ext
// values and map keys that are not strings.
export function decode(src: ArrayBuffer, p: usize, end: usize): Value | null {
  const base = changetype<usize>(src);
  switch (typeOf(p, end)) {
    case T_NIL:
      decodeEnd = p + 1;
      return Value.nil();
    case T_BOOL:
      decodeEnd = p + 1;
      return Value.bool(load<u8>(p) == 0xc3);
    case T_INT: {
      if (load<u8>(p) == 0xcf) {
        if (end - p < 9) {
          bad("msgpack: truncated value");
          return null;
        }
        decodeEnd = p + 9;
        return Value.uint(be64(p + 1));
      }
      const q = readInt(p, end);
      if (q == BAD) return null;
      decodeEnd = q;
      return Value.int(intVal);
    }
    case T_FLOAT: {
      const q = readFloat(p, end);
      if (q == BAD) return null;
      decodeEnd = q;
      return Value.float(floatVal);
    }
    case T_STRING:
    case T_BINARY: {
      const kind = typeOf(p, end) == T_STRING ? Kind.Str : Kind.Bin;
      const q = readStrBytes(p, end);
      if (q == BAD) return null;
      decodeEnd = q;
      return Value.bytesOf(kind, src, <i32>(strPtr - base), strLen);
    }
    case T_ARRAY: {
      if (header(p, end) == BAD) return null;
      const n = <i32>hN;
      let q = p + <usize>hLen;
      const items = new Array<Value>(n);
      for (let i = 0; i < n; i++) {
        const v = decode(src, q, end);
        if (v == null) return null;
        unchecked((items[i] = v));
        q = decodeEnd;
      }
      decodeEnd = q;
      return Value.array(items);
    }
    case T_MAP: {
      if (header(p, end) == BAD) return null;
      const n = <i32>hN;
      let q = p + <usize>hLen;
      const items = new Array<Value>(n);
      for (let i = 0; i < n; i += 2) {
        // A bin key reads as a string key, as in Go.
        const k = readStrBytes(q, end);
        if (k == BAD) {
          bad("map key: " + mpErr);
          return null;
        }
        unchecked((items[i] = Value.bytesOf(Kind.Str, src, <i32>(strPtr - base), strLen)));
        const v = decode(src, k, end);
        if (v == null) return null;
        unchecked((items[i + 1] = v));
        q = decodeEnd;
      }
      decodeEnd = q;
      return Value.mapOf(items);
    }
  }
  if (p >= end) {
    bad("msgpack: truncated value");
    return null;
  }
  const t = typeOf(p, end);
  if (t == T_INVALID) header(p, end); // sets the invalid-byte message
  else bad("msgpack: " + mpTypeName(t) + " values are not supported");
  return null;
}
