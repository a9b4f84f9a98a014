// Float to text exactly as Go's strconv writes it, so that the texts a guest
// makes (to-string, error messages) are the bytes the Go SDK makes.
// AssemblyScript's own dtoa is Grisu2, which is not always the shortest
// round trip; this is Burger & Dybvig's free-format algorithm on small
// bignums: the shortest digits that read back to the same float, the
// closest of those, ties to even (what Go's Dragonbox gives). It is not on
// any hot path.

import { Buf } from "./buf";

const LIMBS = 40; // 1280 bits: enough for 2^1077 * 10^(17+) and the like

class Big {
  d: StaticArray<u32> = new StaticArray<u32>(LIMBS);
  n: i32 = 0; // limbs in use; d[n-1] != 0 unless n == 0

  // Limbs at n and above are always 0, so loops stop at n.
  set(v: u64): Big {
    for (let i = 0; i < this.n; i++) unchecked((this.d[i] = 0));
    unchecked((this.d[0] = <u32>v));
    unchecked((this.d[1] = <u32>(v >> 32)));
    this.n = 2;
    this.trim();
    return this;
  }

  copy(b: Big): Big {
    const n = max(this.n, b.n);
    for (let i = 0; i < n; i++) unchecked((this.d[i] = b.d[i]));
    this.n = b.n;
    return this;
  }

  trim(): void {
    while (this.n > 0 && unchecked(this.d[this.n - 1]) == 0) this.n--;
  }

  shl(k: i32): Big {
    const w = k >> 5;
    const b = k & 31;
    for (let i = this.n + w; i >= 0; i--) {
      let v: u64 = 0;
      const j = i - w;
      if (j >= 0 && j < LIMBS) v = <u64>unchecked(this.d[j]) << b;
      if (j - 1 >= 0 && j - 1 < LIMBS && b != 0) v |= <u64>unchecked(this.d[j - 1]) >> (32 - b);
      if (i < LIMBS) unchecked((this.d[i] = <u32>v));
    }
    this.n = min(this.n + w + 1, LIMBS);
    this.trim();
    return this;
  }

  mul(m: u32): Big {
    let carry: u64 = 0;
    for (let i = 0; i < this.n; i++) {
      const v = <u64>unchecked(this.d[i]) * m + carry;
      unchecked((this.d[i] = <u32>v));
      carry = v >> 32;
    }
    if (carry != 0) {
      unchecked((this.d[this.n] = <u32>carry));
      this.n++;
    }
    return this;
  }

  add(b: Big): Big {
    let carry: u64 = 0;
    const n = max(this.n, b.n);
    for (let i = 0; i < n; i++) {
      const v = <u64>unchecked(this.d[i]) + unchecked(b.d[i]) + carry;
      unchecked((this.d[i] = <u32>v));
      carry = v >> 32;
    }
    this.n = n;
    if (carry != 0) {
      unchecked((this.d[n] = <u32>carry));
      this.n++;
    }
    return this;
  }

  // sub sets this to this - b; this >= b.
  sub(b: Big): Big {
    let borrow: i64 = 0;
    for (let i = 0; i < this.n; i++) {
      let v = <i64>unchecked(this.d[i]) - unchecked(b.d[i]) - borrow;
      borrow = 0;
      if (v < 0) {
        v += <i64>1 << 32;
        borrow = 1;
      }
      unchecked((this.d[i] = <u32>v));
    }
    this.trim();
    return this;
  }

  // mulSub sets this to this - b*q; the result is not negative.
  mulSub(b: Big, q: u32): Big {
    let carry: u64 = 0;
    let borrow: i64 = 0;
    for (let i = 0; i < this.n; i++) {
      const p = <u64>unchecked(b.d[i]) * q + carry;
      carry = p >> 32;
      let v = <i64>unchecked(this.d[i]) - <i64>(p & 0xffffffff) - borrow;
      borrow = 0;
      if (v < 0) {
        v += <i64>1 << 32;
        borrow = 1;
      }
      unchecked((this.d[i] = <u32>v));
    }
    this.trim();
    return this;
  }

  // top is the value of limbs hi down to lo, as a float (for estimates).
  top(hi: i32, lo: i32): f64 {
    let v: f64 = 0;
    for (let j = hi; j >= lo; j--) v = v * 4294967296.0 + <f64>unchecked(this.d[j]);
    return v;
  }

  cmp(b: Big): i32 {
    if (this.n != b.n) return this.n < b.n ? -1 : 1;
    for (let i = this.n - 1; i >= 0; i--) {
      const x = unchecked(this.d[i]);
      const y = unchecked(b.d[i]);
      if (x != y) return x < y ? -1 : 1;
    }
    return 0;
  }
}

const r = new Big();
const s = new Big();
const mp = new Big();
const mm = new Big();
const t = new Big();

// The digits of the last shortest() call: value = 0.d[0..nd) * 10^dp.
const digs = new StaticArray<u8>(20);
let nd = 0;
let dp = 0;

const POW10: StaticArray<u32> = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

// mulPow10 multiplies b by 10^k, nine digits at a time.
function mulPow10(b: Big, k: i32): void {
  for (; k >= 9; k -= 9) b.mul(1000000000);
  if (k > 0) b.mul(unchecked(POW10[k]));
}

// cmpSum compares a + b with c.
function cmpSum(a: Big, b: Big, c: Big): i32 {
  return t.copy(a).add(b).cmp(c);
}

// shortest fills digs, nd and dp for |f|, which is finite and not zero.
function shortest(f: f64): void {
  const bits = reinterpret<u64>(f) & 0x7fffffffffffffff;
  const be = <i32>(bits >> 52);
  let m = bits & 0xfffffffffffff;
  let e: i32;
  if (be == 0) {
    e = -1074;
  } else {
    m |= <u64>1 << 52;
    e = be - 1075;
  }
  // An integer below 2^53 has gaps of at most 1: its own digits are the
  // shortest that read back.
  if (e <= 0 && e > -53 && (m & ((<u64>1 << <u64>(-e)) - 1)) == 0) {
    intDigits(m >> <u64>(-e));
    return;
  }
  // Round-to-even parsing: an even mantissa may also land on a boundary.
  const even = (m & 1) == 0;
  // Above a power of two the gap below is half the gap above.
  const asym = m == <u64>1 << 52 && be > 1;
  if (e >= 0) {
    if (!asym) {
      r.set(m).shl(e + 1);
      s.set(2);
      mp.set(1).shl(e);
      mm.set(1).shl(e);
    } else {
      r.set(m).shl(e + 2);
      s.set(4);
      mp.set(1).shl(e + 1);
      mm.set(1).shl(e);
    }
  } else {
    if (!asym) {
      r.set(m).shl(1);
      s.set(1).shl(1 - e);
      mp.set(1);
      mm.set(1);
    } else {
      r.set(m).shl(2);
      s.set(1).shl(2 - e);
      mp.set(2);
      mm.set(1);
    }
  }
  // k estimates ceil(log10(f)); it is right or one too small.
  let k = <i32>Math.ceil((<f64>(e + 63 - <i32>clz(m))) * 0.30102999566398114 - 1e-10);
  // Below and above the gaps are equal unless asym: then mm is mp.
  const lowGap = asym ? mm : mp;
  if (k >= 0) mulPow10(s, k);
  else {
    mulPow10(r, -k);
    mulPow10(mp, -k);
    if (asym) mulPow10(mm, -k);
  }
  for (;;) {
    const c = cmpSum(r, mp, s);
    if (c > 0 || (c == 0 && even)) {
      s.mul(10);
      k++;
    } else break;
  }
  dp = k;
  nd = 0;
  for (;;) {
    r.mul(10);
    mp.mul(10);
    if (asym) mm.mul(10);
    // d = r / s (< 10): estimate from the top limbs, a little low, then fix.
    const top = s.n - 1;
    const lo = max(top - 2, 0);
    let d = <i32>((r.top(top + 1, lo) / s.top(top, lo)) * 0.999999);
    if (d < 0) d = 0;
    if (d > 0) r.mulSub(s, <u32>d);
    while (r.cmp(s) >= 0) {
      r.sub(s);
      d++;
    }
    const low = even ? r.cmp(lowGap) <= 0 : r.cmp(lowGap) < 0;
    const c = cmpSum(r, mp, s);
    const high = even ? c >= 0 : c > 0;
    if (!low && !high) {
      unchecked((digs[nd++] = <u8>d));
      continue;
    }
    if (high && (!low || closerUp(d))) d++;
    unchecked((digs[nd++] = <u8>d));
    break;
  }
  // A last digit of 10 carries (it cannot in theory; cheap to be safe).
  let i = nd - 1;
  while (i > 0 && unchecked(digs[i]) == 10) {
    unchecked((digs[i] = 0));
    unchecked((digs[i - 1] += 1));
    i--;
  }
  if (unchecked(digs[0]) == 10) {
    unchecked((digs[0] = 1));
    dp++;
  }
  while (nd > 1 && unchecked(digs[nd - 1]) == 0) nd--;
}

// intDigits fills digs, nd and dp with the decimal digits of v > 0.
function intDigits(v: u64): void {
  let n = 0;
  for (let x = v; x != 0; x /= 10) n++;
  dp = n;
  for (let i = n - 1; i >= 0; i--) {
    unchecked((digs[i] = <u8>(v % 10)));
    v /= 10;
  }
  nd = n;
  while (nd > 1 && unchecked(digs[nd - 1]) == 0) nd--;
}

// closerUp decides between d and d+1 when both round-trip: the closer one,
// ties to the even digit. r/s is the remainder fraction.
function closerUp(d: i32): bool {
  const c = cmpSum(r, r, s);
  return c > 0 || (c == 0 && (d & 1) == 1);
}

function digits(f: f64): void {
  if (f == 0) {
    nd = 0;
    dp = 0;
  } else shortest(f);
}

// fmtE writes d.ddd e±XX with prec digits after the point.
function fmtE(b: Buf, prec: i32, e: i32): void {
  b.byte(nd == 0 ? 0x30 : 0x30 + unchecked(digs[0]));
  if (prec > 0) {
    b.byte(0x2e);
    let i = 1;
    const m = min(nd, prec + 1);
    for (; i < m; i++) b.byte(0x30 + unchecked(digs[i]));
    for (; i <= prec; i++) b.byte(0x30);
  }
  b.byte(e);
  let x = nd == 0 ? 0 : dp - 1;
  if (x < 0) {
    b.byte(0x2d);
    x = -x;
  } else b.byte(0x2b);
  if (x < 10) b.byte(0x30);
  b.dec(x);
}

// fmtF writes ddd.ddd with prec digits after the point.
function fmtF(b: Buf, prec: i32): void {
  if (dp > 0) {
    const m = min(nd, dp);
    let i = 0;
    for (; i < m; i++) b.byte(0x30 + unchecked(digs[i]));
    for (; i < dp; i++) b.byte(0x30);
  } else b.byte(0x30);
  if (prec > 0) {
    b.byte(0x2e);
    for (let i = 0; i < prec; i++) {
      const j = dp + i;
      b.byte(j >= 0 && j < nd ? 0x30 + unchecked(digs[j]) : 0x30);
    }
  }
}

// appendG is strconv.AppendFloat(f, 'g', -1, 64), which is also fmt's %v
// (NaN, +Inf, -Inf).
export function appendG(b: Buf, f: f64): void {
  if (isNaN(f)) return b.ascii("NaN");
  if (!isFinite(f)) return b.ascii(f > 0 ? "+Inf" : "-Inf");
  if (reinterpret<i64>(f) < 0) b.byte(0x2d);
  digits(f);
  // Shortest %g switches to %e for exponents < -4 or >= 6 (eprec = 6).
  const x = dp - 1;
  if (x < -4 || x >= 6) fmtE(b, nd - 1, 0x65);
  else fmtF(b, max(nd - dp, 0));
}

// appendJSONFloat writes f so that it reads back as a float: 2.0, not 2
// (abi.AppendJSONFloat).
export function appendJSONFloat(b: Buf, f: f64): void {
  if (isNaN(f)) return b.ascii('"NaN"');
  if (!isFinite(f)) return b.ascii(f > 0 ? '"Infinity"' : '"-Infinity"');
  const start = b.len;
  appendG(b, f);
  for (let i = start; i < b.len; i++) {
    const c = load<u8>(b.ptr + <usize>i);
    if (c == 0x2e || c == 0x65 || c == 0x45) return;
  }
  b.ascii(".0");
}

// appendJavaDouble writes f as Java's Double.toString (plain decimal with a
// fraction for 1e-3 <= |f| < 1e7, else 1.0E10 style), as abi.AppendText does.
export function appendJavaDouble(b: Buf, f: f64): void {
  if (isNaN(f)) return b.ascii("NaN");
  if (!isFinite(f)) return b.ascii(f > 0 ? "Infinity" : "-Infinity");
  if (reinterpret<i64>(f) < 0) b.byte(0x2d);
  digits(f);
  const a = Math.abs(f);
  if (a == 0 || (a >= 1e-3 && a < 1e7)) {
    fmtF(b, max(nd - dp, 0));
    if (nd - dp <= 0) b.ascii(".0");
    return;
  }
  b.byte(0x30 + unchecked(digs[0]));
  b.byte(0x2e);
  if (nd == 1) b.byte(0x30);
  for (let i = 1; i < nd; i++) b.byte(0x30 + unchecked(digs[i]));
  b.byte(0x45);
  b.dec(dp - 1);
}
