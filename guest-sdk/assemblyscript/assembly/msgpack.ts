// The msgpack reader: validation (skip) and the small readers dispatch
// needs. Errors are the Go SDK's, word for word, because they end up in
// responses that must be byte-identical across SDKs. With no exceptions in
// AssemblyScript, a failing reader returns BAD and leaves its message in
// `err` (a byte string: see text.ts).

export const BAD: usize = 0;
export let err: string = "";

// Type families, named as abi.Type names them in messages.
export const T_INVALID = 0;
export const T_NIL = 1;
export const T_BOOL = 2;
export const T_INT = 3;
export const T_FLOAT = 4;
export const T_STRING = 5;
export const T_BINARY = 6;
export const T_ARRAY = 7;
export const T_MAP = 8;
export const T_EXT = 9;

export const MAX_DEPTH = 512;

export function typeName(t: i32): string {
  switch (t) {
    case T_NIL: return "nil";
    case T_BOOL: return "bool";
    case T_INT: return "int";
    case T_FLOAT: return "float";
    case T_STRING: return "string";
    case T_BINARY: return "binary";
    case T_ARRAY: return "array";
    case T_MAP: return "map";
    case T_EXT: return "ext";
  }
  return "invalid";
}

// typeOf is the family of the value starting at p (end: one past the input).
export function typeOf(p: usize, end: usize): i32 {
  if (p >= end) return T_INVALID;
  const c = <i32>load<u8>(p);
  if (c <= 0x7f || c >= 0xe0) return T_INT;
  if (c <= 0x8f) return T_MAP;
  if (c <= 0x9f) return T_ARRAY;
  if (c <= 0xbf) return T_STRING;
  switch (c) {
    case 0xc0: return T_NIL;
    case 0xc2: case 0xc3: return T_BOOL;
    case 0xc4: case 0xc5: case 0xc6: return T_BINARY;
    case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return T_EXT;
    case 0xca: case 0xcb: return T_FLOAT;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xd0: case 0xd1: case 0xd2: case 0xd3: return T_INT;
    case 0xd9: case 0xda: case 0xdb: return T_STRING;
    case 0xdc: case 0xdd: return T_ARRAY;
    case 0xde: case 0xdf: return T_MAP;
  }
  return T_INVALID;
}

export function hex2(c: i32): string {
  const h = "0123456789abcdef";
  return h.charAt((c >> 4) & 15) + h.charAt(c & 15);
}

// bad sets err and returns BAD.
export function bad(msg: string): usize {
  err = msg;
  return BAD;
}

export function truncated(): usize {
  return bad("msgpack: truncated value");
}

@inline export function be16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}

@inline export function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}

@inline export function be64(p: usize): u64 {
  return bswap<u64>(load<u64>(p));
}

// The header of the last header() call: type, header length, and the
// payload length (str, bin, ext, numbers) or element count (arrays: n,
// maps: 2n).
export let hType = 0;
export let hLen = 0;
export let hN: u64 = 0;

// header decodes the header at p; it returns p, or BAD.
export function header(p: usize, end: usize): usize {
  if (p >= end) return truncated();
  const c = <i32>load<u8>(p);
  const avail = end - p;
  hLen = 1;
  hN = 0;
  if (c <= 0x7f || c >= 0xe0) {
    hType = T_INT;
    return p;
  }
  if (c <= 0x8f) {
    hType = T_MAP;
    hN = <u64>(c & 0x0f) * 2;
    return p;
  }
  if (c <= 0x9f) {
    hType = T_ARRAY;
    hN = <u64>(c & 0x0f);
    return p;
  }
  if (c <= 0xbf) {
    hType = T_STRING;
    hN = <u64>(c & 0x1f);
    return p;
  }
  hType = typeOf(p, end);
  switch (c) {
    case 0xc0: case 0xc2: case 0xc3:
      return p;
    case 0xc4: case 0xd9:
      if (avail < 2) return truncated();
      hLen = 2;
      hN = <u64>load<u8>(p + 1);
      return p;
    case 0xc5: case 0xda:
      if (avail < 3) return truncated();
      hLen = 3;
      hN = be16(p + 1);
      return p;
    case 0xc6: case 0xdb:
      if (avail < 5) return truncated();
      hLen = 5;
      hN = be32(p + 1);
      return p;
    case 0xc7:
      if (avail < 3) return truncated();
      hLen = 3;
      hN = <u64>load<u8>(p + 1);
      return p;
    case 0xc8:
      if (avail < 4) return truncated();
      hLen = 4;
      hN = be16(p + 1);
      return p;
    case 0xc9:
      if (avail < 6) return truncated();
      hLen = 6;
      hN = be32(p + 1);
      return p;
    case 0xca: hN = 4; return p;
    case 0xcb: hN = 8; return p;
    case 0xcc: case 0xd0: hN = 1; return p;
    case 0xcd: case 0xd1: hN = 2; return p;
    case 0xce: case 0xd2: hN = 4; return p;
    case 0xcf: case 0xd3: hN = 8; return p;
    case 0xd4: hLen = 2; hN = 1; return p;
    case 0xd5: hLen = 2; hN = 2; return p;
    case 0xd6: hLen = 2; hN = 4; return p;
    case 0xd7: hLen = 2; hN = 8; return p;
    case 0xd8: hLen = 2; hN = 16; return p;
    case 0xdc:
      if (avail < 3) return truncated();
      hLen = 3;
      hN = be16(p + 1);
      return p;
    case 0xdd:
      if (avail < 5) return truncated();
      hLen = 5;
      hN = be32(p + 1);
      return p;
    case 0xde:
      if (avail < 3) return truncated();
      hLen = 3;
      hN = <u64>be16(p + 1) * 2;
      return p;
    case 0xdf:
      if (avail < 5) return truncated();
      hLen = 5;
      hN = <u64>be32(p + 1) * 2;
      return p;
  }
  err = "msgpack: invalid type byte 0x" + hex2(c);
  return BAD;
}

// checkCount bounds a container by the bytes left: no container can have
// more elements than that, so a hostile header cannot make us allocate.
function checkCount(n: u64, remaining: usize): bool {
  if (n > <u64>remaining) {
    err = "msgpack: container of " + n.toString() + " elements in " + remaining.toString() + " bytes";
    return false;
  }
  return true;
}

// skip returns the end of the one value at p, or BAD.
export function skip(p: usize, end: usize, depth: i32): usize {
  if (depth > MAX_DEPTH) {
    err = "msgpack: nesting deeper than 512";
    return BAD;
  }
  if (header(p, end) == BAD) return BAD;
  const hdr = <usize>hLen;
  if (end - p < hdr) return truncated();
  const n = hN;
  const t = hType;
  if (t == T_ARRAY || t == T_MAP) {
    if (!checkCount(n, end - p - hdr)) return BAD;
    let q = p + hdr;
    for (let i: u64 = 0; i < n; i++) {
      q = skip(q, end, depth + 1);
      if (q == BAD) return BAD;
    }
    return q;
  }
  if (<u64>(end - p - hdr) < n) return truncated(); // an ext's hdr counts its type byte
  return p + hdr + <usize>n;
}

// arrayHeader reads an array header at p and returns the position after
// it, with the count in hN; or BAD.
export function arrayHeader(p: usize, end: usize): usize {
  if (header(p, end) == BAD) return BAD;
  if (hType != T_ARRAY) {
    err = "msgpack: want array, got " + typeName(hType);
    return BAD;
  }
  if (!checkCount(hN, end - p - <usize>hLen)) return BAD;
  return p + <usize>hLen;
}

// mapHeader is arrayHeader for maps; hN is the number of keys and values.
export function mapHeader(p: usize, end: usize): usize {
  if (header(p, end) == BAD) return BAD;
  if (hType != T_MAP) {
    err = "msgpack: want map, got " + typeName(hType);
    return BAD;
  }
  if (!checkCount(hN, end - p - <usize>hLen)) return BAD;
  return p + <usize>hLen;
}

// The result of readInt.
export let intVal: i64 = 0;

// readInt reads an integer that fits an i64 and returns the position after it.
export function readInt(p: usize, end: usize): usize {
  if (header(p, end) == BAD) return BAD;
  if (hType != T_INT) {
    err = "msgpack: want int, got " + typeName(hType);
    return BAD;
  }
  const q = p + <usize>hLen;
  if (<u64>(end - p) < <u64>hLen + hN) return truncated();
  const c = <i32>load<u8>(p);
  switch (c) {
    case 0xcc: intVal = <i64>load<u8>(q); break;
    case 0xcd: intVal = <i64>be16(q); break;
    case 0xce: intVal = <i64>be32(q); break;
    case 0xcf: {
      const u = be64(q);
      if (u > <u64>i64.MAX_VALUE) {
        err = "msgpack: uint " + u.toString() + " overflows int64";
        return BAD;
      }
      intVal = <i64>u;
      break;
    }
    case 0xd0: intVal = <i64>load<i8>(q); break;
    case 0xd1: intVal = <i64><i16>be16(q); break;
    case 0xd2: intVal = <i64><i32>be32(q); break;
    case 0xd3: intVal = <i64>be64(q); break;
    default: intVal = <i64><i8>c;
  }
  return q + <usize>hN;
}

// readFloat reads a float32 or float64 (abi.ReadFloat, messages included).
export let floatVal: f64 = 0;

export function readFloat(p: usize, end: usize): usize {
  const avail = end - p;
  if (avail >= 5 && load<u8>(p) == 0xca) {
    floatVal = <f64>reinterpret<f32>(be32(p + 1));
    return p + 5;
  }
  if (avail >= 9 && load<u8>(p) == 0xcb) {
    floatVal = reinterpret<f64>(be64(p + 1));
    return p + 9;
  }
  err = "msgpack: want float, got " + typeName(typeOf(p, end));
  return BAD;
}

// readStrBytes reads a str or bin value: its bytes start at strPtr and are
// strLen long. It returns the position after the value, or BAD.
export let strPtr: usize = 0;
export let strLen: i32 = 0;

export function readStrBytes(p: usize, end: usize): usize {
  if (header(p, end) == BAD) return BAD;
  if (hType != T_STRING && hType != T_BINARY) {
    err = "msgpack: want string, got " + typeName(hType);
    return BAD;
  }
  if (<u64>(end - p - <usize>hLen) < hN) return truncated();
  strPtr = p + <usize>hLen;
  strLen = <i32>hN;
  return strPtr + <usize>hN;
}
