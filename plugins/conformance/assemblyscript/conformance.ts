// The wstream conformance vocabulary (plugins/conformance/README.md) in AssemblyScript, with
// exactly the semantics — and the error messages — of the Go plugin in
// plugins/conformance, so that one vector file tests every language.
// Build it with `make` here; wrong types fail the record, never the batch.

import {
  plugin, map, flatMap, filter, reduce, update, mapState, fail, add, sub, typeName, Value, State,
} from "wstream-sdk";
export * from "wstream-sdk/exports";

plugin("conformance", "1.0.0");

map("identity", (x: Value): Value | null => x);
map("to-string", toString);
map("pair-with-one", (x: Value): Value | null => Value.pair(x, Value.int(1)));
map("pair-with-x", (x: Value): Value | null => Value.pair(x, Value.str("x")));
map("add-4", (x: Value): Value | null => add(x, Value.int(4)));
map("add-8", (x: Value): Value | null => add(x, Value.int(8)));
map("add-10", (x: Value): Value | null => add(x, Value.int(10)));
flatMap("x-and-double", xAndDouble);
flatMap("v-and-v-plus-10", vAndVPlus10);
filter("is-even", isEven);
flatMap("split-words", splitWords);
map("first", first);
map("int-seconds", intSeconds);

reduce("sum", add);
reduce("subtract", sub);
filter("value-nonzero", valueNonzero);

update("sum-into-state", sumIntoState);
update("add-batch-time-if-values", addBatchTimeIfValues);
update("count-expire-after-2-idle", countExpireAfter2Idle);

mapState("running-sum", (t: i64, k: Value, v: Value | null, st: State): Value | null => runningSum(v, st));
mapState("running-sum-emit-key-twice", (t: i64, k: Value, v: Value | null, st: State): Value | null => {
  if (runningSum(v, st) == null) return null;
  if (!k.isStr) {
    fail("running-sum-emit-key-twice wants a string key, got " + typeName(k));
    return null;
  }
  return Value.str(k.asString() + k.asString());
});
mapState("running-sum-emit-pair", (t: i64, k: Value, v: Value | null, st: State): Value | null => {
  const s = runningSum(v, st);
  return s == null ? null : Value.pair(k, s);
});
mapState("running-sum-emit-none", (t: i64, k: Value, v: Value | null, st: State): Value | null => {
  runningSum(v, st);
  return null;
});
mapState("remove-if-exists-emit-key", (t: i64, k: Value, v: Value | null, st: State): Value | null => {
  if (st.exists()) {
    st.remove();
    return k;
  }
  st.update(v != null ? v : Value.nil());
  return null;
});
mapState("set-one-emit-key-on-timeout", (t: i64, k: Value, v: Value | null, st: State): Value | null => {
  if (v != null) st.update(Value.int(1));
  return st.isTimingOut() ? k : null;
});
mapState("state-command", stateCommand);
mapState("inc-or-init-remove-on-2", (t: i64, k: Value, v: Value | null, st: State): Value | null => {
  if (v == null || !v.isInt) return null;
  if (v.asInt() == 1) incOrInit(st);
  else if (v.asInt() == 2) st.remove();
  return null;
});

map("key-by-first", (x: Value): Value | null => {
  if (!x.isArray || x.length != 2) {
    fail("key-by-first wants a pair [a, b]");
    return null;
  }
  return Value.pair(x.asArray()[0], x);
});
map("second-seconds", (x: Value): Value | null => {
  if (!x.isArray || x.length != 2) {
    fail("second-seconds wants a pair [a, seconds]");
    return null;
  }
  return intSeconds(x.asArray()[1]);
});

// runningSum is the running count of Spark's MapWithStateSuite: s' =
// (state or 0) + (value or 0) becomes the state. A timing-out call may not
// update, so it fails the key, as Spark's update throws there.
function runningSum(v: Value | null, st: State): Value | null {
  const prev = st.get();
  const s = add(prev != null ? prev : Value.int(0), v != null ? v : Value.int(0));
  if (s != null) st.update(s);
  return s;
}

// incOrInit increments the state, or sets it to 0 when there is none.
function incOrInit(st: State): void {
  const prev = st.get();
  if (prev == null) {
    st.update(Value.int(0));
    return;
  }
  const s = add(prev, Value.int(1));
  if (s != null) st.update(s);
}

// stateCommand is MapWithStateRDDSuite's testFunc: each value is a command
// on the key's state.
function stateCommand(t: i64, k: Value, v: Value | null, st: State): Value | null {
  if (v == null) return null; // timing out
  const c = v.isStr ? v.asString() : "";
  if (c == "noop") return null;
  if (c == "get-state") {
    const s = st.get();
    return s != null ? s : Value.int(-1);
  }
  if (c == "update-state") {
    incOrInit(st);
    return null;
  }
  if (c == "remove-state") {
    st.remove();
    return null;
  }
  fail("state-command: unknown command " + v.toText().asString() + " (want noop, get-state, update-state or remove-state)");
  return null;
}

// toString writes an int in decimal and a string as itself; anything else
// becomes Scala's toString of it (2.5, 1.0E10, (a,1), List(1, 2), null).
function toString(x: Value): Value | null {
  if (x.isStr) return x;
  if (x.isInt) return Value.str(x.asInt().toString());
  return x.toText();
}

function xAndDouble(x: Value): Value[] | null {
  const d = add(x, x);
  if (d == null) return null;
  return [x, d];
}

function vAndVPlus10(v: Value): Value[] | null {
  const w = add(v, Value.int(10));
  if (w == null) return null;
  return [v, w];
}

function isEven(x: Value): bool {
  if (!x.isInt) {
    fail("is-even wants an int, got " + typeName(x));
    return false;
  }
  return x.asInt() % 2 == 0;
}

// splitWords splits on every single space, like Go's strings.Split and
// Scala's split(" ") without its dropping of trailing empties: "a  b" has an
// empty word between the spaces. Trimming is the pipeline's business.
function splitWords(x: Value): Value[] | null {
  if (!x.isStr) {
    fail("split-words wants a string, got " + typeName(x));
    return null;
  }
  return x.split(" ");
}

function first(x: Value): Value | null {
  if (!x.isArray || x.length != 2) {
    fail("first wants a pair [a, b]");
    return null;
  }
  return x.asArray()[0];
}

function intSeconds(x: Value): Value | null {
  if (!x.isInt) {
    fail("int-seconds wants an int (seconds), got " + typeName(x));
    return null;
  }
  return Value.int(x.asInt() * 1000);
}

function valueNonzero(x: Value): bool {
  if (!x.isArray || x.length != 2) {
    fail("value-nonzero wants a pair [k, v]");
    return false;
  }
  const v = x.asArray()[1];
  if (!v.isNumber) {
    fail("value-nonzero wants a number value, got " + typeName(v));
    return false;
  }
  return v.asFloat() != 0;
}

// sum adds values, starting from int 0 so that an empty batch sums to 0.
function sum(values: Value[]): Value | null {
  let acc: Value | null = Value.int(0);
  for (let i = 0; i < values.length && acc != null; i++) acc = add(acc, values[i]);
  return acc;
}

function sumIntoState(key: Value, values: Value[], state: Value | null, timeMs: i64): Value | null {
  const s = sum(values);
  if (s == null) return null;
  return add(state != null ? state : Value.int(0), s);
}

function addBatchTimeIfValues(key: Value, values: Value[], state: Value | null, timeMs: i64): Value | null {
  const s = state != null ? state : Value.int(0);
  if (values.length == 0) return s;
  return add(s, Value.int(timeMs));
}

// countExpireAfter2Idle is Spark's "updateStateByKey - object lifecycle":
// the state [counter, idle] counts values and the batches in a row without
// any; the key is dropped on its second idle batch.
function countExpireAfter2Idle(key: Value, values: Value[], state: Value | null, timeMs: i64): Value | null {
  const st = state != null ? state : Value.array([Value.int(0), Value.int(0)]);
  if (!st.isArray || st.length != 2) {
    fail("count-expire-after-2-idle wants a state [counter, idle]");
    return null;
  }
  let counter: Value | null = st.asArray()[0];
  const idleV = st.asArray()[1];
  if (!idleV.isInt) {
    fail("count-expire-after-2-idle: idle must be an int, got " + typeName(idleV));
    return null;
  }
  let idle = idleV.asInt();
  const s = sum(values);
  if (s == null) return null;
  if (s.asFloat() == 0) {
    idle++;
  } else {
    counter = add(counter, s);
    if (counter == null) return null;
    idle = 0;
  }
  if (idle == 2) return null;
  return Value.array([counter, Value.int(idle)]);
}
