// The one host function of ABI v1 (ABI.md §3).

// @ts-ignore: decorator
@external("wstream_v1", "log")
export declare function hostLog(level: i32, ptr: usize, len: i32): void;

// Log levels.
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

// log writes a line to the host's log, shown with the plugin's name.
export function log(level: Level, message: string): void {
  const b = String.UTF8.encode(message);
  hostLog(level, changetype<usize>(b), b.byteLength);
}
