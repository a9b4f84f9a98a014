// + and - for numbers as Spark users expect them, and as the Go SDK's Add
// and Sub do them: int + int stays an int (wrapping, like the JVM), either
// side a float makes a float. Anything else fails the current record with
// the Go SDK's message and returns null.

import { Value, Kind, describe } from "./value";
import { failBytes } from "./dispatch";

// add returns a + b, or null (and fails the record) if either is not a number.
export function add(a: Value, b: Value): Value | null {
  return arith(0x2b, a, b);
}

// sub returns a - b with the typing of add, for inverse reducers.
export function sub(a: Value, b: Value): Value | null {
  return arith(0x2d, a, b);
}

function arith(op: i32, a: Value, b: Value): Value | null {
  if (a.kind == Kind.Int && b.kind == Kind.Int) {
    return Value.int(op == 0x2d ? a.asInt() - b.asInt() : a.asInt() + b.asInt());
  }
  if (!a.isNumber || !b.isNumber) {
    failBytes("cannot compute " + describe(a) + " " + String.fromCharCode(op) + " " + describe(b) + ": want numbers");
    return null;
  }
  const f = a.asFloat();
  const g = b.asFloat();
  return Value.float(op == 0x2d ? f - g : f + g);
}
