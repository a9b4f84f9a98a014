// wstream guest SDK for AssemblyScript (ABI v1, abi/ABI.md).
//
// Register plain functions from top-level code, and re-export the ABI
// exports from the plugin's entry file:
//
//   import { plugin, map, Value } from "wstream-sdk";
//   export * from "wstream-sdk/exports";
//
//   plugin("mine", "1.0.0");
//   map("pair-with-one", (x: Value): Value => Value.pair(x, Value.int(1)));

export { Value, Kind, typeName } from "./value";
export {
  plugin, defaultPipeline, map, flatMap, filter, reduce, update, mapState, fail,
  MapFn, FlatMapFn, FilterFn, ReduceFn, UpdateFn, MapStateFn, State,
} from "./dispatch";
export { add, sub } from "./arith";
export { log, Level } from "./host";
