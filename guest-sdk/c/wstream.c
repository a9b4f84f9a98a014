//go:build ignore

// (The line above keeps the Go tool, which runs this folder's sdk_test.go,
// from taking this file for cgo source.)

/* wstream.c - the C guest SDK runtime: msgpack codec, value arena, batch
 * dispatch and the ABI v1 exports (abi/ABI.md). See wstream.h for the API.
 *
 * The wire behaviour, including every error message, follows the Go SDK
 * (guest-sdk/go) so that the same plugin in either language answers with
 * the same bytes.
 */
#include "wstream.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512

/* ---- memory ---- */

static void oom(void) {
    /* No way to report this through the ABI without memory: trap, and the
     * host fails the batch and discards the instance. */
    fputs("wstream: out of memory\n", stderr);
    abort();
}

/* The arena holds every value of one call and is reset at the next one. */
typedef struct block {
    struct block *next;
    size_t cap, used;
    size_t pad_; /* keeps the data 16-byte aligned on wasm32 */
} block;

static block *arena;

void *ws_alloc(size_t n) {
    if (n > SIZE_MAX / 2) oom(); /* also keeps the sums below from wrapping */
    n = (n + 7) & ~(size_t)7;
    if (!arena || arena->cap - arena->used < n) {
        size_t cap = 64 * 1024;
        if (arena && arena->cap * 2 > cap) cap = arena->cap * 2;
        if (cap < n) cap = n;
        block *b = malloc(sizeof(block) + cap);
        if (!b) oom();
        b->next = arena;
        b->cap = cap;
        b->used = 0;
        arena = b;
    }
    char *p = (char *)(arena + 1) + arena->used;
    arena->used += n;
    if (n <= 64) { /* a pair or a few words: no call to memset */
        for (size_t i = 0; i < n; i += 8) *(volatile uint64_t *)(p + i) = 0;
    } else {
        memset(p, 0, n);
    }
    return p;
}

/* A call that needed several blocks gets one block of their total size, so
 * the next call of that size allocates nothing. */
static void arena_reset(void) {
    if (!arena) return;
    if (arena->next) {
        size_t total = 0;
        for (block *b = arena; b;) {
            block *next = b->next;
            total += b->cap;
            free(b);
            b = next;
        }
        arena = malloc(sizeof(block) + total);
        if (!arena) oom();
        arena->next = NULL;
        arena->cap = total;
    }
    arena->used = 0;
}

/* alloc_n allocates n items of size bytes, refusing a product that wraps
 * (a hostile element count must not become a small buffer). */
static void *alloc_n(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) oom();
    return ws_alloc(n * size);
}

static char *vfmt(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    char *s = ws_alloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static const char *errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    return s;
}

/* A growable byte buffer, reused across calls. */
typedef struct { uint8_t *p; size_t len, cap; } buf;

static void grow(buf *b, size_t n) __attribute__((noinline));

/* reserve makes room for n more bytes; the check is inlined, growing is not. */
static inline void reserve(buf *b, size_t n) {
    if (b->cap - b->len < n) grow(b, n);
}

static void grow(buf *b, size_t n) {
    if (n > SIZE_MAX / 4 || b->len > SIZE_MAX / 4) oom();
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap - b->len < n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) oom();
    b->p = p;
    b->cap = cap;
}

static void put(buf *b, const void *p, size_t n) {
    reserve(b, n);
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put1(buf *b, uint8_t c) { reserve(b, 1); b->p[b->len++] = c; }
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_be(buf *b, uint8_t tag, uint64_t v, int k) {
    reserve(b, 1 + (size_t)k);
    b->p[b->len++] = tag;
    for (int i = k - 1; i >= 0; i--) b->p[b->len++] = (uint8_t)(v >> (8 * i));
}

/* A buffer's bytes as a NUL-terminated arena string. */
static char *buf_str(const buf *b) {
    char *s = ws_alloc(b->len + 1);
    if (b->len) memcpy(s, b->p, b->len);
    return s;
}

/* ---- msgpack encoding: the host's canonical forms (ABI.md §5) ---- */

/* put_uint writes v in canonical form (ABI.md §5): positive fixint or the
 * shortest uint8/16/32/64, so keys from any SDK compare equal as bytes. */
static void put_uint(buf *b, uint64_t v) {
    if (v <= 0x7f) put1(b, (uint8_t)v);
    else if (v <= UINT8_MAX) put_be(b, 0xcc, v, 1);
    else if (v <= UINT16_MAX) put_be(b, 0xcd, v, 2);
    else if (v <= UINT32_MAX) put_be(b, 0xce, v, 4);
    else put_be(b, 0xcf, v, 8);
}

/* put_int writes v in canonical form: a negative value as negative fixint
 * or the shortest int8/16/32/64. */
static void put_int(buf *b, int64_t v) {
    if (v >= 0) put_uint(b, (uint64_t)v);
    else if (v >= -32) put1(b, (uint8_t)v);
    else if (v >= INT8_MIN) put_be(b, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN) put_be(b, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN) put_be(b, 0xd2, (uint64_t)v, 4);
    else put_be(b, 0xd3, (uint64_t)v, 8);
}

static void put_float(buf *b, double f) {
    uint64_t bits;
    memcpy(&bits, &f, 8);
    put_be(b, 0xcb, bits, 8);
}

static void put_str(buf *b, const char *s, size_t n) {
    if (n <= 31) { /* the common case: one reserve, and a short copy inline */
        reserve(b, n + 1);
        uint8_t *p = b->p + b->len;
        *p++ = (uint8_t)(0xa0 | n);
        if (n <= 16) for (size_t i = 0; i < n; i++) p[i] = (uint8_t)s[i];
        else memcpy(p, s, n);
        b->len += n + 1;
        return;
    }
    if (n <= UINT8_MAX) put_be(b, 0xd9, n, 1);
    else if (n <= UINT16_MAX) put_be(b, 0xda, n, 2);
    else put_be(b, 0xdb, n, 4);
    put(b, s, n);
}

static void put_bin(buf *b, const void *p, size_t n) {
    if (n <= UINT8_MAX) put_be(b, 0xc4, n, 1);
    else if (n <= UINT16_MAX) put_be(b, 0xc5, n, 2);
    else put_be(b, 0xc6, n, 4);
    put(b, p, n);
}

static void put_array_header(buf *b, size_t n) {
    if (n <= 15) put1(b, (uint8_t)(0x90 | n));
    else if (n <= UINT16_MAX) put_be(b, 0xdc, n, 2);
    else put_be(b, 0xdd, n, 4);
}

static void put_map_header(buf *b, size_t n) {
    if (n <= 15) put1(b, (uint8_t)(0x80 | n));
    else if (n <= UINT16_MAX) put_be(b, 0xde, n, 2);
    else put_be(b, 0xdf, n, 4);
}

/* ---- maps: sorted by key bytes, duplicates dropped (the last wins) ---- */

static int key_cmp(const ws_value *a, const ws_value *b) {
    size_t n = a->s.len < b->s.len ? a->s.len : b->s.len;
    int c = n ? memcmp(a->s.ptr, b->s.ptr, n) : 0;
    if (c) return c;
    return (a->s.len > b->s.len) - (a->s.len < b->s.len);
}

static void merge_sort(ws_entry *e, ws_entry *tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(e, tmp, h);
    merge_sort(e + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = key_cmp(&e[j].key, &e[i].key) < 0 ? e[j++] : e[i++];
    while (i < h) tmp[k++] = e[i++];
    while (j < n) tmp[k++] = e[j++];
    memcpy(e, tmp, n * sizeof *e);
}

static bool map_is_canonical(ws_value m) {
    for (size_t i = 0; i < m.m.len; i++) {
        if (m.m.items[i].key.type != WS_STR) return false;
        if (i && key_cmp(&m.m.items[i - 1].key, &m.m.items[i].key) >= 0) return false;
    }
    return true;
}

/* canonical_map returns m sorted and without duplicate keys, as a Go
 * map[string]any would encode; m itself is left as it is. */
static ws_value canonical_map(ws_value m) {
    if (map_is_canonical(m)) return m;
    size_t n = m.m.len;
    ws_entry *e = alloc_n(n, sizeof *e), *tmp = alloc_n(n, sizeof *e);
    memcpy(e, m.m.items, n * sizeof *e);
    merge_sort(e, tmp, n); /* stable, so the last of equal keys is last */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && key_cmp(&e[k - 1].key, &e[i].key) == 0) e[k - 1] = e[i];
        else e[k++] = e[i];
    }
    m.m.items = e;
    m.m.len = k;
    return m;
}

static const char *encode(buf *b, ws_value v, int depth);

/* encode_item encodes an array item: short strings and small ints, what
 * records are mostly made of, inline; the rest through encode. */
static inline const char *encode_item(buf *b, const ws_value *v, int depth) {
    if (v->type == WS_STR && v->s.len <= 31) { put_str(b, v->s.ptr, v->s.len); return NULL; }
    if (v->type == WS_INT && v->i >= 0 && v->i <= 0x7f) { put1(b, (uint8_t)v->i); return NULL; }
    return encode(b, *v, depth);
}

static const char *encode(buf *b, ws_value v, int depth) {
    if (depth > MAX_DEPTH) return "msgpack: nesting deeper than 512";
    switch (v.type) {
    case WS_NIL: put1(b, 0xc0); return NULL;
    case WS_BOOL: put1(b, v.b ? 0xc3 : 0xc2); return NULL;
    case WS_INT: put_int(b, v.i); return NULL;
    case WS_UINT: put_uint(b, v.u); return NULL;
    case WS_FLOAT: put_float(b, v.f); return NULL;
    case WS_STR: put_str(b, v.s.ptr, v.s.len); return NULL;
    case WS_BIN: put_bin(b, v.s.ptr, v.s.len); return NULL;
    case WS_ARRAY:
        put_array_header(b, v.a.len);
        for (size_t i = 0; i < v.a.len; i++) {
            const char *err = encode_item(b, &v.a.items[i], depth + 1);
            if (err) return err;
        }
        return NULL;
    case WS_MAP:
        for (size_t i = 0; i < v.m.len; i++)
            if (v.m.items[i].key.type != WS_STR) return "msgpack: a map key must be a string";
        v = canonical_map(v);
        put_map_header(b, v.m.len);
        for (size_t i = 0; i < v.m.len; i++) {
            put_str(b, v.m.items[i].key.s.ptr, v.m.items[i].key.s.len);
            const char *err = encode(b, v.m.items[i].value, depth + 1);
            if (err) return err;
        }
        return NULL;
    }
    return errf("msgpack: cannot encode a value of type %d", (int)v.type);
}

/* ---- msgpack decoding, mirroring the host's checks and messages ---- */

typedef struct { const uint8_t *p; size_t n; } bytes;

enum { T_INVALID, T_NIL, T_BOOL, T_INT, T_FLOAT, T_STRING, T_BINARY, T_ARRAY, T_MAP, T_EXT };
static const char *const type_names[] = {
    "invalid", "nil", "bool", "int", "float", "string", "binary", "array", "map", "ext"};

static const char *const ERR_TRUNCATED = "msgpack: truncated value";

static int type_of(bytes b) {
    if (!b.n) return T_INVALID;
    uint8_t c = b.p[0];
    if (c <= 0x7f || c >= 0xe0) return T_INT;
    if (c <= 0x8f) return T_MAP;
    if (c <= 0x9f) return T_ARRAY;
    if (c <= 0xbf) return T_STRING;
    switch (c) {
    case 0xc0: return T_NIL;
    case 0xc2: case 0xc3: return T_BOOL;
    case 0xc4: case 0xc5: case 0xc6: return T_BINARY;
    case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return T_EXT;
    case 0xca: case 0xcb: return T_FLOAT;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xd0: case 0xd1: case 0xd2: case 0xd3: return T_INT;
    case 0xd9: case 0xda: case 0xdb: return T_STRING;
    case 0xdc: case 0xdd: return T_ARRAY;
    case 0xde: case 0xdf: return T_MAP;
    }
    return T_INVALID;
}

static uint64_t be(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = v << 8 | p[i];
    return v;
}

static bytes advance(bytes b, size_t k) { b.p += k; b.n -= k; return b; }

/* header gives a value's type, header length, and payload length (str, bin,
 * ext) or element count (arrays n, maps 2n). */
static const char *header(bytes b, int *t, size_t *hdr, uint64_t *n) {
    if (!b.n) return ERR_TRUNCATED;
    uint8_t c = b.p[0];
    *t = type_of(b);
    *n = 0;
    *hdr = 1;
    if (c <= 0x7f || c >= 0xe0) return NULL;
    if (c <= 0x8f) { *n = (uint64_t)(c & 0x0f) * 2; return NULL; }
    if (c <= 0x9f) { *n = c & 0x0f; return NULL; }
    if (c <= 0xbf) { *n = c & 0x1f; return NULL; }
    int k = 0; /* bytes of length after the tag */
    switch (c) {
    case 0xc0: case 0xc2: case 0xc3: return NULL;
    case 0xc4: case 0xd9: case 0xc7: k = 1; break;
    case 0xc5: case 0xda: case 0xc8: case 0xdc: case 0xde: k = 2; break;
    case 0xc6: case 0xdb: case 0xc9: case 0xdd: case 0xdf: k = 4; break;
    case 0xca: *n = 4; return NULL;
    case 0xcb: *n = 8; return NULL;
    case 0xcc: case 0xd0: *n = 1; return NULL;
    case 0xcd: case 0xd1: *n = 2; return NULL;
    case 0xce: case 0xd2: *n = 4; return NULL;
    case 0xcf: case 0xd3: *n = 8; return NULL;
    case 0xd4: *hdr = 2; *n = 1; return NULL;
    case 0xd5: *hdr = 2; *n = 2; return NULL;
    case 0xd6: *hdr = 2; *n = 4; return NULL;
    case 0xd7: *hdr = 2; *n = 8; return NULL;
    case 0xd8: *hdr = 2; *n = 16; return NULL;
    default: return errf("msgpack: invalid type byte 0x%02x", c);
    }
    bool ext = c == 0xc7 || c == 0xc8 || c == 0xc9;
    *hdr = 1 + (size_t)k + (ext ? 1 : 0); /* an ext's header holds its type byte */
    if (b.n < *hdr) return ERR_TRUNCATED;
    *n = be(b.p + 1, k);
    if (c == 0xde || c == 0xdf) *n *= 2;
    return NULL;
}

static const char *check_count(uint64_t n, size_t remaining) {
    if (n > remaining)
        return errf("msgpack: container of %llu elements in %zu bytes", (unsigned long long)n, remaining);
    return NULL;
}

static const char *skip(bytes b, int depth, size_t *len) {
    if (depth > MAX_DEPTH) return "msgpack: nesting deeper than 512";
    int t;
    size_t hdr;
    uint64_t n;
    const char *err = header(b, &t, &hdr, &n);
    if (err) return err;
    if (b.n < hdr) return ERR_TRUNCATED;
    if (t == T_ARRAY || t == T_MAP) {
        if ((err = check_count(n, b.n - hdr))) return err;
        size_t off = hdr;
        for (uint64_t i = 0; i < n; i++) {
            size_t k;
            if ((err = skip(advance(b, off), depth + 1, &k))) return err;
            off += k;
        }
        *len = off;
        return NULL;
    }
    if (b.n - hdr < n) return ERR_TRUNCATED;
    *len = hdr + (size_t)n;
    return NULL;
}

/* next splits the first value off *b into *v. */
static const char *next(bytes *b, bytes *v) {
    size_t k;
    const char *err = skip(*b, 0, &k);
    if (err) return err;
    v->p = b->p;
    v->n = k;
    *b = advance(*b, k);
    return NULL;
}

static const char *container_header(bytes *b, int want, size_t *count) {
    int t;
    size_t hdr;
    uint64_t n;
    const char *err = header(*b, &t, &hdr, &n);
    if (err) return err;
    if (t != want) return errf("msgpack: want %s, got %s", type_names[want], type_names[t]);
    if ((err = check_count(n, b->n - hdr))) return err;
    *count = (size_t)(want == T_MAP ? n / 2 : n);
    *b = advance(*b, hdr);
    return NULL;
}

static const char *array_header(bytes *b, size_t *n) { return container_header(b, T_ARRAY, n); }
static const char *map_header(bytes *b, size_t *n) { return container_header(b, T_MAP, n); }

static const char *read_int(bytes *b, int64_t *v) {
    int t;
    size_t hdr;
    uint64_t n;
    const char *err = header(*b, &t, &hdr, &n);
    if (err) return err;
    if (t != T_INT) return errf("msgpack: want int, got %s", type_names[t]);
    if (b->n < hdr + n) return ERR_TRUNCATED;
    const uint8_t *p = b->p + hdr;
    switch (b->p[0]) {
    case 0xcc: *v = p[0]; break;
    case 0xcd: *v = (int64_t)be(p, 2); break;
    case 0xce: *v = (int64_t)be(p, 4); break;
    case 0xcf: {
        uint64_t u = be(p, 8);
        if (u > INT64_MAX) return errf("msgpack: uint %llu overflows int64", (unsigned long long)u);
        *v = (int64_t)u;
        break;
    }
    case 0xd0: *v = (int8_t)p[0]; break;
    case 0xd1: *v = (int16_t)be(p, 2); break;
    case 0xd2: *v = (int32_t)be(p, 4); break;
    case 0xd3: *v = (int64_t)be(p, 8); break;
    default: *v = (int8_t)b->p[0];
    }
    *b = advance(*b, hdr + (size_t)n);
    return NULL;
}

static const char *read_float(bytes *b, double *f) {
    if (b->n >= 5 && b->p[0] == 0xca) {
        uint32_t bits = (uint32_t)be(b->p + 1, 4);
        float g;
        memcpy(&g, &bits, 4);
        *f = g;
        *b = advance(*b, 5);
        return NULL;
    }
    if (b->n >= 9 && b->p[0] == 0xcb) {
        uint64_t bits = be(b->p + 1, 8);
        memcpy(f, &bits, 8);
        *b = advance(*b, 9);
        return NULL;
    }
    return errf("msgpack: want float, got %s", type_names[type_of(*b)]);
}

/* read_str reads a str or bin value; s aliases the input. */
static const char *read_str(bytes *b, bytes *s) {
    int t;
    size_t hdr;
    uint64_t n;
    const char *err = header(*b, &t, &hdr, &n);
    if (err) return err;
    if (t != T_STRING && t != T_BINARY) return errf("msgpack: want string, got %s", type_names[t]);
    if (b->n - hdr < n) return ERR_TRUNCATED;
    s->p = b->p + hdr;
    s->n = (size_t)n;
    *b = advance(*b, hdr + (size_t)n);
    return NULL;
}

/* decode reads one value into v; strings and binaries alias the input,
 * which stays valid for the whole call. */
static const char *decode(bytes *b, int depth, ws_value *v) {
    if (depth > MAX_DEPTH) return "msgpack: nesting deeper than 512";
    if (b->n && b->p[0] >= 0xa0 && b->p[0] <= 0xbf) { /* a short string, the common case */
        size_t n = b->p[0] & 0x1f;
        if (b->n - 1 < n) return ERR_TRUNCATED;
        v->type = WS_STR;
        v->s.ptr = (const char *)b->p + 1;
        v->s.len = n;
        *b = advance(*b, 1 + n);
        return NULL;
    }
    const char *err = NULL;
    memset(v, 0, sizeof *v);
    switch (type_of(*b)) {
    case T_NIL:
        v->type = WS_NIL;
        *b = advance(*b, 1);
        return NULL;
    case T_BOOL:
        v->type = WS_BOOL;
        v->b = b->p[0] == 0xc3;
        *b = advance(*b, 1);
        return NULL;
    case T_INT:
        if (b->p[0] == 0xcf) {
            if (b->n < 9) return ERR_TRUNCATED;
            uint64_t u = be(b->p + 1, 8);
            *b = advance(*b, 9);
            if (u > INT64_MAX) { v->type = WS_UINT; v->u = u; }
            else { v->type = WS_INT; v->i = (int64_t)u; }
            return NULL;
        }
        v->type = WS_INT;
        return read_int(b, &v->i);
    case T_FLOAT:
        v->type = WS_FLOAT;
        return read_float(b, &v->f);
    case T_STRING:
    case T_BINARY: {
        int t = type_of(*b);
        bytes s;
        if ((err = read_str(b, &s))) return err;
        v->type = t == T_STRING ? WS_STR : WS_BIN;
        v->s.ptr = (const char *)s.p;
        v->s.len = s.n;
        return NULL;
    }
    case T_ARRAY: {
        size_t n;
        if ((err = array_header(b, &n))) return err;
        v->type = WS_ARRAY;
        v->a.len = n;
        v->a.items = alloc_n(n, sizeof(ws_value));
        for (size_t i = 0; i < n; i++)
            if ((err = decode(b, depth + 1, &v->a.items[i]))) return err;
        return NULL;
    }
    case T_MAP: {
        size_t n;
        if ((err = map_header(b, &n))) return err;
        v->type = WS_MAP;
        v->m.len = n;
        v->m.items = alloc_n(n, sizeof(ws_entry));
        for (size_t i = 0; i < n; i++) {
            bytes k;
            if ((err = read_str(b, &k))) return errf("map key: %s", err);
            v->m.items[i].key = ws_strn((const char *)k.p, k.n);
            if ((err = decode(b, depth + 1, &v->m.items[i].value))) return err;
        }
        *v = canonical_map(*v);
        return NULL;
    }
    case T_INVALID:
        if (!b->n) return ERR_TRUNCATED;
        return errf("msgpack: invalid type byte 0x%02x", b->p[0]);
    default:
        return errf("msgpack: %s values are not supported", type_names[type_of(*b)]);
    }
}

/* ---- text: Go's float format, JSON, and Go-style descriptions ---- */

/* shortest writes the fewest decimal digits that read back as f (finite,
 * nonzero, positive) and returns their count; *exp is the decimal exponent
 * of the first digit. printf rounds correctly, so the first precision that
 * reads back gives the digits Go's and Java's shortest formatting choose. */
static int shortest(double f, char digits[24], int *exp) {
    char tmp[48];
    for (int p = 0; p <= 16; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, f);
        if (strtod(tmp, NULL) == f) break;
    }
    int nd = 0;
    const char *c = tmp;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') digits[nd++] = *c;
    *exp = atoi(c + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    return nd;
}

/* put_plain writes digits d (nd of them, point after dp) as %f does with
 * just enough precision: 100, 0.001, 2.5. */
static void put_plain(buf *b, const char *d, int nd, int dp) {
    if (dp > 0) {
        for (int i = 0; i < dp; i++) put1(b, (uint8_t)(i < nd ? d[i] : '0'));
    } else {
        put1(b, '0');
    }
    if (nd - dp > 0) {
        put1(b, '.');
        for (int j = dp; j < nd; j++) put1(b, (uint8_t)(j >= 0 ? d[j] : '0'));
    }
}

/* put_go_g writes f as Go's strconv.FormatFloat(f, 'g', -1, 64): shortest
 * digits, in %e form when the exponent is below -4 or at least 6. f must
 * be finite. */
static void put_go_g(buf *b, double f) {
    if (signbit(f)) put1(b, '-');
    f = fabs(f);
    if (f == 0) { put1(b, '0'); return; }
    char d[24];
    int exp, nd = shortest(f, d, &exp);
    if (exp < -4 || exp >= 6) {
        put1(b, (uint8_t)d[0]);
        if (nd > 1) { put1(b, '.'); put(b, d + 1, (size_t)nd - 1); }
        char e[8];
        snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        puts_(b, e);
        return;
    }
    put_plain(b, d, nd, exp + 1);
}

/* put_java_double writes f as Java's Double.toString (abi.AppendText):
 * plain for 1e-3 <= |f| < 1e7, always with a fraction (2.0), else
 * scientific with a bare exponent (1.0E10, 1.5E-4). */
static void put_java_double(buf *b, double f) {
    if (isnan(f)) { puts_(b, "NaN"); return; }
    if (isinf(f)) { puts_(b, f > 0 ? "Infinity" : "-Infinity"); return; }
    if (signbit(f)) put1(b, '-');
    f = fabs(f);
    if (f == 0) { puts_(b, "0.0"); return; }
    char d[24];
    int exp, nd = shortest(f, d, &exp);
    if (f >= 1e-3 && f < 1e7) {
        put_plain(b, d, nd, exp + 1);
        if (nd - (exp + 1) <= 0) puts_(b, ".0");
        return;
    }
    put1(b, (uint8_t)d[0]);
    put1(b, '.');
    if (nd > 1) put(b, d + 1, (size_t)nd - 1);
    else put1(b, '0');
    char e[8];
    snprintf(e, sizeof e, "E%d", exp);
    puts_(b, e);
}

/* A float's JSON text keeps it a float: 2.0, not 2. */
static void put_json_float(buf *b, double f) {
    if (isnan(f)) { puts_(b, "\"NaN\""); return; }
    if (isinf(f)) { puts_(b, f > 0 ? "\"Infinity\"" : "\"-Infinity\""); return; }
    size_t start = b->len;
    put_go_g(b, f);
    for (size_t i = start; i < b->len; i++)
        if (b->p[i] == '.' || b->p[i] == 'e' || b->p[i] == 'E') return;
    puts_(b, ".0");
}

/* utf8_rune decodes one rune as Go's utf8.DecodeRune does; it returns the
 * size, or 0 for an invalid byte. */
static int utf8_rune(const uint8_t *s, size_t n, uint32_t *r) {
    uint8_t c = s[0];
    if (c < 0x80) { *r = c; return 1; }
    int size;
    uint32_t min, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) { size = 2; *r = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) {
        size = 3; *r = c & 0x0f; min = 0x800;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        size = 4; *r = c & 0x07; min = 0x10000;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    (void)min;
    if (n < (size_t)size) return 0;
    for (int i = 1; i < size; i++) {
        uint8_t d = s[i];
        if (i == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf)) return 0;
        *r = *r << 6 | (d & 0x3f);
    }
    return size;
}

static const char HEX[] = "0123456789abcdef";

static void put_json_string(buf *b, const uint8_t *s, size_t n) {
    put1(b, '"');
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') { put1(b, '\\'); put1(b, c); }
            else if (c == '\n') puts_(b, "\\n");
            else if (c == '\r') puts_(b, "\\r");
            else if (c == '\t') puts_(b, "\\t");
            else if (c < 0x20) { puts_(b, "\\u00"); put1(b, (uint8_t)HEX[c >> 4]); put1(b, (uint8_t)HEX[c & 15]); }
            else put1(b, c);
            i++;
            continue;
        }
        uint32_t r;
        int size = utf8_rune(s + i, n - i, &r);
        if (!size) { /* keep every byte visible and the text valid JSON */
            puts_(b, "\\u00");
            put1(b, (uint8_t)HEX[c >> 4]);
            put1(b, (uint8_t)HEX[c & 15]);
            i++;
            continue;
        }
        put(b, s + i, (size_t)size);
        i += (size_t)size;
    }
    put1(b, '"');
}

/* put_json writes the JSON text of the msgpack value at *in, as the host's
 * abi.AppendJSON does: binary as a string, a non-string map key as the
 * string of its JSON text. */
static const char *put_json(buf *b, bytes *in, int depth) {
    if (depth > MAX_DEPTH) return "msgpack: nesting deeper than 512";
    const char *err;
    switch (type_of(*in)) {
    case T_NIL:
        puts_(b, "null");
        *in = advance(*in, 1);
        return NULL;
    case T_BOOL:
        puts_(b, in->p[0] == 0xc3 ? "true" : "false");
        *in = advance(*in, 1);
        return NULL;
    case T_INT: {
        char tmp[24];
        if (in->p[0] == 0xcf) {
            if (in->n < 9) return ERR_TRUNCATED;
            snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)be(in->p + 1, 8));
            *in = advance(*in, 9);
        } else {
            int64_t v;
            if ((err = read_int(in, &v))) return err;
            snprintf(tmp, sizeof tmp, "%lld", (long long)v);
        }
        puts_(b, tmp);
        return NULL;
    }
    case T_FLOAT: {
        double f;
        if ((err = read_float(in, &f))) return err;
        put_json_float(b, f);
        return NULL;
    }
    case T_STRING:
    case T_BINARY: {
        bytes s;
        if ((err = read_str(in, &s))) return err;
        put_json_string(b, s.p, s.n);
        return NULL;
    }
    case T_ARRAY: {
        size_t n;
        if ((err = array_header(in, &n))) return err;
        put1(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) put1(b, ',');
            if ((err = put_json(b, in, depth + 1))) return err;
        }
        put1(b, ']');
        return NULL;
    }
    case T_MAP: {
        size_t n;
        if ((err = map_header(in, &n))) return err;
        put1(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) put1(b, ',');
            if (type_of(*in) == T_STRING) {
                if ((err = put_json(b, in, depth + 1))) return err;
            } else {
                bytes k;
                if ((err = next(in, &k))) return err;
                buf kb = {0};
                err = put_json(&kb, &k, 0);
                if (!err) put_json_string(b, kb.p, kb.len);
                free(kb.p);
                if (err) return err;
            }
            put1(b, ':');
            if ((err = put_json(b, in, depth + 1))) return err;
        }
        put1(b, '}');
        return NULL;
    }
    case T_EXT:
        return "msgpack ext values have no JSON form";
    }
    if (!in->n) return ERR_TRUNCATED;
    return errf("msgpack: invalid type byte 0x%02x", in->p[0]);
}

/* describe_raw renders raw input shortly for error messages (abi.Describe). */
static const char *describe_raw(bytes in) {
    buf b = {0};
    bytes c = in;
    const char *err = put_json(&b, &c, 0);
    char *s;
    if (err) s = (char *)errf("<%s, undecodable: %s>", type_names[type_of(in)], err);
    else {
        if (b.len > 80) { b.len = 77; puts_(&b, "..."); }
        s = buf_str(&b);
    }
    free(b.p);
    return s;
}

const char *ws_type_name(ws_value v) {
    switch (v.type) {
    case WS_NIL: return "<nil>";
    case WS_BOOL: return "bool";
    case WS_INT: return "int64";
    case WS_UINT: return "uint64";
    case WS_FLOAT: return "float64";
    case WS_STR: return "string";
    case WS_BIN: return "[]uint8";
    case WS_ARRAY: return "[]interface {}";
    case WS_MAP: return "map[string]interface {}";
    }
    return "?";
}

/* is_print approximates Go's unicode.IsPrint for the runes strconv.Quote
 * escapes: controls, spaces other than ' ', and common format characters. */
static bool is_print(uint32_t r) {
    if (r < 0x20 || (r >= 0x7f && r <= 0xa0) || r == 0xad) return false;
    if (r == 0x1680 || (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f)) return false;
    if ((r >= 0x205f && r <= 0x206f) || r == 0x3000 || r == 0xfeff) return false;
    if ((r >= 0xfff9 && r <= 0xfffb) || r == 0xfffe || r == 0xffff) return false;
    if ((r >= 0xe000 && r <= 0xf8ff) || r >= 0xf0000) return false; /* private use */
    return true;
}

/* put_go_quote writes s as Go's strconv.Quote does. */
static void put_go_quote(buf *b, const uint8_t *s, size_t n) {
    put1(b, '"');
    char tmp[16];
    for (size_t i = 0; i < n;) {
        uint32_t r;
        int size = utf8_rune(s + i, n - i, &r);
        if (!size) {
            snprintf(tmp, sizeof tmp, "\\x%02x", s[i]);
            puts_(b, tmp);
            i++;
            continue;
        }
        if (r == '"' || r == '\\') { put1(b, '\\'); put1(b, (uint8_t)r); }
        else if (is_print(r)) put(b, s + i, (size_t)size);
        else if (r == '\a') puts_(b, "\\a");
        else if (r == '\b') puts_(b, "\\b");
        else if (r == '\f') puts_(b, "\\f");
        else if (r == '\n') puts_(b, "\\n");
        else if (r == '\r') puts_(b, "\\r");
        else if (r == '\t') puts_(b, "\\t");
        else if (r == '\v') puts_(b, "\\v");
        else {
            if (r < ' ' || r == 0x7f) snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)r);
            else if (r < 0x10000) snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)r);
            else snprintf(tmp, sizeof tmp, "\\U%08x", (unsigned)r);
            puts_(b, tmp);
        }
        i += (size_t)size;
    }
    put1(b, '"');
}

/* put_go_print writes v as Go's fmt.Sprint shows a decoded value. */
static void put_go_print(buf *b, ws_value v) {
    char tmp[32];
    switch (v.type) {
    case WS_NIL: puts_(b, "<nil>"); return;
    case WS_BOOL: puts_(b, v.b ? "true" : "false"); return;
    case WS_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.i); puts_(b, tmp); return;
    case WS_UINT: snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v.u); puts_(b, tmp); return;
    case WS_FLOAT:
        if (isnan(v.f)) puts_(b, "NaN");
        else if (isinf(v.f)) puts_(b, v.f > 0 ? "+Inf" : "-Inf");
        else put_go_g(b, v.f);
        return;
    case WS_STR: put(b, v.s.ptr, v.s.len); return;
    case WS_BIN:
        put1(b, '[');
        for (size_t i = 0; i < v.s.len; i++) {
            snprintf(tmp, sizeof tmp, i ? " %u" : "%u", (unsigned)(uint8_t)v.s.ptr[i]);
            puts_(b, tmp);
        }
        put1(b, ']');
        return;
    case WS_ARRAY:
        put1(b, '[');
        for (size_t i = 0; i < v.a.len; i++) {
            if (i) put1(b, ' ');
            put_go_print(b, v.a.items[i]);
        }
        put1(b, ']');
        return;
    case WS_MAP:
        {
            bool strs = true; /* a map built by hand may not be sorted yet */
            for (size_t i = 0; i < v.m.len; i++) strs = strs && v.m.items[i].key.type == WS_STR;
            if (strs) v = canonical_map(v);
        }
        puts_(b, "map[");
        for (size_t i = 0; i < v.m.len; i++) {
            if (i) put1(b, ' ');
            put_go_print(b, v.m.items[i].key);
            put1(b, ':');
            put_go_print(b, v.m.items[i].value);
        }
        put1(b, ']');
        return;
    }
}

/* describe names a value and its type for error messages, as the Go SDK
 * does: `"s" (string)`, `[1 2] ([]interface {})`. */
static const char *describe(ws_value v) {
    if (v.type == WS_NIL) return "nil";
    buf b = {0};
    if (v.type == WS_STR) put_go_quote(&b, (const uint8_t *)v.s.ptr, v.s.len);
    else put_go_print(&b, v);
    if (b.len > 40) { b.len = 37; puts_(&b, "..."); }
    puts_(&b, " (");
    puts_(&b, ws_type_name(v));
    put1(&b, ')');
    char *s = buf_str(&b);
    free(b.p);
    return s;
}

/* ---- the public value API ---- */

ws_value ws_nil(void) { ws_value v = {.type = WS_NIL}; return v; }
ws_value ws_bool(bool b) { ws_value v = {.type = WS_BOOL, .b = b}; return v; }
ws_value ws_int(int64_t i) { ws_value v = {.type = WS_INT, .i = i}; return v; }
ws_value ws_float(double f) { ws_value v = {.type = WS_FLOAT, .f = f}; return v; }
ws_value ws_str(const char *s) { return ws_strn(s, strlen(s)); }

ws_value ws_strn(const char *s, size_t n) {
    ws_value v = {.type = WS_STR};
    v.s.ptr = s;
    v.s.len = n;
    return v;
}

ws_value ws_bin(const void *p, size_t n) {
    ws_value v = {.type = WS_BIN};
    v.s.ptr = p;
    v.s.len = n;
    return v;
}

ws_value ws_array(size_t n) {
    ws_value v = {.type = WS_ARRAY};
    v.a.items = alloc_n(n, sizeof(ws_value)); /* zero is WS_NIL */
    v.a.len = n;
    return v;
}

ws_value ws_pair(ws_value k, ws_value val) {
    ws_value v = ws_array(2);
    v.a.items[0] = k;
    v.a.items[1] = val;
    return v;
}

ws_value ws_map(size_t n) {
    ws_value v = {.type = WS_MAP};
    v.m.items = alloc_n(n, sizeof(ws_entry));
    v.m.len = n;
    return v;
}

ws_value ws_some(ws_value x) {
    ws_value v = ws_array(1);
    v.a.items[0] = x;
    return v;
}

ws_value ws_none(void) { return ws_array(0); }

ws_value ws_or(ws_value option, ws_value def) {
    if (option.type == WS_ARRAY && option.a.len == 1) return option.a.items[0];
    return def;
}

bool ws_get_int(ws_value v, int64_t *out) {
    if (v.type != WS_INT) return false;
    *out = v.i;
    return true;
}

bool ws_get_float(ws_value v, double *out) {
    switch (v.type) {
    case WS_FLOAT: *out = v.f; return true;
    case WS_INT: *out = (double)v.i; return true;
    case WS_UINT: *out = (double)v.u; return true;
    default: return false;
    }
}

ws_result ws_ok(ws_value v) { ws_result r = {v, NULL}; return r; }

ws_result ws_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ws_result r = {ws_nil(), vfmt(fmt, ap)};
    va_end(ap);
    return r;
}

static ws_result arith(char op, ws_value a, ws_value b) {
    int64_t x, y;
    if (ws_get_int(a, &x) && ws_get_int(b, &y)) /* wrap like the JVM */
        return ws_ok(ws_int((int64_t)(op == '-' ? (uint64_t)x - (uint64_t)y : (uint64_t)x + (uint64_t)y)));
    double f, g;
    if (!ws_get_float(a, &f) || !ws_get_float(b, &g))
        return ws_err("cannot compute %s %c %s: want numbers", describe(a), op, describe(b));
    return ws_ok(ws_float(op == '-' ? f - g : f + g));
}

ws_result ws_add(ws_value a, ws_value b) { return arith('+', a, b); }
ws_result ws_sub(ws_value a, ws_value b) { return arith('-', a, b); }

/* put_text writes v as Scala's toString shows it, like the host's
 * abi.AppendText: strings bare, [k, v] as (k,v), other arrays as
 * List(a, b), maps as Map(k -> v), nil as null. */
static void put_text(buf *b, ws_value v, int depth) {
    char tmp[24];
    switch (v.type) {
    case WS_NIL: puts_(b, "null"); return;
    case WS_BOOL: puts_(b, v.b ? "true" : "false"); return;
    case WS_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.i); puts_(b, tmp); return;
    case WS_UINT: snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v.u); puts_(b, tmp); return;
    case WS_FLOAT: put_java_double(b, v.f); return;
    case WS_STR: case WS_BIN: put(b, v.s.ptr, v.s.len); return;
    case WS_ARRAY:
        if (depth > MAX_DEPTH) return;
        puts_(b, v.a.len == 2 ? "(" : "List(");
        for (size_t i = 0; i < v.a.len; i++) {
            if (i) puts_(b, v.a.len == 2 ? "," : ", ");
            put_text(b, v.a.items[i], depth + 1);
        }
        put1(b, ')');
        return;
    case WS_MAP: {
        if (depth > MAX_DEPTH) return;
        bool strs = true; /* a map built by hand may not be sorted yet */
        for (size_t i = 0; i < v.m.len; i++) strs = strs && v.m.items[i].key.type == WS_STR;
        if (strs) v = canonical_map(v);
        puts_(b, "Map(");
        for (size_t i = 0; i < v.m.len; i++) {
            if (i) puts_(b, ", ");
            put_text(b, v.m.items[i].key, depth + 1);
            puts_(b, " -> ");
            put_text(b, v.m.items[i].value, depth + 1);
        }
        put1(b, ')');
        return;
    }
    }
}

ws_value ws_text(ws_value v) {
    buf b = {0};
    put_text(&b, v, 0);
    ws_value s = ws_strn(buf_str(&b), b.len);
    free(b.p);
    return s;
}

/* ---- logging ---- */

__attribute__((import_module("wstream_v1"), import_name("log")))
extern void ws_host_log_(int32_t level, const char *ptr, size_t len);

void ws_log(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { ws_host_log_(level, tmp, (size_t)n); return; }
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    ws_host_log_(level, s, (size_t)n);
}

/* ---- registry ---- */

enum { K_MAP, K_FLATMAP, K_FILTER, K_REDUCE, K_UPDATE, K_MAP_STATE };
static const char *const kind_names[] = {"map", "flatMap", "filter", "reduce", "update", "mapState"};

typedef struct {
    const char *name;
    int kind;
    ws_map_fn map;
    ws_reduce_fn reduce;
    ws_update_fn update;
    ws_map_state_fn map_state;
} function;

static struct {
    const char *name, *version, *pipeline, *language;
    function *fns;
    size_t n, cap;
} plugin = {.name = "", .version = "", .pipeline = "", .language = "c"};

static int32_t current_fn = -1; /* the function the current call runs */

static void fatal(const char *what, const char *name) {
    /* A registration mistake is a bug in the plugin: trap in _initialize so
     * the host refuses the module with this message on stderr. */
    fprintf(stderr, "wstream: %s%s%s\n", what, name ? ": " : "", name ? name : "");
    abort();
}

static void add(const char *name, int kind, ws_map_fn m, ws_reduce_fn r, ws_update_fn u, ws_map_state_fn ms) {
    if (!name || !*name) fatal("a function needs a name", NULL);
    if (!m && !r && !u && !ms) fatal("function is NULL", name);
    for (size_t i = 0; i < plugin.n; i++)
        if (!strcmp(plugin.fns[i].name, name)) fatal("function registered twice", name);
    if (plugin.n == plugin.cap) {
        plugin.cap = plugin.cap ? plugin.cap * 2 : 16;
        plugin.fns = realloc(plugin.fns, plugin.cap * sizeof(function));
        if (!plugin.fns) oom();
    }
    function f = {name, kind, m, r, u, ms};
    plugin.fns[plugin.n++] = f;
}

void ws_plugin(const char *name, const char *version) { plugin.name = name; plugin.version = version; }
void ws_default_pipeline(const char *yaml) { plugin.pipeline = yaml ? yaml : ""; }
void ws_language(const char *lang) { plugin.language = lang && *lang ? lang : "c"; }
int ws_current_function(void) { return current_fn; }
void ws_register_map(const char *name, ws_map_fn f) { add(name, K_MAP, f, NULL, NULL, NULL); }
void ws_register_flat_map(const char *name, ws_map_fn f) { add(name, K_FLATMAP, f, NULL, NULL, NULL); }
void ws_register_filter(const char *name, ws_map_fn f) { add(name, K_FILTER, f, NULL, NULL, NULL); }
void ws_register_reduce(const char *name, ws_reduce_fn f) { add(name, K_REDUCE, NULL, f, NULL, NULL); }
void ws_register_update(const char *name, ws_update_fn f) { add(name, K_UPDATE, NULL, NULL, f, NULL); }
void ws_register_map_state(const char *name, ws_map_state_fn f) { add(name, K_MAP_STATE, NULL, NULL, NULL, f); }

/* ---- mapState's state (Spark's State) ---- */

struct ws_state {
    ws_value value;
    bool exists;
    bool changed;      /* updated or removed since the key's first call */
    bool timing_out;
    const char *misuse; /* a change tried while timing out: fails the key */
};

bool ws_state_exists(const ws_state *s) { return s->exists; }
ws_value ws_state_get(const ws_state *s) { return s->exists ? ws_some(s->value) : ws_none(); }
bool ws_state_timing_out(const ws_state *s) { return s->timing_out; }

void ws_state_update(ws_state *s, ws_value v) {
    if (s->timing_out) {
        s->misuse = "cannot update the state of a key that is timing out";
        return;
    }
    s->value = v;
    s->exists = s->changed = true;
}

void ws_state_remove(ws_state *s) {
    if (s->timing_out) {
        s->misuse = "cannot remove the state of a key that is timing out";
        return;
    }
    s->value = ws_nil();
    s->exists = false;
    s->changed = true;
}

/* ---- dispatch: one call per batch (ABI.md §5, §6) ---- */

static buf out;         /* the last response */
static struct { size_t index; const char *msg; } *errs;
static size_t nerrs, errs_cap;
static bool bad_input;  /* the failure is the input's shape, not a record */

static const char *badf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *badf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    bad_input = true;
    return s;
}

/* fail records that item i failed: its result becomes nil, written from
 * mark on over whatever part of it was written. */
static void fail(size_t i, size_t mark, const char *msg) {
    out.len = mark;
    put1(&out, 0xc0);
    if (nerrs == errs_cap) {
        errs_cap = errs_cap ? errs_cap * 2 : 16;
        errs = realloc(errs, errs_cap * sizeof *errs);
        if (!errs) oom();
    }
    errs[nerrs].index = i;
    errs[nerrs].msg = msg;
    nerrs++;
}

static void response_header(size_t n) {
    put1(&out, 0x93);
    put1(&out, 0);
    put_array_header(&out, n);
}

static void error_response(int code, const char *msg) {
    out.len = 0;
    put1(&out, 0x93);
    put_int(&out, code);
    put_str(&out, msg, strlen(msg));
    put1(&out, 0x90);
}

static const char *put_result(const function *f, ws_result r) {
    if (r.error) return r.error;
    switch (f->kind) {
    case K_FLATMAP: {
        if (r.value.type != WS_ARRAY) return "flatMap result must be an array";
        put_array_header(&out, r.value.a.len);
        for (size_t i = 0; i < r.value.a.len; i++) {
            const char *err = encode_item(&out, &r.value.a.items[i], 0);
            if (err) return err;
        }
        return NULL;
    }
    case K_FILTER:
        if (r.value.type != WS_BOOL) return "filter result must be a bool";
        put1(&out, r.value.b ? 0xc3 : 0xc2);
        return NULL;
    }
    return encode(&out, r.value, 0);
}

/* elements serves map, flatMap and filter: [x...] -> one result per x. */
static const char *elements(const function *f, bytes in) {
    size_t n;
    const char *err = array_header(&in, &n);
    if (err) return badf("want an array of elements: %s", err);
    response_header(n);
    for (size_t i = 0; i < n; i++) {
        size_t mark = out.len;
        ws_value x;
        bytes start = in;
        /* Decode in place; only an element that does not decode is split
         * off first, to tell a malformed input (the call fails) from a
         * value the SDK cannot take (the record fails). */
        if ((err = decode(&in, 0, &x))) {
            bytes raw;
            in = start;
            const char *serr = next(&in, &raw);
            if (serr) return badf("element %zu: %s", i, serr);
            fail(i, mark, err);
            continue;
        }
        if ((err = put_result(f, f->map(x)))) fail(i, mark, err);
    }
    if (in.n) return badf("%zu bytes after the input array", in.n);
    return NULL;
}

/* groups serves reduce: [[v...]...] -> each group folded left. */
static const char *groups(const function *f, bytes in) {
    size_t n;
    const char *err = array_header(&in, &n);
    if (err) return badf("want an array of groups: %s", err);
    response_header(n);
    for (size_t i = 0; i < n; i++) {
        size_t m;
        if ((err = array_header(&in, &m))) return badf("group %zu: %s", i, err);
        if (m == 0) return badf("group %zu is empty; a group has at least one value", i);
        size_t mark = out.len;
        bytes raw;
        if ((err = next(&in, &raw))) return badf("group %zu: %s", i, err);
        if (m == 1) { /* a group of one is its own result */
            put(&out, raw.p, raw.n);
            continue;
        }
        ws_value acc;
        const char *ferr = decode(&raw, 0, &acc);
        for (size_t j = 1; j < m; j++) {
            if ((err = next(&in, &raw))) return badf("group %zu value %zu: %s", i, j, err);
            if (ferr) continue; /* keep splitting the group so the next one starts right */
            ws_value v;
            if (!(ferr = decode(&raw, 0, &v))) {
                ws_result r = f->reduce(acc, v);
                acc = r.value;
                ferr = r.error;
            }
        }
        if (!ferr) ferr = encode(&out, acc, 0);
        if (ferr) fail(i, mark, ferr);
    }
    if (in.n) return badf("%zu bytes after the input array", in.n);
    return NULL;
}

static const char *read_option(bytes *in, bytes *v, bool *some) {
    bytes start = *in;
    size_t n;
    const char *err = array_header(in, &n);
    if (err) return err;
    if (n == 0) { *some = false; return NULL; }
    if (n == 1) {
        *some = true;
        if ((err = next(in, v))) *in = start;
        return err;
    }
    *in = start;
    return errf("want [] or [value], got an array of %zu", n);
}

/* timed_items reads the head of an update or mapState input, [time_ms,
 * [item...]], whose items have the given shape: the time, the number of
 * items and the bytes that hold them. An empty input array is legal for
 * every kind (ABI.md §6) and has no items. */
static const char *timed_items(bytes in, const char *shape, int64_t *t, size_t *n, bytes *rest) {
    *rest = in;
    *t = 0;
    const char *err = array_header(rest, n);
    if (err || (*n != 0 && *n != 2))
        return badf("want [time_ms, [[%s]...]], got %s", shape, describe_raw(in));
    if (*n == 0) return NULL;
    if ((err = read_int(rest, t))) return badf("time_ms: %s", err);
    if ((err = array_header(rest, n))) return badf("want an array of [%s]: %s", shape, err);
    return NULL;
}

static const char *update_entry(const function *f, bytes key, bytes vals, bytes state, bool some, int64_t t) {
    ws_value k, vs, s = ws_none();
    const char *err;
    if ((err = decode(&key, 0, &k))) return errf("key: %s", err);
    if ((err = decode(&vals, 0, &vs))) return errf("values: %s", err);
    if (some) {
        ws_value x;
        if ((err = decode(&state, 0, &x))) return errf("state: %s", err);
        s = ws_some(x);
    }
    ws_result r = f->update(k, vs, s, t);
    if (r.error) return r.error;
    if (r.value.type != WS_ARRAY || r.value.a.len > 1)
        return "update result must be an option: ws_none() or ws_some(v)";
    if (r.value.a.len == 0) { put1(&out, 0x90); return NULL; }
    put1(&out, 0x91);
    return encode(&out, r.value.a.items[0], 0);
}

/* update serves updateStateByKey: [time_ms, [[key, [v...], [s]|[]]...]] ->
 * one state option per key. */
static const char *update(const function *f, bytes in) {
    int64_t t;
    size_t n;
    bytes rest;
    const char *err = timed_items(in, "key, values, state", &t, &n, &rest);
    if (err) return err;
    response_header(n);
    for (size_t i = 0; i < n; i++) {
        size_t m;
        if (array_header(&rest, &m) || m != 3) return badf("entry %zu: want [key, values, state]", i);
        bytes key, vals, state = {0};
        bool some;
        if ((err = next(&rest, &key))) return badf("entry %zu key: %s", i, err);
        if (next(&rest, &vals) || type_of(vals) != T_ARRAY) return badf("entry %zu: want an array of values", i);
        if ((err = read_option(&rest, &state, &some))) return badf("entry %zu: state must be [] or [value]: %s", i, err);
        size_t mark = out.len;
        if ((err = update_entry(f, key, vals, state, some, t))) fail(i, mark, err);
    }
    if (rest.n) return badf("%zu bytes after the input", rest.n);
    return NULL;
}

/* map_state_item calls f for one key's values (once, with none, when the
 * key is timing out) and writes [outs, change] (ABI.md §6.1). */
static const char *map_state_item(const function *f, int64_t t, bytes key, bytes state, bool some, bytes vals, bool timing_out) {
    ws_value k, vs;
    ws_state st = {0};
    const char *err;
    if ((err = decode(&key, 0, &k))) return errf("key: %s", err);
    if (some) {
        if ((err = decode(&state, 0, &st.value))) return errf("state: %s", err);
        st.exists = true;
    }
    if ((err = decode(&vals, 0, &vs))) return errf("values: %s", err);
    if (timing_out && (vs.a.len != 0 || !st.exists)) return "a timing-out key comes with a state and no values";
    if (!timing_out && vs.a.len == 0) return "a key with no values that is not timing out";
    st.timing_out = timing_out;
    size_t calls = timing_out ? 1 : vs.a.len;
    put1(&out, 0x92);
    put_array_header(&out, calls);
    for (size_t i = 0; i < calls; i++) {
        ws_value v = timing_out ? ws_none() : ws_some(vs.a.items[i]);
        ws_result r = f->map_state(t, k, v, &st);
        if (st.misuse) return st.misuse;
        if (r.error) return r.error;
        if (r.value.type != WS_ARRAY || r.value.a.len > 1)
            return "a mapState function returns an option: ws_none() or ws_some(x)";
        if (r.value.a.len == 0) {
            put1(&out, 0x90);
            continue;
        }
        put1(&out, 0x91);
        if ((err = encode(&out, r.value.a.items[0], 0))) return err;
    }
    if (!st.changed) { put1(&out, 0xc0); return NULL; }
    if (!st.exists) { put1(&out, 0x90); return NULL; }
    put1(&out, 0x91);
    return encode(&out, st.value, 0);
}

/* map_state serves mapWithState: [time_ms, [[key, state, [v...],
 * timing_out]...]] -> one [outs, change] per key. */
static const char *map_state(const function *f, bytes in) {
    int64_t t;
    size_t n;
    bytes rest;
    const char *err = timed_items(in, "key, state, values, timing_out", &t, &n, &rest);
    if (err) return err;
    response_header(n);
    for (size_t i = 0; i < n; i++) {
        size_t m;
        if (array_header(&rest, &m) || m != 4) return badf("item %zu: want [key, state, values, timing_out]", i);
        bytes key, vals, state = {0}, flag;
        bool some;
        if ((err = next(&rest, &key))) return badf("item %zu key: %s", i, err);
        if ((err = read_option(&rest, &state, &some))) return badf("item %zu: state must be [] or [value]: %s", i, err);
        if (next(&rest, &vals) || type_of(vals) != T_ARRAY) return badf("item %zu: want an array of values", i);
        if (next(&rest, &flag) || type_of(flag) != T_BOOL) return badf("item %zu: timing_out must be a bool", i);
        size_t mark = out.len;
        if ((err = map_state_item(f, t, key, state, some, vals, flag.p[0] == 0xc3))) fail(i, mark, err);
    }
    if (rest.n) return badf("%zu bytes after the input", rest.n);
    return NULL;
}

static void handle(int32_t fn, bytes in) {
    out.len = 0;
    nerrs = 0;
    bad_input = false;
    if (fn < 0 || (size_t)fn >= plugin.n) {
        buf q = {0};
        put_go_quote(&q, (const uint8_t *)plugin.name, strlen(plugin.name));
        const char *name = buf_str(&q);
        free(q.p);
        error_response(2, errf("plugin %s has no function %d (it has %zu)", name, fn, plugin.n));
        return;
    }
    const function *f = &plugin.fns[fn];
    const char *err;
    current_fn = fn;
    switch (f->kind) {
    case K_REDUCE: err = groups(f, in); break;
    case K_UPDATE: err = update(f, in); break;
    case K_MAP_STATE: err = map_state(f, in); break;
    default: err = elements(f, in);
    }
    if (err) {
        error_response(bad_input ? 1 : 3, errf("%s: %s", f->name, err));
        return;
    }
    put_array_header(&out, nerrs);
    for (size_t i = 0; i < nerrs; i++) {
        put1(&out, 0x92);
        put_int(&out, (int64_t)errs[i].index);
        put_str(&out, errs[i].msg, strlen(errs[i].msg));
    }
}

/* ---- the ABI v1 exports (ABI.md §2) ---- */

static uint8_t *in_buf; /* the last wstream_alloc buffer */
static size_t in_cap;
static buf manifest_buf;

static int64_t pack(const void *p, size_t n) {
    return (int64_t)((uint64_t)(uintptr_t)p << 32 | (uint32_t)n);
}

__attribute__((export_name("wstream_abi_version")))
int32_t wstream_abi_version(void) { return 1; }

/* The old buffer is reused while it is big enough; growing doubles it so
 * that slowly growing batches do not allocate on every call. */
__attribute__((export_name("wstream_alloc")))
int32_t wstream_alloc(int32_t size) {
    if (size < 0) return 0;
    if (!in_buf || (size_t)size > in_cap) {
        size_t cap = (size_t)size;
        if (cap < 2 * in_cap) cap = 2 * in_cap;
        if (cap < 64) cap = 64;
        free(in_buf);
        in_buf = malloc(cap);
        in_cap = in_buf ? cap : 0;
    }
    return (int32_t)(uintptr_t)in_buf;
}

__attribute__((export_name("wstream_manifest")))
int64_t wstream_manifest(void) {
    buf *b = &manifest_buf;
    b->len = 0;
    bool pipe = plugin.pipeline && *plugin.pipeline;
    put_map_header(b, pipe ? 6 : 5);
    put_str(b, "abi", 3);
    put_int(b, 1);
    put_str(b, "name", 4);
    put_str(b, plugin.name, strlen(plugin.name));
    put_str(b, "version", 7);
    put_str(b, plugin.version, strlen(plugin.version));
    put_str(b, "language", 8);
    put_str(b, plugin.language, strlen(plugin.language));
    put_str(b, "functions", 9);
    put_array_header(b, plugin.n);
    for (size_t i = 0; i < plugin.n; i++) {
        const char *kind = kind_names[plugin.fns[i].kind];
        put_map_header(b, 2);
        put_str(b, "name", 4);
        put_str(b, plugin.fns[i].name, strlen(plugin.fns[i].name));
        put_str(b, "kind", 4);
        put_str(b, kind, strlen(kind));
    }
    if (pipe) {
        put_str(b, "pipeline", 8);
        put_str(b, plugin.pipeline, strlen(plugin.pipeline));
    }
    return pack(b->p, b->len);
}

__attribute__((export_name("wstream_call")))
int64_t wstream_call(int32_t fn, int32_t ptr, int32_t len) {
    arena_reset();
    uintptr_t base = (uintptr_t)in_buf, p = (uint32_t)ptr;
    size_t n = (uint32_t)len;
    /* The input must lie inside the alloc buffer, so that a confused host
     * cannot make the guest read memory it does not own. */
    if (in_buf && p >= base && (uint64_t)(p - base) + n <= in_cap) {
        bytes in = {(const uint8_t *)p, n};
        handle(fn, in);
    } else if (n == 0) {
        bytes in = {NULL, 0};
        handle(fn, in);
    } else {
        error_response(1, "input is not inside the wstream_alloc buffer");
    }
    return pack(out.p, out.len);
}
