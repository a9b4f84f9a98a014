// Texts made from msgpack bytes, each the same bytes the Go SDK's abi
// package writes: JSON (abi.AppendJSON), Scala's toString (abi.AppendText)
// and Go's %q. Messages are *byte strings*: AssemblyScript strings whose
// code units are each one byte, so that they can hold any bytes a Go string
// holds (a message cut in the middle of a UTF-8 sequence stays cut).

import { Buf } from "./buf";
import { appendJSONFloat, appendJavaDouble } from "./dtoa";
import {
  BAD, T_ARRAY, T_BINARY, T_BOOL, T_EXT, T_FLOAT, T_INT, T_MAP, T_NIL, T_STRING,
  MAX_DEPTH, typeOf, hex2, truncated, arrayHeader, mapHeader, readInt, intVal,
  readFloat, floatVal, readStrBytes, strPtr, strLen, skip, be64, bad,
} from "./msgpack";
import * as mp from "./msgpack";

// bstr returns the n bytes at p as a byte string.
export function bstr(p: usize, n: i32): string {
  const s = changetype<string>(__new(<usize>n << 1, idof<string>()));
  const d = changetype<usize>(s);
  for (let i = 0; i < n; i++) store<u16>(d + (<usize>i << 1), load<u8>(p + <usize>i));
  return s;
}

// bstrOf returns the bytes written to b since start, as a byte string.
export function bstrOf(b: Buf, start: i32): string {
  return bstr(b.ptr + <usize>start, b.len - start);
}

// utf8Bytes returns the UTF-8 encoding of s as a byte string.
export function utf8Bytes(s: string): string {
  const b = new Buf(String.UTF8.byteLength(s));
  b.utf8(s);
  return bstrOf(b, 0);
}

// decodeRune is Go's utf8.DecodeRune: the rune at p and its width in
// runeWidth; an invalid or short sequence is U+FFFD of width 1.
export let runeWidth = 0;

export function decodeRune(p: usize, end: usize): i32 {
  const c = <i32>load<u8>(p);
  runeWidth = 1;
  if (c < 0x80) return c;
  let n = 0;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
  } else return 0xfffd;
  if (<usize>n > end - p) return 0xfffd;
  const c1 = <i32>load<u8>(p + 1);
  if (c1 < lo || c1 > hi) return 0xfffd;
  let r = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
  r = (r << 6) | (c1 & 0x3f);
  for (let i = 2; i < n; i++) {
    const ci = <i32>load<u8>(p + <usize>i);
    if (ci < 0x80 || ci > 0xbf) return 0xfffd;
    r = (r << 6) | (ci & 0x3f);
  }
  runeWidth = n;
  return r;
}

// appendJSONString writes bytes as a JSON string; bytes that are not UTF-8
// become \u00XX escapes of the byte (abi.AppendJSONString).
export function appendJSONString(b: Buf, p: usize, n: i32): void {
  const end = p + <usize>n;
  b.byte(0x22);
  let q = p;
  while (q < end) {
    const c = <i32>load<u8>(q);
    if (c < 0x80) {
      if (c == 0x22 || c == 0x5c) {
        b.byte(0x5c);
        b.byte(c);
      } else if (c == 0x0a) b.ascii("\\n");
      else if (c == 0x0d) b.ascii("\\r");
      else if (c == 0x09) b.ascii("\\t");
      else if (c < 0x20) b.ascii("\\u00" + hex2(c));
      else b.byte(c);
      q++;
      continue;
    }
    const r = decodeRune(q, end);
    if (r == 0xfffd && runeWidth == 1) {
      b.ascii("\\u00" + hex2(c));
      q++;
      continue;
    }
    b.bytes(q, runeWidth);
    q += <usize>runeWidth;
  }
  b.byte(0x22);
}

// isPrint approximates Go's strconv.IsPrint: ASCII graphic characters and
// space, and every other rune except controls, the Unicode spaces and line
// separators, and the common invisible format characters. (Go consults the
// full Unicode tables; a rarer unprintable rune is written as is here.)
function isPrint(r: i32): bool {
  if (r < 0x80) return r >= 0x20 && r < 0x7f;
  if (r <= 0xa0 || r == 0xad) return false;
  if (r == 0x1680 || (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f)) return false;
  if ((r >= 0x205f && r <= 0x206f) || r == 0x3000 || r == 0xfeff) return false;
  if ((r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xfffb) || r == 0xfffe || r == 0xffff) return false;
  if (r >= 0xe0000) return false;
  return true;
}

// appendQuote writes bytes as Go's strconv.Quote (fmt's %q) does.
export function appendQuote(b: Buf, p: usize, n: i32): void {
  const end = p + <usize>n;
  b.byte(0x22);
  let q = p;
  while (q < end) {
    const c = <i32>load<u8>(q);
    let r = c;
    runeWidth = 1;
    if (c >= 0x80) r = decodeRune(q, end);
    if (runeWidth == 1 && r == 0xfffd) {
      b.ascii("\\x" + hex2(c));
      q++;
      continue;
    }
    const w = runeWidth;
    if (r == 0x22 || r == 0x5c) {
      b.byte(0x5c);
      b.byte(r);
    } else if (isPrint(r)) {
      b.bytes(q, w);
    } else if (r == 7) b.ascii("\\a");
    else if (r == 8) b.ascii("\\b");
    else if (r == 12) b.ascii("\\f");
    else if (r == 10) b.ascii("\\n");
    else if (r == 13) b.ascii("\\r");
    else if (r == 9) b.ascii("\\t");
    else if (r == 11) b.ascii("\\v");
    else if (r < 0x20 || r == 0x7f) b.ascii("\\x" + hex2(r));
    else if (r < 0x10000) b.ascii("\\u" + hex2(r >> 8) + hex2(r & 0xff));
    else b.ascii("\\U00" + hex2(r >> 16) + hex2((r >> 8) & 0xff) + hex2(r & 0xff));
    q += <usize>w;
  }
  b.byte(0x22);
}

// appendJSON writes the JSON text of the value at p (abi.AppendJSON) and
// returns the position after it, or BAD with the error in msgpack.err.
export function appendJSON(b: Buf, p: usize, end: usize, depth: i32): usize {
  if (depth > MAX_DEPTH) {
    return bad("msgpack: nesting deeper than 512");
  }
  switch (typeOf(p, end)) {
    case T_NIL:
      b.ascii("null");
      return p + 1;
    case T_BOOL:
      b.ascii(load<u8>(p) == 0xc3 ? "true" : "false");
      return p + 1;
    case T_INT:
      if (load<u8>(p) == 0xcf) {
        if (end - p < 9) return truncated();
        b.udec(be64(p + 1));
        return p + 9;
      } else {
        const q = readInt(p, end);
        if (q != BAD) b.dec(intVal);
        return q;
      }
    case T_FLOAT: {
      const q = readFloat(p, end);
      if (q != BAD) appendJSONFloat(b, floatVal);
      return q;
    }
    case T_STRING:
    case T_BINARY: {
      const q = readStrBytes(p, end);
      if (q != BAD) appendJSONString(b, strPtr, strLen);
      return q;
    }
    case T_ARRAY: {
      let q = arrayHeader(p, end);
      if (q == BAD) return BAD;
      const n = mp.hN;
      b.byte(0x5b);
      for (let i: u64 = 0; i < n; i++) {
        if (i > 0) b.byte(0x2c);
        q = appendJSON(b, q, end, depth + 1);
        if (q == BAD) return BAD;
      }
      b.byte(0x5d);
      return q;
    }
    case T_MAP: {
      let q = mapHeader(p, end);
      if (q == BAD) return BAD;
      const n = mp.hN >> 1;
      b.byte(0x7b);
      for (let i: u64 = 0; i < n; i++) {
        if (i > 0) b.byte(0x2c);
        if (typeOf(q, end) == T_STRING) {
          q = appendJSON(b, q, end, depth + 1);
        } else {
          // A key that is not a string becomes the string of its JSON text.
          const k = skip(q, end, 0);
          if (k == BAD) return BAD;
          const kb = new Buf(16);
          if (appendJSON(kb, q, k, 0) == BAD) return BAD;
          appendJSONString(b, kb.ptr, kb.len);
          q = k;
        }
        if (q == BAD) return BAD;
        b.byte(0x3a);
        q = appendJSON(b, q, end, depth + 1);
        if (q == BAD) return BAD;
      }
      b.byte(0x7d);
      return q;
    }
    case T_EXT:
      return bad("msgpack ext values have no JSON form");
  }
  if (p >= end) return truncated();
  return bad("msgpack: invalid type byte 0x" + hex2(<i32>load<u8>(p)));
}

// describe renders a value shortly for a message, as abi.Describe does:
// its JSON text cut to 80 bytes, or what made it undecodable.
export function describe(p: usize, end: usize): string {
  const b = new Buf(64);
  if (appendJSON(b, p, end, 0) == BAD) {
    return "<" + mp.typeName(typeOf(p, end)) + ", undecodable: " + mp.err + ">";
  }
  if (b.len > 80) return bstr(b.ptr, 77) + "...";
  return bstrOf(b, 0);
}

// appendText writes the value at p as Scala's toString shows it, as Spark's
// pprint does (abi.AppendText): strings bare, a pair as (k,v), other arrays
// as List(a, b), maps as Map(k -> v), nil as null, floats as Java doubles.
// It returns the position after the value, or BAD.
export function appendText(b: Buf, p: usize, end: usize, depth: i32): usize {
  if (depth > MAX_DEPTH) return truncated();
  switch (typeOf(p, end)) {
    case T_STRING:
    case T_BINARY: {
      const q = readStrBytes(p, end);
      if (q != BAD) b.bytes(strPtr, strLen);
      return q;
    }
    case T_FLOAT: {
      const q = readFloat(p, end);
      if (q != BAD) appendJavaDouble(b, floatVal);
      return q;
    }
    case T_ARRAY: {
      let q = arrayHeader(p, end);
      if (q == BAD) return BAD;
      const n = mp.hN;
      const pair = n == 2;
      b.ascii(pair ? "(" : "List(");
      for (let i: u64 = 0; i < n; i++) {
        if (i > 0) b.ascii(pair ? "," : ", ");
        q = appendText(b, q, end, depth + 1);
        if (q == BAD) return BAD;
      }
      b.byte(0x29);
      return q;
    }
    case T_MAP: {
      let q = mapHeader(p, end);
      if (q == BAD) return BAD;
      const n = mp.hN >> 1;
      b.ascii("Map(");
      for (let i: u64 = 0; i < n; i++) {
        if (i > 0) b.ascii(", ");
        q = appendText(b, q, end, depth + 1);
        if (q == BAD) return BAD;
        b.ascii(" -> ");
        q = appendText(b, q, end, depth + 1);
        if (q == BAD) return BAD;
      }
      b.byte(0x29);
      return q;
    }
  }
  // nil, bool, int: JSON's text is Scala's text.
  const q = skip(p, end, 0);
  if (q == BAD) return BAD;
  return appendJSON(b, p, q, 0) == BAD ? BAD : q;
}
