/* The Benthos comparison's transform as a wstream C guest: ASCII upper case
 * of each string, one call per batch through the batch ABI. Its Benthos twin
 * is bench/benthos/guest/upper.c, the same loop behind Benthos's per-message ABI. */
#include "wstream.h"

static ws_result upper(ws_value x) {
    if (x.type != WS_STR) return ws_err("upper wants a string, got %s", ws_type_name(x));
    char *out = ws_alloc(x.s.len + 1);
    for (size_t i = 0; i < x.s.len; i++) {
        char c = x.s.ptr[i];
        out[i] = (c >= 'a' && c <= 'z') ? (char)(c - ('a' - 'A')) : c;
    }
    return ws_ok(ws_strn(out, x.s.len));
}

WS_INIT {
    ws_plugin("bench-c", "1.0.0");
    ws_register_map("upper", upper);
}
