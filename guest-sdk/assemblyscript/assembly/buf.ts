// Buf is a growable byte buffer in one managed ArrayBuffer: the msgpack
// writer, and the builder of texts (JSON, Scala and Go renderings). The GC
// keeps the bytes alive through whoever holds the Buf, and TLSF never moves
// a block, so a pointer into it stays valid until the buffer grows.
export class Buf {
  data: ArrayBuffer;
  len: i32 = 0;

  constructor(cap: i32 = 64) {
    // __new, unlike new ArrayBuffer, does not zero bytes we overwrite anyway.
    this.data = changetype<ArrayBuffer>(__new(<usize>cap, idof<ArrayBuffer>()));
  }

  @inline get ptr(): usize {
    return changetype<usize>(this.data);
  }

  // reserve makes room for n more bytes and returns where they go.
  reserve(n: i32): usize {
    const need = this.len + n;
    const cap = this.data.byteLength;
    if (need > cap) {
      let c = cap << 1;
      if (c < need) c = need;
      this.data = changetype<ArrayBuffer>(__renew(changetype<usize>(this.data), <usize>c));
    }
    return changetype<usize>(this.data) + <usize>this.len;
  }

  byte(b: i32): void {
    store<u8>(this.reserve(1), <u8>b);
    this.len++;
  }

  bytes(src: usize, n: i32): void {
    memory.copy(this.reserve(n), src, <usize>n);
    this.len += n;
  }

  // ascii appends a string whose code units are all bytes: an ASCII literal
  // or a byte string (see bstr).
  ascii(s: string): void {
    const n = s.length;
    const p = this.reserve(n);
    const src = changetype<usize>(s);
    for (let i = 0; i < n; i++) store<u8>(p + <usize>i, <u8>load<u16>(src + (<usize>i << 1)));
    this.len += n;
  }

  // utf8 appends the UTF-8 encoding of s (lone surrogates as WTF-8).
  utf8(s: string): void {
    const n = String.UTF8.byteLength(s);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.reserve(n));
    this.len += n;
  }

  dec(v: i64): void {
    if (v < 0) {
      this.byte(0x2d);
      this.udec(<u64>0 - <u64>v); // also right for i64.MIN_VALUE
    } else {
      this.udec(<u64>v);
    }
  }

  udec(v: u64): void {
    let n = 1;
    for (let x = v; x >= 10; x /= 10) n++;
    const p = this.reserve(n);
    for (let i = n - 1; i >= 0; i--) {
      store<u8>(p + <usize>i, <u8>(0x30 + <i32>(v % 10)));
      v /= 10;
    }
    this.len += n;
  }

  // ---- msgpack writer: canonical forms, as the host writes them ----

  nil(): void {
    this.byte(0xc0);
  }

  bool(b: bool): void {
    this.byte(b ? 0xc3 : 0xc2);
  }

  // int writes v in canonical form (ABI.md §5): a non-negative value as
  // positive fixint or the shortest uint8..64, a negative one as negative
  // fixint or the shortest int8..64, so that keys compare equal as bytes.
  int(v: i64): void {
    if (v >= 0) this.uint(<u64>v);
    else if (v >= -32) this.byte(<i32>v);
    else if (v >= -128) {
      this.byte(0xd0);
      this.byte(<i32>v);
    } else if (v >= -32768) this.be16(0xd1, <u16>v);
    else if (v >= -2147483648) this.be32(0xd2, <u32>v);
    else this.be64(0xd3, <u64>v);
  }

  uint(v: u64): void {
    if (v <= 0x7f) this.byte(<i32>v);
    else if (v <= 0xff) {
      this.byte(0xcc);
      this.byte(<i32>v);
    } else if (v <= 0xffff) this.be16(0xcd, <u16>v);
    else if (v <= 0xffffffff) this.be32(0xce, <u32>v);
    else this.be64(0xcf, v);
  }

  // float always writes float64 (0xcb) so that a float stays a float.
  float(f: f64): void {
    this.be64(0xcb, reinterpret<u64>(f));
  }

  strHeader(n: i32): void {
    if (n <= 31) this.byte(0xa0 | n);
    else if (n <= 0xff) {
      this.byte(0xd9);
      this.byte(n);
    } else if (n <= 0xffff) this.be16(0xda, <u16>n);
    else this.be32(0xdb, <u32>n);
  }

  binHeader(n: i32): void {
    if (n <= 0xff) {
      this.byte(0xc4);
      this.byte(n);
    } else if (n <= 0xffff) this.be16(0xc5, <u16>n);
    else this.be32(0xc6, <u32>n);
  }

  arrayHeader(n: i32): void {
    if (n <= 15) this.byte(0x90 | n);
    else if (n <= 0xffff) this.be16(0xdc, <u16>n);
    else this.be32(0xdd, <u32>n);
  }

  mapHeader(n: i32): void {
    if (n <= 15) this.byte(0x80 | n);
    else if (n <= 0xffff) this.be16(0xde, <u16>n);
    else this.be32(0xdf, <u32>n);
  }

  // str writes s as a msgpack str in UTF-8.
  str(s: string): void {
    this.strHeader(String.UTF8.byteLength(s));
    this.utf8(s);
  }

  // bstr writes a byte string (see bstr in text.ts) as a msgpack str.
  bstr(s: string): void {
    this.strHeader(s.length);
    this.ascii(s);
  }

  private be16(tag: i32, v: u16): void {
    const p = this.reserve(3);
    store<u8>(p, <u8>tag);
    store<u16>(p + 1, bswap<u16>(v));
    this.len += 3;
  }

  private be32(tag: i32, v: u32): void {
    const p = this.reserve(5);
    store<u8>(p, <u8>tag);
    store<u32>(p + 1, bswap<u32>(v));
    this.len += 5;
  }

  private be64(tag: i32, v: u64): void {
    const p = this.reserve(9);
    store<u8>(p, <u8>tag);
    store<u64>(p + 1, bswap<u64>(v));
    this.len += 9;
  }
}
