// probe exercises the SDK API for sdk_test.go: values, log, fail, abort.

import { plugin, map, flatMap, filter, update, fail, log, Level, Value } from "wstream-sdk";
export * from "wstream-sdk/exports";

plugin("probe", "0.0.1");

map("log-echo", (x: Value): Value | null => {
  log(Level.Info, "got " + x.asString());
  return x;
});
map("abort", (x: Value): Value | null => {
  throw new Error("boom " + x.asString());
});
map("null", (x: Value): Value | null => null);
map("utf8", (x: Value): Value | null => Value.str(x.asString() + "!"));
map("bytes", (x: Value): Value | null => Value.bin(x.asBytes()));
map("map", (x: Value): Value | null => {
  const m = Value.map(["b", "a", "b"], [Value.int(1), Value.int(2), Value.int(3)]);
  const b = m.get("b");
  return Value.array([m, b != null ? b : Value.nil(), Value.str(m.keys().join(",")), Value.int(m.length)]);
});
map("get", (x: Value): Value | null => {
  const v = x.get("k");
  return v != null ? v : Value.str("none");
});
map("kinds", (x: Value): Value | null =>
  Value.array([
    Value.bool(x.isNil), Value.bool(x.isBool), Value.bool(x.isInt), Value.bool(x.isFloat),
    Value.bool(x.isNumber), Value.bool(x.isStr), Value.bool(x.isBin), Value.bool(x.isArray),
    Value.bool(x.isMap), Value.int(x.length), Value.float(x.asFloat()), Value.uint(x.asUint()),
  ]),
);
flatMap("split-comma", (x: Value): Value[] | null => x.split(", "));
filter("fail-twice", (x: Value): bool => {
  fail("first");
  fail("second");
  return true;
});
update("keep-nil", (key: Value, values: Value[], state: Value | null, timeMs: i64): Value | null =>
  values.length == 0 ? null : Value.nil(),
);
