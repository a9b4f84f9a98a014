import { hostLog } from "./host";

// The abort handler (asc --use abort=...): an abort is a bug or out of
// memory, so it logs at error level and traps; the host then discards the
// instance. It writes into static memory because the heap may be the
// thing that failed.
const ABORT_CAP = 512;
const abortBuf = memory.data(ABORT_CAP);

export function wstreamAbort(message: string | null = null, file: string | null = null, line: u32 = 0, column: u32 = 0): void {
  let n = 0;
  n = put(n, "abort: ");
  if (message != null) n = put(n, message);
  if (file != null) {
    n = put(n, " at ");
    n = put(n, file);
    n = put(n, ":");
    n = putU32(n, line);
    n = put(n, ":");
    n = putU32(n, column);
  }
  hostLog(3, abortBuf, n);
  unreachable();
}

function putU32(n: i32, v: u32): i32 {
  let d = 1;
  for (let x = v; x >= 10; x /= 10) d++;
  if (n + d > ABORT_CAP) return n;
  for (let i = d - 1; i >= 0; i--) {
    store<u8>(abortBuf + <usize>(n + i), 0x30 + v % 10);
    v /= 10;
  }
  return n + d;
}

// put writes s as UTF-8 at abortBuf+n, as much as fits.
function put(n: i32, s: string): i32 {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const w = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (n + w > ABORT_CAP) break;
    const p = abortBuf + <usize>n;
    if (w == 1) store<u8>(p, c);
    else if (w == 2) {
      store<u8>(p, 0xc0 | (c >> 6));
      store<u8>(p + 1, 0x80 | (c & 0x3f));
    } else {
      store<u8>(p, 0xe0 | (c >> 12));
      store<u8>(p + 1, 0x80 | ((c >> 6) & 0x3f));
      store<u8>(p + 2, 0x80 | (c & 0x3f));
    }
    n += w;
  }
  return n;
}
