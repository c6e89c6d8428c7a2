/* Compiled twin of the text method 3 (cm2) decoder: aigif/textcoding/cm2.py + rangecoder.py.
 *
 * Optional: setup.py builds it when a C compiler is there; cm2.py falls back to the
 * pure-Python reference otherwise (and when AIGIF_PURE_PYTHON=1). For every payload it must
 * give the same pair of strings as cm2.Model.decode, or raise the same error (same class, same
 * message, field "text"); tests/test_textcoding_cm2_fast.py checks this differentially.
 * spec/text-coding.md, part "method 3" (M3.x) and sections 3.6/4/5, is the normative
 * description.
 *
 * Decoder(keys, start, syms, cum, units, kinds, space, case, flag, uni, max_chars,
 *         malformed, limit) takes the loaded Model's arrays through the buffer protocol
 * without copying them (keys u64, start u32, syms u16, cum u32; a sequence of ints or an
 * unaligned buffer is copied),
 * the unit strings and kinds, the dense cumulative tables (case: 15 x 5, flag: 2 x 3, uni:
 * 4354 entries) and the two exception classes to raise. It refuses (ValueError) any table
 * that the reference would read differently from the rules below or would fail on with
 * something other than a decode error (an empty or non-monotone context table, a symbol
 * outside the lexicon, a missing order-0 table, keys not strictly ascending, a word piece
 * that is not ASCII ...), so that the caller falls back to the reference for it.
 *
 * Arithmetic: TOP = 2^48. The decoder keeps x < rng <= 2^48 (each step checks t < total,
 * so x - r * cum[i] < r * freq), hence x < 2^56 while shifting and every product r * c
 * <= rng: uint64_t holds every value of the reference's unbounded ints.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#define PREFETCH_W(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH(p) ((void)0)
#define PREFETCH_W(p) ((void)0)
#endif

#define WINDOW_BYTES 6
#define TOP ((uint64_t)1 << 48)
#define BOTTOM ((uint64_t)1 << 40)

#define END 0
#define UNI 1
#define ESC 0xFFFF
#define MAX_ORDER 3
enum { P_GAP, P_FIN, P_MID };
enum { C_LOWER, C_FIRST, C_UPPER, C_FLAGS };
enum { K_OTHER, K_PIECE, K_FINAL, K_BOS };
#define NCASE_CTX 15
#define NCASE 4
#define NFLAG 2
#define UNI_SAME 4352
#define NUNI 4353

/* a context table in the hash index: its key and entries a .. b (b: the dummy total entry;
 * b = 0 marks an empty slot, a real table has b > a) */
typedef struct Slot {
    uint64_t key;
    uint32_t a, b;
} Slot;

/* one int array read from Python: a held buffer (no copy) or an owned copy */
typedef struct {
    Py_buffer view;
    int has_view;
    void *owned;
    const void *p;
    Py_ssize_t n;
} Arr;

typedef struct {
    PyObject_HEAD
    Arr akeys, astart, asyms, acum;
    const uint64_t *keys;
    const uint32_t *start;
    const uint16_t *syms;
    const uint32_t *cum;
    Py_ssize_t nctx, nent;
    struct Slot *slots;         /* open addressing over keys, at most half full */
    uint64_t mask;
    int shift;
    const struct Slot *order0[3];   /* the order-0 table of each position class */
    int32_t *order0_index;          /* 3 x nunits: a unit's entry in that table, or -1 */
    Py_ssize_t nunits;
    Py_UCS4 *uchars;            /* the unit strings, concatenated */
    Py_ssize_t *uoff;           /* nunits + 1 */
    uint8_t *ukind;             /* K_PIECE (n), K_FINAL (f), K_BOS (b), else K_OTHER */
    uint8_t *usent;             /* the unit's string holds . ! ? or LF */
    long long space;            /* -1: no unit id equals it */
    uint32_t case_cum[NCASE_CTX][NCASE + 1];
    uint32_t flag_cum[NFLAG][NFLAG + 1];
    uint32_t uni_cum[NUNI + 1];
    Py_ssize_t max_chars;
    PyObject *malformed, *limit;
} Decoder;

/* ------------------------------------------------------------------ table intake */
static int arr_get(Arr *a, PyObject *obj, Py_ssize_t itemsize, const char *what) {
    memset(a, 0, sizeof(*a));
    if (PyObject_CheckBuffer(obj)) {
        if (PyObject_GetBuffer(obj, &a->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return -1;
        a->has_view = 1;
        const char *f = a->view.format ? a->view.format : "B";
        if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN)) f++;
        if (a->view.ndim != 1 || a->view.itemsize != itemsize || f[0] == 0 || f[1] != 0 ||
            !strchr("BHILQN", f[0])) {
            PyErr_Format(PyExc_ValueError, "%s: not a flat array of u%d", what,
                         (int)(8 * itemsize));
            return -1;
        }
        a->n = a->view.len / itemsize;
        if ((uintptr_t)a->view.buf % itemsize) {    /* unaligned (an odd nent puts cum so):
                                                      * an aligned copy */
            a->owned = PyMem_Malloc(a->view.len ? a->view.len : 1);
            if (!a->owned) { PyErr_NoMemory(); return -1; }
            memcpy(a->owned, a->view.buf, a->view.len);
            PyBuffer_Release(&a->view);
            a->has_view = 0;
            a->p = a->owned;
            return 0;
        }
        a->p = a->view.buf;
        return 0;
    }
    PyObject *seq = PySequence_Fast(obj, what);
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    a->owned = PyMem_Malloc(n ? n * itemsize : 1);
    if (!a->owned) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
    uint64_t lim = itemsize == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * itemsize)) - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyLong_Check(v)) { Py_DECREF(seq); PyErr_Format(PyExc_TypeError, "%s: not ints", what); return -1; }
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (PyErr_Occurred() || u > lim) {
            Py_DECREF(seq);
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s: value out of range", what);
            return -1;
        }
        if (itemsize == 8) ((uint64_t *)a->owned)[i] = u;
        else if (itemsize == 4) ((uint32_t *)a->owned)[i] = (uint32_t)u;
        else ((uint16_t *)a->owned)[i] = (uint16_t)u;
    }
    Py_DECREF(seq);
    a->p = a->owned;
    a->n = n;
    return 0;
}

static void arr_free(Arr *a) {
    if (a->has_view) PyBuffer_Release(&a->view);
    a->has_view = 0;
    PyMem_Free(a->owned);
    a->owned = NULL;
}

/* a dense cumulative table (a Python list cum, cum[0] = 0, non-decreasing, total >= 1) */
static int dense_get(uint32_t *out, Py_ssize_t n, PyObject *obj, const char *what) {
    PyObject *seq = PySequence_Fast(obj, what);
    if (!seq) return -1;
    int rc = -1;
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        PyErr_Format(PyExc_ValueError, "%s: %zd entries, expected %zd", what,
                     PySequence_Fast_GET_SIZE(seq), n);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyLong_Check(v)) { PyErr_Format(PyExc_TypeError, "%s: not ints", what); goto done; }
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (PyErr_Occurred()) { PyErr_Clear(); u = ~0ULL; }
        if (u > 0xFFFFFFFFULL || (i == 0 && u != 0) || (i > 0 && u < out[i - 1])) {
            PyErr_Format(PyExc_ValueError, "%s: not a cumulative table", what);
            goto done;
        }
        out[i] = (uint32_t)u;
    }
    if (out[n - 1] == 0) { PyErr_Format(PyExc_ValueError, "%s: total 0", what); goto done; }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

static inline uint64_t hash_slot(const Decoder *m, uint64_t key) {
    return (key * 0x9E3779B97F4A7C15ULL) >> m->shift;
}

/* the table with this key, or NULL (the reference's bisect_left + equality on the strictly
 * ascending keys) */
static inline const Slot *find_table(const Decoder *m, uint64_t key) {
    uint64_t h = hash_slot(m, key);
    for (;;) {
        const Slot *s = m->slots + h;
        if (!s->b) return NULL;
        if (s->key == key) return s;
        h = (h + 1) & m->mask;
    }
}

static void Decoder_dealloc(Decoder *m) {
    arr_free(&m->akeys); arr_free(&m->astart); arr_free(&m->asyms); arr_free(&m->acum);
    free(m->slots);
    PyMem_Free(m->order0_index);
    PyMem_Free(m->uchars);
    PyMem_Free(m->uoff);
    PyMem_Free(m->ukind);
    PyMem_Free(m->usent);
    Py_XDECREF(m->malformed);
    Py_XDECREF(m->limit);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int take_units(Decoder *m, PyObject *units, PyObject *kinds) {
    if (!PyList_Check(units) || !PyUnicode_Check(kinds)) {
        PyErr_SetString(PyExc_TypeError, "units: a list of str; kinds: a str");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(units);
    if (PyUnicode_GET_LENGTH(kinds) != n || n < 2) {
        PyErr_SetString(PyExc_ValueError, "kinds and units differ in length");
        return -1;
    }
    m->nunits = n;
    m->uoff = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    m->ukind = PyMem_Malloc(n);
    m->usent = PyMem_Malloc(n);
    if (!m->uoff || !m->ukind || !m->usent) { PyErr_NoMemory(); return -1; }
    Py_ssize_t total = 0;
    m->uoff[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *u = PyList_GET_ITEM(units, i);
        if (!PyUnicode_Check(u)) { PyErr_SetString(PyExc_TypeError, "units: not str"); return -1; }
        total += PyUnicode_GET_LENGTH(u);
        m->uoff[i + 1] = total;
    }
    m->uchars = PyMem_Malloc((total ? total : 1) * sizeof(Py_UCS4));
    if (!m->uchars) { PyErr_NoMemory(); return -1; }
    int kk = PyUnicode_KIND(kinds);
    const void *kd = PyUnicode_DATA(kinds);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *u = PyList_GET_ITEM(units, i);
        Py_ssize_t l = m->uoff[i + 1] - m->uoff[i];
        Py_UCS4 *dst = m->uchars + m->uoff[i];
        if (l && !PyUnicode_AsUCS4(u, dst, l, 0)) return -1;
        Py_UCS4 k = PyUnicode_READ(kk, kd, i);
        m->ukind[i] = k == 'n' ? K_PIECE : k == 'f' ? K_FINAL : k == 'b' ? K_BOS : K_OTHER;
        m->usent[i] = 0;
        for (Py_ssize_t j = 0; j < l; j++) {
            Py_UCS4 c = dst[j];
            if (c == '.' || c == '!' || c == '?' || c == '\n') m->usent[i] = 1;
            /* the case rules below are the reference's str methods on ASCII only */
            if ((m->ukind[i] == K_PIECE || m->ukind[i] == K_FINAL) && c >= 128) {
                PyErr_SetString(PyExc_ValueError, "a word piece that is not ASCII");
                return -1;
            }
        }
    }
    return 0;
}

static int take_tables(Decoder *m) {
    const uint64_t *keys = m->keys;
    const uint32_t *start = m->start, *cum = m->cum;
    const uint16_t *syms = m->syms;
    Py_ssize_t nctx = m->nctx, nent = m->nent;
    if (m->astart.n != nctx + 1 || m->acum.n != nent || nctx < 1 || nctx >= 0xFFFFFFFFLL ||
        start[0] != 0 || start[nctx] != nent) {
        PyErr_SetString(PyExc_ValueError, "table arrays of inconsistent sizes");
        return -1;
    }
    for (Py_ssize_t t = 0; t < nctx; t++) {
        if (t && keys[t] <= keys[t - 1]) {
            PyErr_SetString(PyExc_ValueError, "context keys not strictly ascending");
            return -1;
        }
        uint32_t a = start[t], b1 = start[t + 1];
        if (b1 < a + 2 || b1 > nent) {    /* at least one symbol and the dummy total entry */
            PyErr_SetString(PyExc_ValueError, "an empty or overlapping context table");
            return -1;
        }
        uint32_t b = b1 - 1;
        if (cum[a] != 0) { PyErr_SetString(PyExc_ValueError, "cum[a] != 0"); return -1; }
        for (uint32_t i = a; i < b; i++) {
            if (cum[i + 1] <= cum[i]) {
                PyErr_SetString(PyExc_ValueError, "a context table with a zero frequency");
                return -1;
            }
            if (i + 1 < b && syms[i] >= syms[i + 1]) {     /* exclusion merges on this */
                PyErr_SetString(PyExc_ValueError, "a context table's symbols not ascending");
                return -1;
            }
            if (syms[i] != ESC && syms[i] >= m->nunits) {
                PyErr_SetString(PyExc_ValueError, "a symbol outside the lexicon");
                return -1;
            }
        }
    }
    /* hash index of the keys: at most half full */
    uint64_t size = 1;
    int bits = 0;
    while (size < 2 * (uint64_t)nctx) { size <<= 1; bits++; }
    if (bits == 0) { size = 2; bits = 1; }
    if (bits > 40) { PyErr_NoMemory(); return -1; }
    /* 2 MiB aligned and, on Linux, in huge pages where the kernel has them: the lookups
     * are random, so fewer TLB misses (a plain zeroed allocation elsewhere) */
    size_t bytes = (size_t)size * sizeof(Slot);
    void *mem = NULL;
#if defined(_WIN32)
    mem = malloc(bytes);
#else
    if (posix_memalign(&mem, (size_t)2 << 20, bytes)) mem = NULL;
#endif
    if (!mem) { PyErr_NoMemory(); return -1; }
#if defined(MADV_HUGEPAGE)
    madvise(mem, bytes, MADV_HUGEPAGE);
#endif
    memset(mem, 0, bytes);
    m->slots = mem;
    m->mask = size - 1;
    m->shift = 64 - bits;
    for (Py_ssize_t t = 0; t < nctx; t++) {
        if (t + 16 < nctx)      /* the slots are random: fetch ahead, many misses at once */
            PREFETCH_W(m->slots + hash_slot(m, keys[t + 16]));
        uint64_t h = hash_slot(m, keys[t]);
        while (m->slots[h].b) h = (h + 1) & m->mask;
        m->slots[h] = (Slot){keys[t], start[t], start[t + 1] - 1};
    }
    m->order0_index = PyMem_Malloc(3 * m->nunits * sizeof(int32_t));
    if (!m->order0_index) { PyErr_NoMemory(); return -1; }
    for (int pos = 0; pos < 3; pos++) {
        const Slot *t = m->order0[pos] = find_table(m, (uint64_t)pos << 2);
        if (!t) {
            PyErr_SetString(PyExc_ValueError, "no order-0 table");
            return -1;
        }
        int32_t *ix = m->order0_index + pos * m->nunits;
        for (Py_ssize_t u = 0; u < m->nunits; u++) ix[u] = -1;
        for (uint32_t i = t->a; i < t->b; i++)
            if (syms[i] != ESC) ix[syms[i]] = (int32_t)i;
    }
    return 0;
}

static PyObject *Decoder_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *keys, *start, *syms, *cum, *units, *kinds, *space, *cases, *flags, *uni;
    PyObject *malformed, *limit;
    Py_ssize_t max_chars;
    static char *names[] = {"keys", "start", "syms", "cum", "units", "kinds", "space", "case",
                            "flag", "uni", "max_chars", "malformed", "limit", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOOOOOnOO:Decoder", names, &keys, &start,
                                     &syms, &cum, &units, &kinds, &space, &cases, &flags, &uni,
                                     &max_chars, &malformed, &limit))
        return NULL;
    if (!PyLong_Check(space) || !PyCallable_Check(malformed) || !PyCallable_Check(limit) ||
        max_chars < 0) {
        PyErr_SetString(PyExc_TypeError, "Decoder: bad space, max_chars or error classes");
        return NULL;
    }
    Decoder *m = (Decoder *)type->tp_alloc(type, 0);
    if (!m) return NULL;
    Py_INCREF(malformed); m->malformed = malformed;
    Py_INCREF(limit); m->limit = limit;
    m->max_chars = max_chars;
    int overflow = 0;
    long long sp = PyLong_AsLongLongAndOverflow(space, &overflow);
    if (sp == -1 && PyErr_Occurred()) goto fail;
    m->space = overflow || sp < 0 || sp > 0xFFFF ? -1 : sp;
    if (arr_get(&m->akeys, keys, 8, "keys") < 0 || arr_get(&m->astart, start, 4, "start") < 0 ||
        arr_get(&m->asyms, syms, 2, "syms") < 0 || arr_get(&m->acum, cum, 4, "cum") < 0)
        goto fail;
    m->keys = m->akeys.p; m->start = m->astart.p; m->syms = m->asyms.p; m->cum = m->acum.p;
    m->nctx = m->akeys.n;
    m->nent = m->asyms.n;
    if (take_units(m, units, kinds) < 0 || take_tables(m) < 0) goto fail;
    PyObject *cs = PySequence_Fast(cases, "case");
    if (!cs) goto fail;
    if (PySequence_Fast_GET_SIZE(cs) != NCASE_CTX) {
        Py_DECREF(cs);
        PyErr_SetString(PyExc_ValueError, "case: expected 15 tables");
        goto fail;
    }
    for (int i = 0; i < NCASE_CTX; i++)
        if (dense_get(m->case_cum[i], NCASE + 1, PySequence_Fast_GET_ITEM(cs, i), "case") < 0) {
            Py_DECREF(cs);
            goto fail;
        }
    Py_DECREF(cs);
    PyObject *fs = PySequence_Fast(flags, "flag");
    if (!fs) goto fail;
    if (PySequence_Fast_GET_SIZE(fs) != NFLAG) {
        Py_DECREF(fs);
        PyErr_SetString(PyExc_ValueError, "flag: expected 2 tables");
        goto fail;
    }
    for (int i = 0; i < NFLAG; i++)
        if (dense_get(m->flag_cum[i], NFLAG + 1, PySequence_Fast_GET_ITEM(fs, i), "flag") < 0) {
            Py_DECREF(fs);
            goto fail;
        }
    Py_DECREF(fs);
    if (dense_get(m->uni_cum, NUNI + 1, uni, "uni") < 0) goto fail;
    return (PyObject *)m;
fail:
    Py_DECREF(m);
    return NULL;
}

/* ------------------------------------------------------------------ range decoder (4.1) */
enum { E_NONE, E_RANGE, E_END, E_ORDER0, E_INWORD, E_PIECE, E_GAP, E_SAME, E_SURROGATE,
       E_LIMIT, E_NOMEM, E_BOS };

typedef struct {
    const uint8_t *data;
    Py_ssize_t n, pos, limit;
    uint64_t x, rng;
    int err;
    uint32_t cp;          /* the surrogate of E_SURROGATE */
} Dec;

static inline int renorm(Dec *d, uint64_t x, uint64_t rng) {
    Py_ssize_t pos = d->pos;
    while (rng < BOTTOM) {
        if (pos >= d->limit) { d->err = E_END; return -1; }
        rng <<= 8;
        x = (x << 8) | (pos < d->n ? d->data[pos] : 0);
        pos++;
    }
    d->pos = pos;
    d->x = x;
    d->rng = rng;
    return 0;
}

/* bisect_right(cum, t, lo, hi) - 1, then the step of 4.1; total = cum[hi] for context
 * tables (a dummy last entry) and the last of the hi + 1 entries of a dense table */
static inline int64_t dec_cum(Dec *d, const uint32_t *cum, Py_ssize_t lo, Py_ssize_t hi,
                              uint64_t total) {
    uint64_t r = d->rng / total;
    uint64_t t = d->x / r;
    if (t >= total) { d->err = E_RANGE; return -1; }
    Py_ssize_t a = lo, b = hi;
    while (a < b) {
        Py_ssize_t mid = (Py_ssize_t)(((size_t)a + (size_t)b) / 2);
        if (t < cum[mid]) b = mid; else a = mid + 1;
    }
    Py_ssize_t i = a - 1;
    uint64_t c = cum[i];
    if (renorm(d, d->x - r * c, r * (cum[i + 1] - c)) < 0) return -1;
    return i;
}

static inline int64_t dec_uniform(Dec *d, uint64_t n) {
    uint64_t r = d->rng / n;
    uint64_t t = d->x / r;
    if (t >= n) { d->err = E_RANGE; return -1; }
    if (renorm(d, d->x - r * t, r) < 0) return -1;
    return (int64_t)t;
}

/* ------------------------------------------------------------------ text (M3.3 - M3.6) */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t len, cap;
} Buf;

static inline int buf_reserve(Buf *o, Py_ssize_t more) {
    if (o->buf && o->len + more <= o->cap) return 0;    /* (never NULL for memcpy) */
    Py_ssize_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + more) cap *= 2;
    Py_UCS4 *b = PyMem_Realloc(o->buf, cap * sizeof(Py_UCS4));
    if (!b) return -1;
    o->buf = b;
    o->cap = cap;
    return 0;
}

static inline int is_alpha(Py_UCS4 c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }
static inline Py_UCS4 to_upper(Py_UCS4 c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

/* spec M3.4 exclusion: a table of at most EXCLUDE_MAX entries escaped from puts its symbols
 * (ESC aside) in X; later tables of the chain are read without X's entries */
#define EXCLUDE_MAX 256
#define XMAX ((MAX_ORDER + 1) * EXCLUDE_MAX)   /* orders 3..0: each adds < EXCLUDE_MAX */

/* X: ascending unit ids, no repeats (a table's symbols are strictly ascending) */
typedef struct {
    uint16_t v[XMAX];
    int n;
} XSet;

/* X |= the symbols of entries a..b-1 other than ESC (ascending): a merge */
static void xset_add(XSet *x, const uint16_t *syms, Py_ssize_t a, Py_ssize_t b) {
    uint16_t out[XMAX];
    int i = 0, k = 0;
    Py_ssize_t j = a;
    while (j < b && syms[j] == ESC) j++;
    while (i < x->n || j < b) {
        uint16_t v;
        if (j >= b || (i < x->n && x->v[i] < syms[j])) {
            v = x->v[i++];
        } else {
            v = syms[j];
            if (i < x->n && x->v[i] == v) i++;
            do j++; while (j < b && syms[j] == ESC);
        }
        out[k++] = v;
    }
    memcpy(x->v, out, (size_t)k * sizeof(uint16_t));
    x->n = k;
}

/* the entries of a..b-1 whose symbol is in X, ascending: through the dense index of an
 * order-0 table (ix), a merge of the two ascending lists, or a search of each member of X
 * where the table is much longer than X */
static int xset_find(const XSet *x, const uint16_t *syms, Py_ssize_t a, Py_ssize_t b,
                     const int32_t *ix, Py_ssize_t *rem) {
    int nr = 0;
    if (ix) {
        for (int j = 0; j < x->n; j++)
            if (ix[x->v[j]] >= 0) rem[nr++] = ix[x->v[j]];
        return nr;
    }
    if (b - a <= 8 * (Py_ssize_t)x->n) {
        Py_ssize_t i = a;
        int j = 0;
        while (i < b && j < x->n) {
            if (syms[i] < x->v[j]) i++;
            else if (syms[i] > x->v[j]) j++;
            else { rem[nr++] = i++; j++; }
        }
        return nr;
    }
    Py_ssize_t lo = a;
    for (int j = 0; j < x->n && lo < b; j++) {
        uint16_t v = x->v[j];
        Py_ssize_t step = 1;                    /* gallop from the last find, then bisect */
        while (lo + step < b && syms[lo + step] < v) step *= 2;
        Py_ssize_t l = lo + step / 2, h = lo + step < b ? lo + step : b;
        while (l < h) {                         /* the first entry >= v in l..h (h: >= v) */
            Py_ssize_t mid = (Py_ssize_t)(((size_t)l + (size_t)h) / 2);
            if (syms[mid] < v) l = mid + 1; else h = mid;
        }
        if (l < b && syms[l] == v) rem[nr++] = l++;
        lo = l;
    }
    return nr;
}

/* dec_cum over entries lo..hi-1 less those whose symbol is in X (M3.4) */
static int64_t dec_cum_excl(Dec *d, const uint32_t *cum, const uint16_t *syms, Py_ssize_t lo,
                            Py_ssize_t hi, const int32_t *ix, const XSet *x) {
    Py_ssize_t rem[XMAX];
    int nu = xset_find(x, syms, lo, hi, ix, rem);
    if (nu == 0) return dec_cum(d, cum, lo, hi, cum[hi]);
    uint64_t gone = 0;
    for (int q = 0; q < nu; q++) gone += cum[rem[q] + 1] - cum[rem[q]];
    uint64_t total = cum[hi] - gone;
    if (total == 0) { d->err = E_RANGE; return -1; }
    uint64_t r = d->rng / total;
    uint64_t t = d->x / r;
    if (t >= total) { d->err = E_RANGE; return -1; }
    uint64_t before = 0;
    for (int q = 0; q < nu; q++) {
        if (cum[rem[q]] <= t + before) before += cum[rem[q] + 1] - cum[rem[q]];
        else break;
    }
    uint64_t tt = t + before;
    Py_ssize_t a = lo, b = hi;
    while (a < b) {
        Py_ssize_t mid = (Py_ssize_t)(((size_t)a + (size_t)b) / 2);
        if (tt < cum[mid]) b = mid; else a = mid + 1;
    }
    Py_ssize_t i = a - 1;
    uint64_t c = cum[i] - before;
    if (renorm(d, d->x - r * c, r * (cum[i + 1] - cum[i])) < 0) return -1;
    return i;
}

/* one text into o (from o->len on); returns E_NONE or an error kind */
static int decode_text(const Decoder *m, Dec *d, int bos, int64_t *prev_block, Buf *o,
                       Buf *word) {
    Py_ssize_t base = o->len;
    uint64_t h0 = (uint64_t)bos, h1 = 0, h2 = 0;      /* hist[n-1], hist[n-2], hist[n-3] */
    int nh = 1;                                        /* min(len(hist), 3) */
    int pos = P_GAP, prev_mode = 4, gapcls = 0;
    word->len = 0;
    const uint32_t *cum = m->cum;
    for (;;) {
        /* the chain (M3.4): the keys of orders nh..1, their slots fetched at once; the
         * order-0 table always exists (checked when the tables were taken) */
        uint64_t keys[MAX_ORDER + 1];
        for (int k = nh; k >= 1; k--) {
            uint64_t key = (uint64_t)k | (uint64_t)pos << 2 | h0 << 4;
            if (k > 1) key |= h1 << 20;
            if (k > 2) key |= h2 << 36;
            keys[k] = key;
            PREFETCH(m->slots + hash_slot(m, key));
        }
        const Slot *chain[MAX_ORDER + 1];
        for (int k = nh; k >= 0; k--) {
            const Slot *t = chain[k] = k ? find_table(m, keys[k]) : m->order0[pos];
            if (t) {        /* fetch the entries of every table of the chain at once too */
                PREFETCH(cum + t->a);
                PREFETCH(cum + t->b);
                PREFETCH(m->syms + t->a);
            }
        }
        uint32_t s = ESC;
        XSet xs;
        xs.n = 0;
        for (int k = nh; k >= 0 && s == ESC; k--) {
            const Slot *t = chain[k];
            if (!t) continue;
            int64_t i = !xs.n ? dec_cum(d, cum, t->a, t->b, cum[t->b])
                : dec_cum_excl(d, cum, m->syms, t->a, t->b,
                               k ? NULL : m->order0_index + pos * m->nunits, &xs);
            if (i < 0) return d->err;
            s = m->syms[i];
            if (s == ESC && t->b - t->a <= EXCLUDE_MAX) xset_add(&xs, m->syms, t->a, t->b);
        }
        if (s == ESC) return E_ORDER0;
        if (s == END) {
            if (pos == P_MID) return E_INWORD;
            return E_NONE;
        }
        int kind = m->ukind[s];
        const Py_UCS4 *u = m->uchars + m->uoff[s];
        Py_ssize_t ul = m->uoff[s + 1] - m->uoff[s];
        if (kind == K_PIECE || kind == K_FINAL) {
            if (pos == P_FIN) return E_PIECE;
            if (buf_reserve(word, ul) < 0) return E_NOMEM;
            memcpy(word->buf + word->len, u, ul * sizeof(Py_UCS4));
            word->len += ul;
            if (kind == K_FINAL) {
                Py_UCS4 *w = word->buf;
                Py_ssize_t wl = word->len;
                int digits = wl > 0;
                for (Py_ssize_t j = 0; j < wl && digits; j++)
                    digits = w[j] >= '0' && w[j] <= '9';
                if (!digits) {
                    const uint32_t *cc = m->case_cum[prev_mode * 3 + gapcls];
                    int64_t mode = dec_cum(d, cc, 0, NCASE + 1, cc[NCASE]);
                    if (mode < 0) return d->err;
                    if (mode == C_UPPER) {
                        for (Py_ssize_t j = 0; j < wl; j++) w[j] = to_upper(w[j]);
                    } else if (mode == C_FIRST) {
                        for (Py_ssize_t j = 0; j < wl; j++)
                            if (is_alpha(w[j])) { w[j] = to_upper(w[j]); break; }
                    } else if (mode == C_FLAGS) {
                        int up = 0;
                        for (Py_ssize_t j = 0; j < wl; j++) {
                            if (!is_alpha(w[j])) continue;
                            const uint32_t *fc = m->flag_cum[up];
                            int64_t f = dec_cum(d, fc, 0, NFLAG + 1, fc[NFLAG]);
                            if (f < 0) return d->err;
                            up = (int)f;
                            if (up) w[j] = to_upper(w[j]);
                        }
                    }
                    prev_mode = (int)mode;
                }
                if (buf_reserve(o, wl) < 0) return E_NOMEM;
                memcpy(o->buf + o->len, w, wl * sizeof(Py_UCS4));
                o->len += wl;
                word->len = 0;
                pos = P_FIN;
                gapcls = 2;
            } else {
                pos = P_MID;
            }
            h2 = h1; h1 = h0; h0 = s;
            if (nh < MAX_ORDER) nh++;
        } else {
            if (pos == P_MID) return E_GAP;
            if (kind == K_BOS) return E_BOS;         /* BOS units are never coded */
            int sent;
            if (s == UNI) {
                int64_t b = dec_cum(d, m->uni_cum, 0, NUNI + 1, m->uni_cum[NUNI]);
                if (b < 0) return d->err;
                if (b == UNI_SAME) {
                    if (*prev_block < 0) return E_SAME;
                    b = *prev_block;
                }
                int64_t lo = dec_uniform(d, 256);
                if (lo < 0) return d->err;
                uint32_t cp = (uint32_t)(b * 256 + lo);
                if (cp >= 0xD800 && cp <= 0xDFFF) { d->cp = cp; return E_SURROGATE; }
                *prev_block = b;
                if (buf_reserve(o, 1) < 0) return E_NOMEM;
                o->buf[o->len++] = cp;
                sent = cp == '.' || cp == '!' || cp == '?' || cp == '\n';
            } else {
                if (buf_reserve(o, ul) < 0) return E_NOMEM;
                memcpy(o->buf + o->len, u, ul * sizeof(Py_UCS4));
                o->len += ul;
                sent = m->usent[s];
            }
            if (sent) gapcls = 1;
            pos = P_GAP;
            if ((long long)s != m->space) {
                h2 = h1; h1 = h0; h0 = s;
                if (nh < MAX_ORDER) nh++;
            }
        }
        /* the text so far: complete words, gaps, code points and the pieces of the word
         * being decoded (M3.7) */
        if (o->len - base + word->len > m->max_chars) return E_LIMIT;
    }
}

static PyObject *raise_error(const Decoder *m, int err, const Dec *d) {
    if (err == E_NOMEM) return PyErr_NoMemory();
    PyObject *cls = err == E_LIMIT ? m->limit : m->malformed;
    PyObject *msg;
    switch (err) {
    case E_RANGE: msg = PyUnicode_FromString("text stream is corrupt (code value past the range)"); break;
    case E_END: msg = PyUnicode_FromString("text stream ends before its last symbol"); break;
    case E_ORDER0: msg = PyUnicode_FromString("text stream is corrupt (escape from order 0)"); break;
    case E_INWORD: msg = PyUnicode_FromString("text stream ends inside a word"); break;
    case E_PIECE: msg = PyUnicode_FromString("word piece right after a word"); break;
    case E_GAP: msg = PyUnicode_FromString("gap inside a word"); break;
    case E_BOS: msg = PyUnicode_FromString("text stream is corrupt (a BOS unit)"); break;
    case E_SAME: msg = PyUnicode_FromString("'same block' escape with no block before"); break;
    case E_SURROGATE: {
        char text[40];
        snprintf(text, sizeof text, "escaped surrogate U+%04X", (unsigned)d->cp);
        msg = PyUnicode_FromString(text);
        break;
    }
    default: msg = PyUnicode_FromFormat("text over %zd characters", m->max_chars); break;
    }
    if (!msg) return NULL;
    PyObject *args = PyTuple_Pack(1, msg);
    Py_DECREF(msg);
    if (!args) return NULL;
    PyObject *kw = Py_BuildValue("{s:s}", "field", "text");
    if (!kw) { Py_DECREF(args); return NULL; }
    PyObject *exc = PyObject_Call(cls, args, kw);
    Py_DECREF(args);
    Py_DECREF(kw);
    if (!exc) return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *Decoder_decode(Decoder *m, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Dec d = {view.buf, view.len, WINDOW_BYTES, view.len + WINDOW_BYTES, 0, TOP, 0, 0};
    for (int i = 0; i < WINDOW_BYTES; i++)
        d.x = (d.x << 8) | (i < view.len ? d.data[i] : 0);
    Buf o = {NULL, 0, 0}, word = {NULL, 0, 0};
    int64_t prev_block = -1;
    PyObject *res = NULL;
    int err = decode_text(m, &d, 2, &prev_block, &o, &word);
    Py_ssize_t split = o.len;
    if (!err) err = decode_text(m, &d, 3, &prev_block, &o, &word);
    if (err) {
        raise_error(m, err, &d);
    } else {
        static const Py_UCS4 empty[1] = {0};
        const Py_UCS4 *b = o.buf ? o.buf : empty;
        PyObject *p = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, b, split);
        PyObject *q = p ? PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, b + split,
                                                    o.len - split) : NULL;
        if (q) res = PyTuple_Pack(2, p, q);
        Py_XDECREF(p);
        Py_XDECREF(q);
    }
    PyMem_Free(o.buf);
    PyMem_Free(word.buf);
    PyBuffer_Release(&view);
    return res;
}

static PyMethodDef Decoder_methods[] = {
    {"decode", (PyCFunction)Decoder_decode, METH_O,
     "decode(data) -> (prompt, negative); raises the reference's error"},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aigif.textcoding._cm2fast.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "cm2 decoder over a loaded model's tables (see cm2.py)",
    .tp_methods = Decoder_methods,
    .tp_new = Decoder_new,
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_cm2fast", "Compiled twin of the text method 3 (cm2) decoder.", -1,
    NULL
};

PyMODINIT_FUNC PyInit__cm2fast(void) {
    if (PyType_Ready(&DecoderType) < 0) return NULL;
    PyObject *mod = PyModule_Create(&moddef);
    if (!mod) return NULL;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(mod, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
