// The ABI v1 exports (ABI.md §2). A plugin's entry file re-exports them:
//
//   export * from "wstream-sdk/exports";

import { handle, writeManifest } from "./dispatch";
import { Buf } from "./buf";
// Imported so that asc --use abort=~lib/wstream-sdk/abort/wstreamAbort
// finds it; not re-exported, so it is no wasm export.
import { wstreamAbort } from "./abort";

// The wstream_alloc buffer lives outside the GC heap (heap.alloc), so the
// collector can neither free nor move it while the host holds its address.
let inPtr: usize = 0;
let inCap: i32 = 0;
let manifest = new Buf(256);

export function wstream_abi_version(): i32 {
  return 1;
}

// wstream_alloc keeps its buffer while it is big enough; growing doubles it
// so that slowly growing batches do not allocate on every call.
export function wstream_alloc(size: i32): i32 {
  if (size < 0 || size > 0x7fff0000) return 0;
  if (size > inCap || inPtr == 0) {
    const c = max(max(size, inCap << 1), 64);
    if (inPtr != 0) heap.free(inPtr);
    inPtr = heap.alloc(<usize>c);
    inCap = c;
  }
  return <i32>inPtr;
}

export function wstream_manifest(): i64 {
  manifest.len = 0;
  writeManifest(manifest);
  return pack(manifest);
}

export function wstream_call(fn: i32, ptr: i32, len: i32): i64 {
  // The input must lie inside the alloc buffer: a confused host must not
  // make the guest read memory it does not own.
  const p = <u32>ptr;
  const n = <u32>len;
  let out: Buf;
  if (p < <u32>inPtr || <u64>(p - <u32>inPtr) + <u64>n > <u64>inCap) {
    if (n != 0) {
      out = handleOutside();
    } else out = handle(fn, inPtr, 0);
  } else out = handle(fn, <usize>p, <i32>n);
  // The minimal runtime never collects on its own; between calls nothing
  // but globals (the registry, caches, the response) is alive.
  __collect();
  return pack(out);
}

let outside = new Buf(64);

function handleOutside(): Buf {
  outside.len = 0;
  outside.byte(0x93);
  outside.int(1);
  outside.str("input is not inside the wstream_alloc buffer");
  outside.byte(0x90);
  return outside;
}

function pack(b: Buf): i64 {
  return <i64>((<u64>b.ptr << 32) | <u64>b.len);
}
