/* The wstream conformance vocabulary (plugins/conformance/README.md) in C, with exactly the
 * semantics and messages of the Go plugin (plugins/conformance), so that one
 * vector file tests every SDK. Type errors are record errors, never traps. */
#include <stdlib.h>
#include <string.h>

#include "wstream.h"

static ws_result identity(ws_value x) { return ws_ok(x); }

/* An int is decimal and a string itself; anything else is Scala's toString
 * of it (2.5, 1.0E10, (a,1), List(1, 2), null), as Spark's map(_.toString)
 * and the host's pprint show it. */
static ws_result to_string(ws_value x) {
    return ws_ok(x.type == WS_STR ? x : ws_text(x));
}

static ws_result pair_with_one(ws_value x) { return ws_ok(ws_pair(x, ws_int(1))); }
static ws_result pair_with_x(ws_value x) { return ws_ok(ws_pair(x, ws_str("x"))); }
static ws_result add_4(ws_value x) { return ws_add(x, ws_int(4)); }
static ws_result add_8(ws_value x) { return ws_add(x, ws_int(8)); }
static ws_result add_10(ws_value x) { return ws_add(x, ws_int(10)); }

static ws_value two(ws_value a, ws_value b) {
    ws_value v = ws_array(2);
    v.a.items[0] = a;
    v.a.items[1] = b;
    return v;
}

static ws_result x_and_double(ws_value x) {
    ws_result d = ws_add(x, x);
    if (d.error) return d;
    return ws_ok(two(x, d.value));
}

static ws_result v_and_v_plus_10(ws_value v) {
    ws_result w = ws_add(v, ws_int(10));
    if (w.error) return w;
    return ws_ok(two(v, w.value));
}

static ws_result is_even(ws_value x) {
    int64_t i;
    if (!ws_get_int(x, &i)) return ws_err("is-even wants an int, got %s", ws_type_name(x));
    return ws_ok(ws_bool(i % 2 == 0));
}

/* Split on every single space, like Go's strings.Split: "a  b" has an
 * empty word between the spaces. Trimming is the pipeline's business. */
static ws_result split_words(ws_value x) {
    if (x.type != WS_STR) return ws_err("split-words wants a string, got %s", ws_type_name(x));
    size_t n = 1;
    for (size_t i = 0; i < x.s.len; i++) n += x.s.ptr[i] == ' ';
    ws_value words = ws_array(n);
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= x.s.len; i++) {
        if (i == x.s.len || x.s.ptr[i] == ' ') {
            words.a.items[k++] = ws_strn(x.s.ptr + start, i - start);
            start = i + 1;
        }
    }
    return ws_ok(words);
}

static ws_result first(ws_value x) {
    if (x.type != WS_ARRAY || x.a.len != 2) return ws_err("first wants a pair [a, b]");
    return ws_ok(x.a.items[0]);
}

static ws_result int_seconds(ws_value x) {
    int64_t s;
    if (!ws_get_int(x, &s)) return ws_err("int-seconds wants an int (seconds), got %s", ws_type_name(x));
    return ws_ok(ws_int((int64_t)((uint64_t)s * 1000)));
}

static ws_result value_nonzero(ws_value x) {
    if (x.type != WS_ARRAY || x.a.len != 2) return ws_err("value-nonzero wants a pair [k, v]");
    double v;
    if (!ws_get_float(x.a.items[1], &v))
        return ws_err("value-nonzero wants a number value, got %s", ws_type_name(x.a.items[1]));
    return ws_ok(ws_bool(v != 0));
}

/* sum adds values, starting from int 0 so that no values sum to 0. */
static ws_result sum(ws_value values) {
    ws_result acc = ws_ok(ws_int(0));
    for (size_t i = 0; i < values.a.len && !acc.error; i++) acc = ws_add(acc.value, values.a.items[i]);
    return acc;
}

static ws_result sum_into_state(ws_value key, ws_value values, ws_value state, int64_t t) {
    (void)key, (void)t;
    ws_result s = sum(values);
    if (!s.error) s = ws_add(ws_or(state, ws_int(0)), s.value);
    if (s.error) return s;
    return ws_ok(ws_some(s.value));
}

static ws_result add_batch_time_if_values(ws_value key, ws_value values, ws_value state, int64_t t) {
    (void)key;
    ws_value s = ws_or(state, ws_int(0));
    if (values.a.len == 0) return ws_ok(ws_some(s));
    ws_result r = ws_add(s, ws_int(t));
    if (r.error) return r;
    return ws_ok(ws_some(r.value));
}

/* Spark's "updateStateByKey - object lifecycle": the state [counter, idle]
 * counts values and the batches in a row without any; the key is dropped on
 * its second idle batch. */
static ws_result count_expire_after_2_idle(ws_value key, ws_value values, ws_value state, int64_t t) {
    (void)key, (void)t;
    ws_value st = ws_or(state, ws_pair(ws_int(0), ws_int(0)));
    if (st.type != WS_ARRAY || st.a.len != 2) return ws_err("count-expire-after-2-idle wants a state [counter, idle]");
    ws_value counter = st.a.items[0];
    int64_t idle;
    if (!ws_get_int(st.a.items[1], &idle))
        return ws_err("count-expire-after-2-idle: idle must be an int, got %s", ws_type_name(st.a.items[1]));
    ws_result s = sum(values);
    if (s.error) return s;
    double f = 0;
    ws_get_float(s.value, &f);
    if (f == 0) {
        idle++;
    } else {
        ws_result c = ws_add(counter, s.value);
        if (c.error) return c;
        counter = c.value;
        idle = 0;
    }
    if (idle == 2) return ws_ok(ws_none());
    return ws_ok(ws_some(ws_pair(counter, ws_int(idle))));
}

/* The running count of Spark's MapWithStateSuite: s' = (state or 0) +
 * (value or 0) becomes the state. A timing-out call may not update, so it
 * fails the key, as Spark's update throws there. */
static ws_result running_sum_(ws_value value, ws_state *st) {
    ws_result s = ws_add(ws_or(ws_state_get(st), ws_int(0)), ws_or(value, ws_int(0)));
    if (!s.error) ws_state_update(st, s.value);
    return s;
}

static ws_result running_sum(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t, (void)k;
    ws_result s = running_sum_(v, st);
    if (s.error) return s;
    return ws_ok(ws_some(s.value));
}

static ws_result running_sum_emit_key_twice(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t;
    ws_result s = running_sum_(v, st);
    if (s.error) return s;
    if (k.type != WS_STR) return ws_err("running-sum-emit-key-twice wants a string key, got %s", ws_type_name(k));
    char *kk = ws_alloc(2 * k.s.len + 1);
    memcpy(kk, k.s.ptr, k.s.len);
    memcpy(kk + k.s.len, k.s.ptr, k.s.len);
    return ws_ok(ws_some(ws_strn(kk, 2 * k.s.len)));
}

static ws_result running_sum_emit_pair(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t;
    ws_result s = running_sum_(v, st);
    if (s.error) return s;
    return ws_ok(ws_some(ws_pair(k, s.value)));
}

static ws_result running_sum_emit_none(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t, (void)k;
    ws_result s = running_sum_(v, st);
    if (s.error) return s;
    return ws_ok(ws_none());
}

/* MapWithStateSuite's "state removing". */
static ws_result remove_if_exists_emit_key(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t;
    if (ws_state_exists(st)) {
        ws_state_remove(st);
        return ws_ok(ws_some(k));
    }
    ws_state_update(st, ws_or(v, ws_nil()));
    return ws_ok(ws_none());
}

/* MapWithStateSuite's "state timing out". */
static ws_result set_one_emit_key_on_timeout(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t;
    if (v.a.len == 1) ws_state_update(st, ws_int(1));
    return ws_ok(ws_state_timing_out(st) ? ws_some(k) : ws_none());
}

static bool str_is(ws_value v, const char *s) {
    return v.type == WS_STR && v.s.len == strlen(s) && !memcmp(v.s.ptr, s, v.s.len);
}

/* increment the state, or set it to 0 when there is none */
static ws_result inc_or_init(ws_state *st) {
    if (!ws_state_exists(st)) {
        ws_state_update(st, ws_int(0));
        return ws_ok(ws_none());
    }
    ws_result s = ws_add(ws_or(ws_state_get(st), ws_nil()), ws_int(1));
    if (s.error) return s;
    ws_state_update(st, s.value);
    return ws_ok(ws_none());
}

/* MapWithStateRDDSuite's testFunc: each value is a command on the state. */
static ws_result state_command(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t, (void)k;
    if (v.a.len == 0) return ws_ok(ws_none()); /* timing out */
    ws_value c = v.a.items[0];
    if (str_is(c, "noop")) return ws_ok(ws_none());
    if (str_is(c, "get-state")) return ws_ok(ws_some(ws_or(ws_state_get(st), ws_int(-1))));
    if (str_is(c, "update-state")) return inc_or_init(st);
    if (str_is(c, "remove-state")) {
        ws_state_remove(st);
        return ws_ok(ws_none());
    }
    ws_value txt = ws_text(c);
    return ws_err("state-command: unknown command %.*s (want noop, get-state, update-state or remove-state)", (int)txt.s.len, txt.s.ptr);
}

/* MapWithStateRDDSuite's "states generated by MapWithStateRDD": 1
 * increments the state or sets it to 0, 2 removes it. */
static ws_result inc_or_init_remove_on_2(int64_t t, ws_value k, ws_value v, ws_state *st) {
    (void)t, (void)k;
    int64_t n;
    if (v.a.len == 0 || !ws_get_int(v.a.items[0], &n)) return ws_ok(ws_none());
    if (n == 1) return inc_or_init(st);
    if (n == 2) ws_state_remove(st);
    return ws_ok(ws_none());
}

/* [a, b] -> [a, [a, b]]: a stream-stream join's v stays the row
 * withWatermark read. */
static ws_result key_by_first(ws_value x) {
    if (x.type != WS_ARRAY || x.a.len != 2) return ws_err("key-by-first wants a pair [a, b]");
    return ws_ok(ws_pair(x.a.items[0], x));
}

/* the event time of a row [key, seconds], in ms */
static ws_result second_seconds(ws_value x) {
    if (x.type != WS_ARRAY || x.a.len != 2) return ws_err("second-seconds wants a pair [a, seconds]");
    return int_seconds(x.a.items[1]);
}

WS_INIT {
    ws_plugin("conformance", "1.0.0");

    ws_register_map("identity", identity);
    ws_register_map("to-string", to_string);
    ws_register_map("pair-with-one", pair_with_one);
    ws_register_map("pair-with-x", pair_with_x);
    ws_register_map("add-4", add_4);
    ws_register_map("add-8", add_8);
    ws_register_map("add-10", add_10);
    ws_register_flat_map("x-and-double", x_and_double);
    ws_register_flat_map("v-and-v-plus-10", v_and_v_plus_10);
    ws_register_filter("is-even", is_even);
    ws_register_flat_map("split-words", split_words);
    ws_register_map("first", first);
    ws_register_map("int-seconds", int_seconds);

    ws_register_reduce("sum", ws_add);
    ws_register_reduce("subtract", ws_sub);
    ws_register_filter("value-nonzero", value_nonzero);

    ws_register_update("sum-into-state", sum_into_state);
    ws_register_update("add-batch-time-if-values", add_batch_time_if_values);
    ws_register_update("count-expire-after-2-idle", count_expire_after_2_idle);

    ws_register_map_state("running-sum", running_sum);
    ws_register_map_state("running-sum-emit-key-twice", running_sum_emit_key_twice);
    ws_register_map_state("running-sum-emit-pair", running_sum_emit_pair);
    ws_register_map_state("running-sum-emit-none", running_sum_emit_none);
    ws_register_map_state("remove-if-exists-emit-key", remove_if_exists_emit_key);
    ws_register_map_state("set-one-emit-key-on-timeout", set_one_emit_key_on_timeout);
    ws_register_map_state("state-command", state_command);
    ws_register_map_state("inc-or-init-remove-on-2", inc_or_init_remove_on_2);

    ws_register_map("key-by-first", key_by_first);
    ws_register_map("second-seconds", second_seconds);
}
