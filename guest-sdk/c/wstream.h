/* wstream.h - the C guest SDK for wstream plugins (batch ABI v1, abi/ABI.md).
 *
 * A plugin registers plain C functions on values; the SDK provides the ABI
 * exports, decodes each batch, calls the function once per element, group
 * or key, encodes the results and turns returned errors into per-record
 * errors, so one bad record never fails the whole batch.
 *
 *     #include "wstream.h"
 *
 *     static ws_result add_4(ws_value x) { return ws_add(x, ws_int(4)); }
 *
 *     WS_INIT {
 *         ws_plugin("example", "1.0.0");
 *         ws_register_map("add-4", add_4);
 *     }
 *
 * Build as a WASI reactor (so that _initialize runs WS_INIT):
 *
 *     clang --target=wasm32-wasi -mexec-model=reactor -O2 -nodefaultlibs \
 *         -o plugin.wasm plugin.c wstream.c -lc
 *
 * Memory: every value a function receives or builds lives until the end of
 * the current wstream_call and is then released at once. Strings are
 * (pointer, length) pairs, not NUL-terminated; ws_str and ws_strn do not
 * copy, so give them literals, input bytes or ws_alloc memory.
 *
 * Errors: return ws_err(...) to fail one record. There is no way to recover
 * from a trap (abort, out-of-bounds access): the host fails the whole batch
 * and discards the instance, so check types and return errors instead.
 */
#ifndef WSTREAM_H
#define WSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The msgpack value families. WS_UINT holds only integers above INT64_MAX;
 * every other integer is a WS_INT. */
typedef enum {
    WS_NIL, WS_BOOL, WS_INT, WS_UINT, WS_FLOAT, WS_STR, WS_BIN, WS_ARRAY, WS_MAP
} ws_type;

typedef struct ws_value ws_value;
typedef struct ws_entry ws_entry;

struct ws_value {
    ws_type type;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct { const char *ptr; size_t len; } s;  /* WS_STR, WS_BIN */
        struct { ws_value *items; size_t len; } a;  /* WS_ARRAY */
        struct { ws_entry *items; size_t len; } m;  /* WS_MAP */
    };
};

/* A map entry. Keys are WS_STR; decoded maps are sorted by key bytes with
 * duplicates dropped (the last wins), and maps are encoded the same way. */
struct ws_entry { ws_value key, value; };

/* What a function returns: a value, or an error message (error != NULL)
 * that fails just this record. */
typedef struct { ws_value value; const char *error; } ws_result;

/* ---- values ---- */

ws_value ws_nil(void);
ws_value ws_bool(bool b);
ws_value ws_int(int64_t i);
ws_value ws_float(double f);
ws_value ws_str(const char *s);                   /* NUL-terminated, not copied */
ws_value ws_strn(const char *s, size_t n);        /* n bytes, not copied */
ws_value ws_bin(const void *p, size_t n);         /* n bytes, not copied */
ws_value ws_array(size_t n);                      /* n items, all nil: fill .a.items */
ws_value ws_pair(ws_value k, ws_value v);         /* [k, v], the ABI's key/value pair */
ws_value ws_map(size_t n);                        /* n entries: fill .m.items */

/* Options are arrays, as on the wire: [] is none, [v] is some v. */
ws_value ws_some(ws_value v);
ws_value ws_none(void);
ws_value ws_or(ws_value option, ws_value def);    /* v of [v], else def */

bool ws_get_int(ws_value v, int64_t *out);        /* WS_INT only: 2.0 is not an int */
bool ws_get_float(ws_value v, double *out);       /* any number */

/* Numbers as Spark users expect: int + int stays an int (wrapping, like the
 * JVM), a float on either side makes a float; anything else is an error. */
ws_result ws_add(ws_value a, ws_value b);
ws_result ws_sub(ws_value a, ws_value b);

/* v's text as Scala's toString and the host's stdout sink show it: strings
 * bare, [k, v] as (k,v), List(1, 2), Map(k -> v), 2.0, 1.0E10, null. */
ws_value ws_text(ws_value v);
const char *ws_type_name(ws_value v);             /* as the Go SDK's messages name it */

ws_result ws_ok(ws_value v);
ws_result ws_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *ws_alloc(size_t n);                         /* zeroed; freed after the call */

/* A line in the host's log: level 0 debug, 1 info, 2 warn, 3 error. */
void ws_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- registration (from WS_INIT; ids follow registration order) ---- */

/* map: x -> y. flatMap: x -> array of ys. filter: x -> bool. */
typedef ws_result (*ws_map_fn)(ws_value x);
/* reduce: (a, b) -> c, associative; folded left over each group. */
typedef ws_result (*ws_reduce_fn)(ws_value a, ws_value b);
/* update: (key, values, state option, batch time ms) -> state option; none
 * removes the key. Called for every key in state every batch. */
typedef ws_result (*ws_update_fn)(ws_value key, ws_value values, ws_value state, int64_t time_ms);

/* mapState (mapWithState, abi/ABI.md §6.1): called once per record of the
 * batch, in batch order, with the batch time, the record's key, its value
 * as an option, and the key's state; the state a call leaves is what the
 * next record of the same key sees. A key whose state timed out gets one
 * more call with value ws_none() and ws_state_timing_out(state) true; it
 * may read the state but not change it. Return ws_ok(ws_some(x)) to emit x,
 * ws_ok(ws_none()) to emit nothing, or ws_err(...) to fail the key. */
typedef struct ws_state ws_state;
typedef ws_result (*ws_map_state_fn)(int64_t time_ms, ws_value key, ws_value value, ws_state *state);

bool ws_state_exists(const ws_state *s);
ws_value ws_state_get(const ws_state *s);         /* an option: [] none, [s] the state */
void ws_state_update(ws_state *s, ws_value v);    /* while timing out: fails the key */
void ws_state_remove(ws_state *s);                /* while timing out: fails the key */
bool ws_state_timing_out(const ws_state *s);

void ws_plugin(const char *name, const char *version);
void ws_default_pipeline(const char *yaml);       /* run by `wstream run --plugin` */
void ws_register_map(const char *name, ws_map_fn f);
void ws_register_flat_map(const char *name, ws_map_fn f);
void ws_register_filter(const char *name, ws_map_fn f);
void ws_register_reduce(const char *name, ws_reduce_fn f);
void ws_register_update(const char *name, ws_update_fn f);
void ws_register_map_state(const char *name, ws_map_state_fn f);

/* For SDKs built on this one (the Python runtime links it): the manifest's
 * language (default "c"), and the id of the function that the current call
 * runs, so that one callback can serve every registered function. */
void ws_language(const char *lang);
int ws_current_function(void);

/* WS_INIT { ... } runs once per instance, from _initialize, before any call. */
#define WS_INIT \
    __attribute__((constructor)) static void ws_init_(void)

#ifdef __cplusplus
}
#endif

#endif
