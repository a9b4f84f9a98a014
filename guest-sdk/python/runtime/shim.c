/* shim.c - CPython embedded as a wstream guest (batch ABI v1, abi/ABI.md).
 *
 * The ABI itself (exports, msgpack, batch loops, per-record errors, the
 * manifest) is the C SDK's, linked in: this file registers one C
 * callback per function kind with it, and the callback converts the decoded
 * values to Python objects, calls the Python function the author decorated
 * and converts its result back.
 *
 * Start-up (_initialize, from the constructor below): initialize the
 * interpreter without any file system, install the bundle importer
 * (bootstrap.py) for the standard library and the author's files, which
 * live in passive data segments that pybuild fills, then import the
 * author's main module; its decorators register the functions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wstream.h"
#include "bootstrap.h" /* BOOTSTRAP_PY: bootstrap.py as a C string */

#define MAX_DEPTH 512

/* Where the standard library's modules say they come from (bootstrap.py). */
#define STDLIB_PREFIX "/usr/lib/python3.11/"

/* ---- bundles ----
 *
 * A bundle is a passive data segment. pybuild replaces the body of each
 * function below with `memory.init SEG (dst, off, len)` and a constant
 * result, the bundle's size. Weak and opaque here so that the compiler
 * neither inlines them nor assumes their result; their exports only let
 * pybuild find them, and it removes them. */

static volatile uint32_t no_bundle;

__attribute__((weak, noinline, export_name("wstream_py_bundle_stdlib")))
uint32_t wstream_py_bundle_stdlib(uint32_t dst, uint32_t off, uint32_t len) {
    (void)dst, (void)off, (void)len;
    return no_bundle;
}

__attribute__((weak, noinline, export_name("wstream_py_bundle_app")))
uint32_t wstream_py_bundle_app(uint32_t dst, uint32_t off, uint32_t len) {
    (void)dst, (void)off, (void)len;
    return no_bundle;
}

typedef uint32_t (*bundle_fn)(uint32_t, uint32_t, uint32_t);
static const bundle_fn bundles[] = {wstream_py_bundle_stdlib, wstream_py_bundle_app};

static void die(const char *fmt, const char *arg) __attribute__((noreturn));
static void die(const char *fmt, const char *arg) {
    /* A broken start is the plugin's bug: trap in _initialize, and the host
     * refuses the module showing this stderr. */
    fputs("wstream python: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

static void out_of_memory(void) __attribute__((noreturn));
static void out_of_memory(void) {
    /* The words "out of memory" tell the host that the memory limit, not
     * a bug, ended the call; it discards this instance. */
    fputs("wstream python: out of memory (MemoryError)\n", stderr);
    fflush(stderr);
    abort();
}

/* ---- values: ws_value (the C SDK's decoded msgpack) <-> Python ---- */

static PyObject *to_py(ws_value v, int depth);

/* Strings that are not UTF-8 pass through: surrogateescape turns each bad
 * byte into a lone surrogate, and from_py turns it back. */
static PyObject *str_to_py(const char *p, size_t n) {
    return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "surrogateescape");
}

static PyObject *to_py(ws_value v, int depth) {
    switch (v.type) {
    case WS_NIL: Py_RETURN_NONE;
    case WS_BOOL: return PyBool_FromLong(v.b);
    case WS_INT: return PyLong_FromLongLong(v.i);
    case WS_UINT: return PyLong_FromUnsignedLongLong(v.u);
    case WS_FLOAT: return PyFloat_FromDouble(v.f);
    case WS_STR: return str_to_py(v.s.ptr, v.s.len);
    case WS_BIN: return PyBytes_FromStringAndSize(v.s.ptr, (Py_ssize_t)v.s.len);
    case WS_ARRAY: {
        if (depth > MAX_DEPTH) return PyErr_Format(PyExc_ValueError, "nesting deeper than %d", MAX_DEPTH);
        PyObject *l = PyList_New((Py_ssize_t)v.a.len);
        if (!l) return NULL;
        for (size_t i = 0; i < v.a.len; i++) {
            PyObject *x = to_py(v.a.items[i], depth + 1);
            if (!x) { Py_DECREF(l); return NULL; }
            PyList_SET_ITEM(l, (Py_ssize_t)i, x);
        }
        return l;
    }
    case WS_MAP: {
        if (depth > MAX_DEPTH) return PyErr_Format(PyExc_ValueError, "nesting deeper than %d", MAX_DEPTH);
        PyObject *d = PyDict_New();
        if (!d) return NULL;
        for (size_t i = 0; i < v.m.len; i++) {
            PyObject *k = to_py(v.m.items[i].key, depth + 1);
            PyObject *x = k ? to_py(v.m.items[i].value, depth + 1) : NULL;
            int err = !x || PyDict_SetItem(d, k, x) < 0;
            Py_XDECREF(k);
            Py_XDECREF(x);
            if (err) { Py_DECREF(d); return NULL; }
        }
        return d;
    }
    }
    return PyErr_Format(PyExc_ValueError, "unknown value type %d", (int)v.type);
}

/* Objects whose memory ws_values point into (strings, bytes) must stay
 * alive until the C SDK has encoded them: the result of a call is held
 * until the next call of a function starts, and so are the bytes made for
 * strings with lone surrogates (rare, hence a list). */
static PyObject *held, *extra;

static int pin(PyObject *o) { return PyList_Append(extra, o); }

static void release(void) {
    Py_CLEAR(held);
    if (PyList_GET_SIZE(extra)) PyList_SetSlice(extra, 0, PyList_GET_SIZE(extra), NULL);
}

/* from_py converts o into *v, or returns -1 with a Python exception set.
 * Memory comes from the C SDK's per-call arena; strings point into the
 * Python objects, which the caller keeps alive (held, extra). */
static int str_from_py(PyObject *o, ws_value *v) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n);
    if (!p) { /* lone surrogates: the bytes surrogateescape decoded */
        PyErr_Clear();
        PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
        if (!b) return -1;
        int err = pin(b);
        Py_DECREF(b);
        if (err) return -1;
        p = PyBytes_AS_STRING(b);
        n = PyBytes_GET_SIZE(b);
    }
    *v = ws_strn(p, (size_t)n);
    return 0;
}

static int from_py(PyObject *o, ws_value *v, int depth) {
    if (PyUnicode_CheckExact(o)) return str_from_py(o, v);
    if (depth > MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError, "nesting deeper than %d (a list that contains itself?)", MAX_DEPTH);
        return -1;
    }
    if (o == Py_None) { *v = ws_nil(); return 0; }
    if (PyBool_Check(o)) { *v = ws_bool(o == Py_True); return 0; }
    if (PyLong_Check(o)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow) {
            if (i == -1 && PyErr_Occurred()) return -1;
            *v = ws_int(i);
            return 0;
        }
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(o);
            if (!PyErr_Occurred()) {
                ws_value x = {.type = WS_UINT, .u = u};
                *v = x;
                return 0;
            }
            PyErr_Clear();
        }
        PyErr_Format(PyExc_OverflowError, "int %R does not fit in 64 bits", o);
        return -1;
    }
    if (PyList_Check(o) || PyTuple_Check(o)) {
        /* nothing below runs Python code, so a list cannot change under us */
        Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
        PyObject **items = PySequence_Fast_ITEMS(o);
        ws_value a = ws_array((size_t)n);
        for (Py_ssize_t i = 0; i < n; i++)
            if (from_py(items[i], &a.a.items[i], depth + 1) < 0) return -1;
        *v = a;
        return 0;
    }
    if (PyFloat_Check(o)) { *v = ws_float(PyFloat_AS_DOUBLE(o)); return 0; }
    if (PyUnicode_Check(o)) return str_from_py(o, v);
    if (PyDict_Check(o)) {
        ws_value m = ws_map((size_t)PyDict_GET_SIZE(o));
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *x;
        while (PyDict_Next(o, &pos, &k, &x)) {
            if (!PyUnicode_Check(k)) {
                PyErr_Format(PyExc_TypeError, "a dict sent to wstream needs str keys, not %.100s", Py_TYPE(k)->tp_name);
                return -1;
            }
            if (str_from_py(k, &m.m.items[i].key) < 0 || from_py(x, &m.m.items[i].value, depth + 1) < 0) return -1;
            i++;
        }
        *v = m;
        return 0;
    }
    if (PyBytes_Check(o)) { *v = ws_bin(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o)); return 0; }
    if (PyByteArray_Check(o)) {
        /* copied: the author may change the bytearray after returning it */
        size_t n = (size_t)PyByteArray_GET_SIZE(o);
        void *p = ws_alloc(n);
        if (n) memcpy(p, PyByteArray_AS_STRING(o), n);
        *v = ws_bin(p, n);
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "cannot send a value of type %.100s (use None, bool, int, float, str, bytes, list, tuple or dict)",
                 Py_TYPE(o)->tp_name);
    return -1;
}

/* ---- errors ---- */

/* py_error takes the current Python exception and returns it as a record
 * error message: "ValueError: bad line (app.py:12 in parse)". A MemoryError
 * is not a record's fault but the instance's limit: it ends the call. */
static const char *py_error(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type) return "unknown error";
    PyErr_NormalizeException(&type, &value, &tb);
    if (PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) out_of_memory();
    const char *name = ((PyTypeObject *)type)->tp_name;
    const char *dot = strrchr(name, '.');
    if (dot) name = dot + 1;
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    if (!msg) { PyErr_Clear(); msg = ""; }
    /* where it was raised: the innermost frame of the author's files,
     * else (an SDK or library function registered directly) the innermost */
    char where[256] = "";
    PyTracebackObject *t = NULL, *innermost = NULL;
    for (PyTracebackObject *f = (PyTracebackObject *)tb; f; f = f->tb_next) {
        PyCodeObject *code = PyFrame_GetCode(f->tb_frame);
        const char *file = PyUnicode_AsUTF8(code->co_filename);
        if (file && strncmp(file, STDLIB_PREFIX, sizeof STDLIB_PREFIX - 1)) t = f;
        innermost = f;
        Py_DECREF(code);
    }
    PyErr_Clear();
    if (!t) t = innermost;
    if (t) {
        PyCodeObject *code = PyFrame_GetCode(t->tb_frame);
        const char *file = PyUnicode_AsUTF8(code->co_filename);
        const char *fn = PyUnicode_AsUTF8(code->co_name);
        if (file && fn) snprintf(where, sizeof where, " (%s:%d in %s)", file, PyFrame_GetLineNumber(t->tb_frame), fn);
        Py_DECREF(code);
        PyErr_Clear();
    }
    size_t n = strlen(name) + strlen(msg) + strlen(where) + 3;
    char *out = ws_alloc(n);
    snprintf(out, n, *msg ? "%s: %s%s" : "%s%s%s", name, msg, where);
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return out;
}

/* ---- functions: one callback per kind, the Python function by id ---- */

typedef struct {
    PyObject *fn;
    int arity; /* update, mapState: how many arguments the function takes */
} pyfunction;

static pyfunction *fns;
static size_t nfns;

/* begin starts a call of the current function: the previous results have
 * been encoded by now. */
static pyfunction *begin(void) {
    release();
    return &fns[ws_current_function()];
}

/* failed turns the current Python exception into a record error. */
static ws_result failed(void) {
    ws_result r = {ws_nil(), py_error()};
    return r;
}

/* finish converts a function's result (a new reference, or NULL for an
 * exception), keeping it alive until the C SDK has encoded it. */
static ws_result finish(PyObject *r) {
    if (!r) return failed();
    held = r;
    ws_value v;
    if (from_py(r, &v, 0) < 0) return failed();
    return ws_ok(v);
}

static ws_result call1(ws_value x) {
    pyfunction *f = begin();
    PyObject *a = to_py(x, 0);
    if (!a) return failed();
    PyObject *r = PyObject_CallOneArg(f->fn, a);
    Py_DECREF(a);
    return finish(r);
}

static ws_result cb_map(ws_value x) { return call1(x); }

/* flatMap takes any iterable, a generator included, as PySpark does. */
static ws_result cb_flat_map(ws_value x) {
    pyfunction *f = begin();
    PyObject *a = to_py(x, 0);
    if (!a) return failed();
    PyObject *r = PyObject_CallOneArg(f->fn, a);
    Py_DECREF(a);
    if (r && !PyList_CheckExact(r) && !PyTuple_CheckExact(r)) {
        if (PyUnicode_Check(r) || PyBytes_Check(r) || PyDict_Check(r) || r == Py_None) {
            PyErr_Format(PyExc_TypeError, "a flatMap function returns a list or another iterable of values, not %.100s",
                         Py_TYPE(r)->tp_name);
            Py_CLEAR(r);
        } else {
            PyObject *l = PySequence_List(r);
            Py_DECREF(r);
            r = l;
        }
    }
    return finish(r);
}

/* filter keeps x when the result is true, in Python's sense. */
static ws_result cb_filter(ws_value x) {
    pyfunction *f = begin();
    PyObject *a = to_py(x, 0);
    if (!a) return failed();
    PyObject *r = PyObject_CallOneArg(f->fn, a);
    Py_DECREF(a);
    if (!r) return failed();
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (t < 0) return failed();
    return ws_ok(ws_bool(t));
}

/* reduce: the accumulator is the previous result, converted back (the C
 * SDK holds it as a value); a tuple comes back as a list. */
static ws_result cb_reduce(ws_value a, ws_value b) {
    PyObject *x = to_py(a, 0); /* before begin() releases the previous result */
    pyfunction *f = begin();
    if (!x) return failed();
    PyObject *y = to_py(b, 0);
    if (!y) { Py_DECREF(x); return failed(); }
    PyObject *args[] = {x, y};
    PyObject *r = PyObject_Vectorcall(f->fn, args, 2, NULL);
    Py_DECREF(x);
    Py_DECREF(y);
    return finish(r);
}

/* update: PySpark's (values, state), or (key, values, state), or Scala's
 * fullest (time_ms, key, values, state). No state is None, and returning
 * None removes the key, as in PySpark. */
static ws_result cb_update(ws_value key, ws_value values, ws_value state, int64_t time_ms) {
    pyfunction *f = begin();
    PyObject *args[4] = {NULL, NULL, NULL, NULL};
    PyObject *r = NULL;
    int n = f->arity;
    args[0] = PyLong_FromLongLong(time_ms);
    args[1] = to_py(key, 0);
    args[2] = to_py(values, 0);
    if (state.type == WS_ARRAY && state.a.len == 1) args[3] = to_py(state.a.items[0], 0);
    else { args[3] = Py_None; Py_INCREF(Py_None); }
    if (args[0] && args[1] && args[2] && args[3]) r = PyObject_Vectorcall(f->fn, args + 4 - n, (size_t)n, NULL);
    for (int i = 0; i < 4; i++) Py_XDECREF(args[i]);
    if (!r) return failed();
    if (r == Py_None) {
        Py_DECREF(r);
        return ws_ok(ws_none());
    }
    ws_result res = finish(r);
    if (res.error) return res;
    return ws_ok(ws_some(res.value));
}

/* ---- mapState: the wstream package's State, mirrored onto the C SDK's ---- */

/* The wstream package's State and Some classes (state_types), the one
 * State object every call gets (reset before each call, as Spark reuses
 * its StateImpl), and the names of the attributes the shim reads. */
static PyObject *some_cls, *state_obj;
static PyObject *a_value, *a_exists, *a_timing_out, *a_changed, *a_misuse, *a_some_value;

/* own copies the bytes of v's strings into the call's arena: a state set
 * by one call is encoded only after the key's last call, when the Python
 * objects it came from may be gone. */
static void own(ws_value *v) {
    switch (v->type) {
    case WS_STR:
    case WS_BIN:
        if (v->s.len) {
            char *p = ws_alloc(v->s.len);
            memcpy(p, v->s.ptr, v->s.len);
            v->s.ptr = p;
        }
        break;
    case WS_ARRAY:
        for (size_t i = 0; i < v->a.len; i++) own(&v->a.items[i]);
        break;
    case WS_MAP:
        for (size_t i = 0; i < v->m.len; i++) {
            own(&v->m.items[i].key);
            own(&v->m.items[i].value);
        }
        break;
    default:
        break;
    }
}

static int set_attr(PyObject *name, PyObject *v) {
    int err = v ? PyObject_SetAttr(state_obj, name, v) : -1;
    Py_XDECREF(v);
    return err;
}

/* reset_state makes the State object the key's state as the C SDK holds
 * it before this call. */
static int reset_state(ws_state *st) {
    ws_value cur = ws_state_get(st);
    int exists = cur.a.len == 1;
    PyObject *v = exists ? to_py(cur.a.items[0], 0) : Py_NewRef(Py_None);
    if (set_attr(a_value, v) < 0 || set_attr(a_exists, PyBool_FromLong(exists)) < 0 ||
        set_attr(a_timing_out, PyBool_FromLong(ws_state_timing_out(st))) < 0 ||
        set_attr(a_changed, Py_NewRef(Py_False)) < 0 || set_attr(a_misuse, Py_NewRef(Py_None)) < 0)
        return -1;
    return 0;
}

/* apply_state passes the call's change of the State object on to the C
 * SDK, which reports the key's net change after its last call. */
static int apply_state(ws_state *st) {
    PyObject *changed = PyObject_GetAttr(state_obj, a_changed);
    if (!changed) return -1;
    int c = PyObject_IsTrue(changed);
    Py_DECREF(changed);
    if (c <= 0) return c;
    PyObject *exists = PyObject_GetAttr(state_obj, a_exists);
    if (!exists) return -1;
    int e = PyObject_IsTrue(exists);
    Py_DECREF(exists);
    if (e < 0) return -1;
    if (!e) {
        ws_state_remove(st);
        return 0;
    }
    PyObject *value = PyObject_GetAttr(state_obj, a_value);
    if (!value) return -1;
    ws_value v;
    int err = from_py(value, &v, 0);
    if (!err) {
        own(&v);
        ws_state_update(st, v);
    }
    Py_DECREF(value);
    return err;
}

/* misuse is the message of an update or remove tried in a timeout call:
 * it fails the key whatever the function did next (even if it caught the
 * RuntimeError), with the words every SDK uses. The Python error
 * indicator is left as it was. */
static const char *misuse(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    const char *msg = NULL;
    PyObject *m = PyObject_GetAttr(state_obj, a_misuse);
    if (m && PyUnicode_Check(m)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(m, &n);
        if (p) {
            char *c = ws_alloc((size_t)n + 1);
            memcpy(c, p, (size_t)n);
            msg = c;
        }
    }
    Py_XDECREF(m);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    return msg;
}

/* map_state: Spark's (key, value, state) or (time_ms, key, value, state).
 * The value is None in a timeout call; None returned emits nothing, and
 * Some(x) emits x even when x is None. */
static ws_result cb_map_state(int64_t time_ms, ws_value key, ws_value value, ws_state *st) {
    pyfunction *f = begin();
    if (!state_obj) return (ws_result){ws_nil(), "the wstream package did not register its State class"};
    if (reset_state(st) < 0) return failed();
    PyObject *args[4] = {PyLong_FromLongLong(time_ms), to_py(key, 0),
                         value.a.len == 1 ? to_py(value.a.items[0], 0) : Py_NewRef(Py_None), Py_NewRef(state_obj)};
    PyObject *r = NULL;
    int n = f->arity;
    if (args[0] && args[1] && args[2]) r = PyObject_Vectorcall(f->fn, args + 4 - n, (size_t)n, NULL);
    for (int i = 0; i < 4; i++) Py_XDECREF(args[i]);
    const char *bad = misuse();
    if (bad) {
        Py_XDECREF(r);
        PyErr_Clear();
        return (ws_result){ws_nil(), bad};
    }
    if (!r) return failed();
    if (apply_state(st) < 0) {
        Py_DECREF(r);
        return failed();
    }
    if (r == Py_None) {
        Py_DECREF(r);
        return ws_ok(ws_none());
    }
    if (Py_IS_TYPE(r, (PyTypeObject *)some_cls)) {
        PyObject *x = PyObject_GetAttr(r, a_some_value);
        Py_DECREF(r);
        if (!x) return failed();
        r = x;
    }
    ws_result res = finish(r);
    if (res.error) return res;
    return ws_ok(ws_some(res.value));
}

/* The kinds, by the names the Python SDK registers them with. A new kind
 * is a callback above and a row here (and a decorator in wstream/). */
typedef void (*reg_map)(const char *, ws_map_fn);
static const struct {
    const char *kind;
    reg_map reg1;
    ws_map_fn cb1;
    void (*reg2)(const char *, ws_reduce_fn);
    ws_reduce_fn cb2;
    void (*reg4)(const char *, ws_update_fn);
    ws_update_fn cb4;
    void (*reg_state)(const char *, ws_map_state_fn);
    ws_map_state_fn cb_state;
} kinds[] = {
    {"map", ws_register_map, cb_map, NULL, NULL, NULL, NULL, NULL, NULL},
    {"flatMap", ws_register_flat_map, cb_flat_map, NULL, NULL, NULL, NULL, NULL, NULL},
    {"filter", ws_register_filter, cb_filter, NULL, NULL, NULL, NULL, NULL, NULL},
    {"reduce", NULL, NULL, ws_register_reduce, cb_reduce, NULL, NULL, NULL, NULL},
    {"update", NULL, NULL, NULL, NULL, ws_register_update, cb_update, NULL, NULL},
    {"mapState", NULL, NULL, NULL, NULL, NULL, NULL, ws_register_map_state, cb_map_state},
};

/* ---- the _wstream module: what the wstream package calls ---- */

static char *keep(const char *s) {
    char *c = strdup(s);
    if (!c) out_of_memory();
    return c;
}

/* register(kind, name, fn, arity) -> id. The wstream package has checked
 * the name and the arity; this checks what only the C side knows. */
static PyObject *m_register(PyObject *self, PyObject *args) {
    (void)self;
    const char *kind, *name;
    PyObject *fn;
    int arity;
    if (!PyArg_ParseTuple(args, "ssOi", &kind, &name, &fn, &arity)) return NULL;
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].kind, kind)) k++;
    if (k == sizeof kinds / sizeof kinds[0]) return PyErr_Format(PyExc_ValueError, "unknown function kind %s", kind);
    pyfunction *grown = realloc(fns, (nfns + 1) * sizeof *fns);
    if (!grown) return PyErr_NoMemory();
    fns = grown;
    Py_INCREF(fn);
    fns[nfns].fn = fn;
    fns[nfns].arity = arity;
    nfns++;
    char *n = keep(name);
    if (kinds[k].reg1) kinds[k].reg1(n, kinds[k].cb1);
    else if (kinds[k].reg2) kinds[k].reg2(n, kinds[k].cb2);
    else if (kinds[k].reg4) kinds[k].reg4(n, kinds[k].cb4);
    else kinds[k].reg_state(n, kinds[k].cb_state);
    return PyLong_FromSize_t(nfns - 1);
}

/* state_types(State, Some): the wstream package's classes, which the
 * mapState callback uses (one State object for every call). */
static PyObject *m_state_types(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *state_cls, *some;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &state_cls, &PyType_Type, &some)) return NULL;
    if (state_obj) return PyErr_Format(PyExc_RuntimeError, "state_types is set once, by the wstream package");
    static const char *names[] = {"_value", "_exists", "_timing_out", "_changed", "_misuse", "value"};
    PyObject **attrs[] = {&a_value, &a_exists, &a_timing_out, &a_changed, &a_misuse, &a_some_value};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!(*attrs[i] = PyUnicode_InternFromString(names[i]))) return NULL;
    PyObject *st = PyObject_CallNoArgs(state_cls);
    if (!st) return NULL;
    state_obj = st;
    some_cls = Py_NewRef(some);
    Py_RETURN_NONE;
}

static PyObject *m_plugin(PyObject *self, PyObject *args) {
    (void)self;
    const char *name, *version;
    if (!PyArg_ParseTuple(args, "ss", &name, &version)) return NULL;
    ws_plugin(keep(name), keep(version));
    Py_RETURN_NONE;
}

static PyObject *m_pipeline(PyObject *self, PyObject *args) {
    (void)self;
    const char *yaml;
    if (!PyArg_ParseTuple(args, "s", &yaml)) return NULL;
    ws_default_pipeline(keep(yaml));
    Py_RETURN_NONE;
}

static PyObject *m_log(PyObject *self, PyObject *args) {
    (void)self;
    int level;
    const char *msg;
    if (!PyArg_ParseTuple(args, "is", &level, &msg)) return NULL;
    ws_log(level, "%s", msg);
    Py_RETURN_NONE;
}

/* bundle_read(slot, offset, length) -> bytes, from a bundle's segment;
 * bundle_read(slot) -> its size. */
static PyObject *m_bundle_read(PyObject *self, PyObject *args) {
    (void)self;
    unsigned int slot, off = 0, len = 0;
    int with_range = PyTuple_GET_SIZE(args) > 1;
    if (!PyArg_ParseTuple(args, "I|II", &slot, &off, &len)) return NULL;
    if (slot >= sizeof bundles / sizeof bundles[0]) return PyErr_Format(PyExc_ValueError, "no bundle %u", slot);
    uint32_t size = bundles[slot](0, 0, 0);
    if (!with_range) return PyLong_FromUnsignedLong(size);
    if (off > size || len > size - off) return PyErr_Format(PyExc_ValueError, "bundle %u: %u bytes at %u past its end (%u)", slot, len, off, size);
    PyObject *b = PyBytes_FromStringAndSize(NULL, len);
    if (!b) return NULL;
    bundles[slot]((uint32_t)(uintptr_t)PyBytes_AS_STRING(b), off, len);
    return b;
}

/* The C SDK's value helpers, so that Python plugins compute and print
 * values exactly as every other SDK (and the host) does. */
static PyObject *value_op(PyObject *args, ws_result (*op)(ws_value, ws_value)) {
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    ws_value x, y;
    if (from_py(a, &x, 0) < 0 || from_py(b, &y, 0) < 0) return NULL;
    ws_result r = op(x, y);
    if (r.error) {
        PyErr_SetString(PyExc_TypeError, r.error);
        return NULL;
    }
    return to_py(r.value, 0);
}

static PyObject *m_add(PyObject *self, PyObject *args) { (void)self; return value_op(args, ws_add); }
static PyObject *m_sub(PyObject *self, PyObject *args) { (void)self; return value_op(args, ws_sub); }

static PyObject *m_text(PyObject *self, PyObject *o) {
    (void)self;
    ws_value v;
    if (from_py(o, &v, 0) < 0) return NULL;
    ws_value t = ws_text(v);
    return str_to_py(t.s.ptr, t.s.len);
}

static PyObject *m_type_name(PyObject *self, PyObject *o) {
    (void)self;
    ws_value v;
    if (from_py(o, &v, 0) < 0) return NULL;
    return PyUnicode_FromString(ws_type_name(v));
}

static PyMethodDef methods[] = {
    {"register", m_register, METH_VARARGS, "register(kind, name, fn, arity) -> id"},
    {"state_types", m_state_types, METH_VARARGS, "state_types(State, Some): the classes mapState functions use"},
    {"plugin", m_plugin, METH_VARARGS, "plugin(name, version)"},
    {"pipeline", m_pipeline, METH_VARARGS, "pipeline(yaml)"},
    {"log", m_log, METH_VARARGS, "log(level, message)"},
    {"bundle_read", m_bundle_read, METH_VARARGS, "bundle_read(slot[, offset, length])"},
    {"add", m_add, METH_VARARGS, "add(a, b): numbers as Spark adds them"},
    {"sub", m_sub, METH_VARARGS, "sub(a, b): numbers as Spark subtracts them"},
    {"text", m_text, METH_O, "text(x): x as Scala's toString shows it"},
    {"type_name", m_type_name, METH_O, "type_name(x): x's type as the Go SDK names it"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wstream", NULL, -1, methods, NULL, NULL, NULL, NULL};

static PyObject *init_module(void) { return PyModule_Create(&module); }

/* ---- start-up ---- */

static void check(PyStatus st, const char *what) {
    if (PyStatus_Exception(st)) die("%s failed", st.err_msg ? st.err_msg : what);
}

/* print_and_die shows the Python traceback (the author's syntax error or
 * the exception their module raised) on stderr and fails the start. */
static void print_and_die(const char *what) __attribute__((noreturn));
static void print_and_die(const char *what) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) out_of_memory();
    PyErr_Print();
    die("%s", what);
}

__attribute__((constructor)) static void start(void) {
    ws_language("python");
    if (PyImport_AppendInittab("_wstream", init_module) < 0) die("%s", "cannot add the _wstream module");

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.pathconfig_warnings = 0;
    config.module_search_paths_set = 1; /* empty: every import comes from a bundle */
    config.use_frozen_modules = 1;
    config.buffered_stdio = 0;
    /* Fixed string hashing: a set's order must not change between
     * instances, engines or a replay after a failure. */
    config.use_hash_seed = 1;
    config.hash_seed = 0;
    config._init_main = 0; /* stop before encodings are imported: the bundles are not installed yet */
    check(PyConfig_SetString(&config, &config.program_name, L"wstream-python"), "program name");
    check(PyConfig_SetString(&config, &config.home, L"/"), "home");
    check(PyConfig_SetString(&config, &config.stdio_encoding, L"utf-8"), "stdio encoding");
    check(PyConfig_SetString(&config, &config.stdio_errors, L"backslashreplace"), "stdio errors");
    check(Py_InitializeFromConfig(&config), "Python initialization");
    PyConfig_Clear(&config);

    extra = PyList_New(0);
    if (!extra) print_and_die("cannot start");

    /* bootstrap.py installs the importer; it needs only builtins. */
    PyObject *globals = PyDict_New();
    if (!globals || PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
        print_and_die("cannot start");
    PyObject *code = Py_CompileString(BOOTSTRAP_PY, "<wstream bootstrap>", Py_file_input);
    PyObject *r = code ? PyEval_EvalCode(code, globals, globals) : NULL;
    Py_XDECREF(code);
    if (!r) print_and_die("the bundle importer failed");
    Py_DECREF(r);

    check(_Py_InitializeMain(), "Python initialization");

    /* The author's module, whose decorators register the functions. */
    PyObject *run = PyDict_GetItemString(globals, "run_app");
    if (!run) die("%s", "bootstrap.py defines no run_app");
    r = PyObject_CallNoArgs(run);
    if (!r && PyErr_ExceptionMatches(PyExc_SystemExit)) die("%s", "the plugin's module failed to load (its traceback is above)");
    if (!r) print_and_die("the plugin's module failed to load (its traceback is above)");
    Py_DECREF(r);
    Py_DECREF(globals);
    if (!nfns) die("%s", "the plugin registers no functions: decorate one with @wstream.map, @wstream.flat_map, ...");
}
