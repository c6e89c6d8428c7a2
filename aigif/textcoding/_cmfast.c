/* Compiled twin of text method 2 (cm1): aigif/textcoding/cm.py + rangecoder.py.
 *
 * Optional: setup.py builds it when a C compiler is there; cm.py falls back to the pure-Python
 * reference otherwise (and when AIGIF_PURE_PYTHON=1). It must give the same bytes as the
 * reference on encode and the same strings, or the same error, on decode, for every input
 * (tests/test_textcoding_fast.py checks this differentially). spec/text-coding.md is the
 * normative description; the section numbers below refer to it.
 *
 * The tables come from the loaded Python Model, once: Coder(vocab, tables, parent, big,
 * groups, logtab, max_chars). Nothing here allocates Python objects while decoding except the
 * two result strings, and every read of the payload is bounds-checked.
 *
 * decode(data) returns (prompt, negative) or an int error code (ERR_* | code_point << 8);
 * the Python wrapper raises the aigif error with the reference's message.
 * encode(prompt, negative) returns the payload; the wrapper has already checked the limits
 * and refused lone surrogates.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* token classes and context keys (section 3.3) */
enum { BOS, WORD, PHRASE, SEP, OPEN, PUNCT, SPACE };
#define NGROUP 6
#define NCLASS (SPACE + NGROUP)
#define NCTX (2 * NCLASS)
#define NCASE 4
#define CHAR_END 0
#define CHAR_UNI 98
#define NCHAR 99
#define NCHARCTX 29
#define UNI_SAME 4352
#define NUNI 4353
#define MAX_PHRASE_ATOMS 64
#define MAX_GROUP_WORDS 64

/* range coder (section 4) */
#define WINDOW_BYTES 6
#define TOP ((uint64_t)1 << 48)
#define BOTTOM ((uint64_t)1 << 40)
#define MAX_TOTAL ((uint64_t)1 << 24)

/* decode error codes, mapped to messages by cm.py */
enum { ERR_NONE, ERR_RANGE, ERR_END, ERR_EMPTY_SPELL, ERR_NO_PREV, ERR_SURROGATE, ERR_LIMIT,
       ERR_NOMEM };

/* one key of the string map: a lexicon entry and/or an atom-boundary prefix of one */
typedef struct {
    uint64_t hash;
    uint32_t off;      /* into vocab chars */
    uint32_t len;
    int32_t vid;       /* lexicon id (last entry with this string) or -1 */
    int32_t big;       /* word table pair index or -1 */
    int32_t prefix;    /* a prefix in the encoder's sense (cm.Model._prepare_encoder) */
} Key;

typedef struct {
    PyObject_HEAD
    int32_t n;                  /* lexicon size; END = n, BACKOFF = n + 1, SPELL = n + 2 */
    int32_t ntabs;              /* context + word tables */
    int32_t ntables;            /* all tables */
    int32_t t_global, t_case, t_char, t_uni;
    int64_t *soff;              /* per table: offset of its symbols; cum at soff + index */
    int32_t *tlen;
    int32_t *syms;
    uint32_t *cum;              /* per table tlen + 1 entries, at soff[t] + t */
    int32_t *parent;            /* per context/word table */
    char *vchars;               /* lexicon strings, concatenated */
    uint32_t *voff;             /* n + 1 */
    int32_t *vstate;            /* token_state of each entry (-1: space token) */
    uint8_t *vletters;
    Key *keys;
    int32_t *slots;             /* open addressing: key index or -1 */
    uint64_t mask;
    int32_t nkeys;
    int32_t ngroups;
    char gword[MAX_GROUP_WORDS][16];
    int32_t glen[MAX_GROUP_WORDS];
    int32_t gval[MAX_GROUP_WORDS];
    int32_t logtab[1024];
    int64_t max_chars;
} Coder;

/* ------------------------------------------------------------------ helpers */
#define FNV_INIT 0xcbf29ce484222325ULL
#define FNV_MUL 0x100000001b3ULL
static inline uint64_t fnv(uint64_t h, uint32_t c) { return (h ^ c) * FNV_MUL; }

static inline int is_alnum_ascii(Py_UCS4 c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline int is_word_char(Py_UCS4 c) { return c >= 0x80 || is_alnum_ascii(c); }
static inline int is_sep(Py_UCS4 c) {
    return c == ',' || c == '.' || c == ';' || c == '|' || c == '\n' || c == '\r';
}
static inline int is_open(Py_UCS4 c) { return c == '(' || c == '[' || c == '{' || c == '<'; }
static inline Py_UCS4 up(Py_UCS4 c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
static inline Py_UCS4 low(Py_UCS4 c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static inline int char_class(Py_UCS4 o) {
    if (o >= 'a' && o <= 'z') return (int)(o - 0x60);
    if (o >= 'A' && o <= 'Z') return (int)(o - 0x40);
    if (o >= '0' && o <= '9') return 27;
    return 28;
}
static inline int char_symbol(Py_UCS4 o) {
    if (o >= 0x20 && o <= 0x7E) return (int)(o - 0x1F);
    if (o == '\n') return 96;
    if (o == '\t') return 97;
    return CHAR_UNI;
}
static inline Py_UCS4 symbol_char(int s) {
    if (s <= 95) return (Py_UCS4)(s + 0x1F);
    return s == 96 ? '\n' : '\t';
}

static inline int64_t ilog2(const Coder *m, uint64_t x) {
    int n = 63 - __builtin_clzll(x);
    uint64_t v = n < 10 ? (x << 10 >> n) : (x >> (n - 10));
    return ((int64_t)n << 16) + m->logtab[v & 1023];
}

static inline const uint32_t *tcum(const Coder *m, int t) { return m->cum + m->soff[t] + t; }
static inline const int32_t *tsyms(const Coder *m, int t) { return m->syms + m->soff[t]; }

/* index of sym in table t (symbols ascend), or -1 */
static int tindex(const Coder *m, int t, int32_t sym) {
    const int32_t *s = tsyms(m, t);
    int lo = 0, hi = m->tlen[t] - 1;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        if (s[mid] < sym) lo = mid + 1;
        else if (s[mid] > sym) hi = mid - 1;
        else return mid;
    }
    return -1;
}

/* key lookup: chars c[0..len) (lowered first when lower), hash h of the (lowered) chars */
static const Key *find_key(const Coder *m, const Py_UCS4 *c, Py_ssize_t len, uint64_t h, int lower) {
    uint64_t i = h & m->mask;
    for (;;) {
        int32_t k = m->slots[i];
        if (k < 0) return NULL;
        const Key *e = &m->keys[k];
        if (e->hash == h && e->len == (uint64_t)len) {
            const char *s = m->vchars + e->off;
            Py_ssize_t j = 0;
            if (lower) { for (; j < len; j++) if ((Py_UCS4)(unsigned char)s[j] != low(c[j])) break; }
            else { for (; j < len; j++) if ((Py_UCS4)(unsigned char)s[j] != c[j]) break; }
            if (j == len) return e;
        }
        i = (i + 1) & m->mask;
    }
}

/* exact lookup of an arbitrary string (NULL unless ASCII and a key) */
static const Key *find_exact(const Coder *m, const Py_UCS4 *c, Py_ssize_t len) {
    uint64_t h = FNV_INIT;
    for (Py_ssize_t j = 0; j < len; j++) {
        if (c[j] >= 0x80) return NULL;
        h = fnv(h, c[j]);
    }
    return find_key(m, c, len, h, 0);
}

static int group_of(const Coder *m, const Py_UCS4 *c, Py_ssize_t len) {
    for (int g = 0; g < m->ngroups; g++) {
        if (m->glen[g] != len) continue;
        Py_ssize_t j = 0;
        for (; j < len; j++) if (c[j] != (Py_UCS4)(unsigned char)m->gword[g][j]) break;
        if (j == len) return m->gval[g];
    }
    return 0;
}

/* token_state (section 3.3) of a non-empty token string; -1 for a space token */
static int64_t token_state(const Coder *m, const Py_UCS4 *s, Py_ssize_t n) {
    Py_UCS4 z = s[n - 1];
    if (is_word_char(z)) {
        Py_ssize_t k = n - 1;
        while (k >= 0 && s[k] != ' ') k--;
        const Py_UCS4 *w = s + k + 1;
        Py_ssize_t wl = n - k - 1;
        const Key *e = find_exact(m, w, wl);
        int64_t b = e ? e->big : -1;
        return (k >= 0 ? PHRASE : WORD) | (int64_t)group_of(m, w, wl) << 4 | (b + 1) << 8;
    }
    if (z == ' ') {
        for (Py_ssize_t k = 0; k < n; k++) if (is_sep(s[k])) return SEP;
        return -1;
    }
    if (is_sep(z)) return SEP;
    if (is_open(z)) return OPEN;
    return PUNCT;
}

static inline int64_t next_state(int64_t st, int64_t nx) {
    if (nx >= 0) return nx;
    return (SPACE + (st >> 4 & 15)) | (st >> 8) << 8;
}

static inline int table_for(const Coder *m, int role, int64_t st) {
    int64_t key = st & 15;
    (void)m;
    if (role == 0 && (st >> 8)) {
        if (key >= SPACE) return (int)(NCTX + 2 * ((st >> 8) - 1));
        if (key == WORD || key == PHRASE) return (int)(NCTX + 2 * ((st >> 8) - 1) + 1);
    }
    return (int)(role * NCLASS + key);
}

/* ------------------------------------------------------------------ construction */
static void Coder_dealloc(Coder *m) {
    PyMem_Free(m->soff); PyMem_Free(m->tlen); PyMem_Free(m->syms); PyMem_Free(m->cum);
    PyMem_Free(m->parent); PyMem_Free(m->vchars); PyMem_Free(m->voff); PyMem_Free(m->vstate);
    PyMem_Free(m->vletters); PyMem_Free(m->keys); PyMem_Free(m->slots);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int64_t exact_int(PyObject *o, const char *what) {
    if (!PyLong_CheckExact(o)) {
        PyErr_Format(PyExc_ValueError, "%s must be an int", what);
        return -1;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) { PyErr_Clear(); PyErr_Format(PyExc_ValueError, "%s out of range", what); return -1; }
    return (int64_t)v;
}

/* insert or find the key vchars[off..off+len); returns its index */
static int32_t add_key(Coder *m, uint32_t off, uint32_t len) {
    uint64_t h = FNV_INIT;
    const char *s = m->vchars + off;
    for (uint32_t j = 0; j < len; j++) h = fnv(h, (unsigned char)s[j]);
    uint64_t i = h & m->mask;
    for (;;) {
        int32_t k = m->slots[i];
        if (k < 0) break;
        Key *e = &m->keys[k];
        if (e->hash == h && e->len == len && memcmp(m->vchars + e->off, s, len) == 0) return k;
        i = (i + 1) & m->mask;
    }
    int32_t k = m->nkeys++;
    m->slots[i] = k;
    m->keys[k] = (Key){h, off, len, -1, -1, 0};
    return k;
}

static int build(Coder *m, PyObject *vocab, PyObject *tables, PyObject *parent, PyObject *big,
                 PyObject *groups, PyObject *logtab) {
    Py_ssize_t n = PyList_GET_SIZE(vocab);
    m->n = (int32_t)n;
    /* tables: [(syms, counts)] = context + word tables, global, 24 case, 841 char, uni */
    Py_ssize_t nt = PyList_GET_SIZE(tables);
    Py_ssize_t ntabs = nt - 1 - NCTX - NCHARCTX * NCHARCTX - 1;
    if (ntabs < NCTX || PyList_GET_SIZE(parent) != ntabs) {
        PyErr_SetString(PyExc_ValueError, "table count");
        return -1;
    }
    m->ntables = (int32_t)nt;
    m->ntabs = (int32_t)ntabs;
    m->t_global = (int32_t)ntabs;
    m->t_case = m->t_global + 1;
    m->t_char = m->t_case + NCTX;
    m->t_uni = m->t_char + NCHARCTX * NCHARCTX;
    m->soff = PyMem_Calloc(nt + 1, sizeof(int64_t));
    m->tlen = PyMem_Calloc(nt, sizeof(int32_t));
    if (!m->soff || !m->tlen) { PyErr_NoMemory(); return -1; }
    int64_t total_syms = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *pair = PyList_GET_ITEM(tables, t);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyList_Check(PyTuple_GET_ITEM(pair, 0)) || !PyList_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "tables must be (list, list) pairs");
            return -1;
        }
        Py_ssize_t k = PyList_GET_SIZE(PyTuple_GET_ITEM(pair, 0));
        if (k < 1 || k != PyList_GET_SIZE(PyTuple_GET_ITEM(pair, 1)) || k > INT32_MAX / 2) {
            PyErr_SetString(PyExc_ValueError, "table shape");
            return -1;
        }
        m->soff[t] = total_syms;
        m->tlen[t] = (int32_t)k;
        total_syms += k;
    }
    m->soff[nt] = total_syms;
    m->syms = PyMem_Calloc(total_syms + 1, sizeof(int32_t));
    m->cum = PyMem_Calloc(total_syms + nt + 1, sizeof(uint32_t));
    if (!m->syms || !m->cum) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *pair = PyList_GET_ITEM(tables, t);
        PyObject *sy = PyTuple_GET_ITEM(pair, 0), *co = PyTuple_GET_ITEM(pair, 1);
        int32_t *s = m->syms + m->soff[t];
        uint32_t *c = m->cum + m->soff[t] + t;
        uint64_t acc = 0;
        c[0] = 0;
        for (Py_ssize_t i = 0; i < m->tlen[t]; i++) {
            int64_t v = exact_int(PyList_GET_ITEM(sy, i), "table symbol");
            if (v < 0 && PyErr_Occurred()) return -1;
            if (v < 0 || v > INT32_MAX || (i && v <= s[i - 1])) {
                PyErr_SetString(PyExc_ValueError, "table symbols must ascend");
                return -1;
            }
            s[i] = (int32_t)v;
            int64_t f = exact_int(PyList_GET_ITEM(co, i), "table count");
            if (f < 0 && PyErr_Occurred()) return -1;
            if (f < 1 || f > (int64_t)MAX_TOTAL) {
                PyErr_SetString(PyExc_ValueError, "table counts must be positive ints");
                return -1;
            }
            acc += (uint64_t)f;
            if (acc > MAX_TOTAL) {
                PyErr_SetString(PyExc_ValueError, "table total over MAX_TOTAL");
                return -1;
            }
            c[i + 1] = (uint32_t)acc;
        }
    }
    /* the decoder relies on these (the Python Model checks them too) */
    for (int t = m->t_case; t < m->ntables; t++) {
        int want = t < m->t_char ? NCASE : t < m->t_uni ? NCHAR : NUNI;
        if (m->tlen[t] != want || tsyms(m, t)[want - 1] != want - 1) {
            PyErr_SetString(PyExc_ValueError, "dense table shape");
            return -1;
        }
    }
    if (m->tlen[m->t_global] != n + 1) {
        PyErr_SetString(PyExc_ValueError, "global table size");
        return -1;
    }
    for (int t = 0; t < m->ntabs; t++) {
        const int32_t *s = tsyms(m, t);
        if (s[m->tlen[t] - 1] != n + 1) {
            PyErr_SetString(PyExc_ValueError, "context table symbols");
            return -1;
        }
    }
    m->parent = PyMem_Calloc(ntabs, sizeof(int32_t));
    if (!m->parent) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t t = 0; t < ntabs; t++) {
        int64_t p = exact_int(PyList_GET_ITEM(parent, t), "parent");
        if (p == -1 && PyErr_Occurred()) return -1;
        if (p < -1 || p >= t) {   /* parents come first: no cycles */
            PyErr_SetString(PyExc_ValueError, "parent index");
            return -1;
        }
        m->parent[t] = (int32_t)p;
    }
    /* lexicon */
    m->voff = PyMem_Calloc(n + 1, sizeof(uint32_t));
    if (!m->voff) { PyErr_NoMemory(); return -1; }
    int64_t nchars = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(vocab, i);
        if (!PyUnicode_Check(s) || !PyUnicode_IS_ASCII(s) || PyUnicode_GET_LENGTH(s) < 1) {
            PyErr_SetString(PyExc_ValueError, "vocab entries must be non-empty ASCII");
            return -1;
        }
        nchars += PyUnicode_GET_LENGTH(s);
        if (nchars > UINT32_MAX / 2) { PyErr_SetString(PyExc_ValueError, "vocab too large"); return -1; }
    }
    m->vchars = PyMem_Malloc(nchars + 1);
    m->vstate = PyMem_Calloc(n + 1, sizeof(int32_t));
    m->vletters = PyMem_Calloc(n + 1, 1);
    if (!m->vchars || !m->vstate || !m->vletters) { PyErr_NoMemory(); return -1; }
    uint32_t pos = 0;
    Py_ssize_t maxlen = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(vocab, i);
        Py_ssize_t l = PyUnicode_GET_LENGTH(s);
        memcpy(m->vchars + pos, PyUnicode_DATA(s), l);
        m->voff[i] = pos;
        pos += (uint32_t)l;
        if (l > maxlen) maxlen = l;
    }
    m->voff[n] = pos;
    /* keys: every entry, and every atom-boundary prefix of an entry (for the encoder) */
    int64_t nkeys = n;                 /* an upper bound: entries + inner atom boundaries */
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s = m->vchars + m->voff[i];
        uint32_t l = m->voff[i + 1] - m->voff[i];
        for (uint32_t j = 1; j < l; j++)
            if (!is_alnum_ascii((unsigned char)s[j]) || !is_alnum_ascii((unsigned char)s[j - 1]))
                nkeys++;
    }
    uint64_t cap = 1;
    while (cap < (uint64_t)nkeys * 2) cap <<= 1;
    m->mask = cap - 1;
    m->keys = PyMem_Calloc(nkeys + 1, sizeof(Key));
    m->slots = PyMem_Malloc(cap * sizeof(int32_t));
    if (!m->keys || !m->slots) { PyErr_NoMemory(); return -1; }
    memset(m->slots, 0xff, cap * sizeof(int32_t));
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t k = add_key(m, m->voff[i], m->voff[i + 1] - m->voff[i]);
        m->keys[k].vid = (int32_t)i;             /* last entry wins, as a dict would */
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s = m->vchars + m->voff[i];
        uint32_t l = m->voff[i + 1] - m->voff[i];
        /* atoms of an ASCII string: runs of [0-9A-Za-z], single other characters;
           the prefixes are the concatenations of all atoms but the last */
        uint32_t j = 0;
        while (j < l) {
            uint32_t e = j + 1;
            if (is_alnum_ascii((unsigned char)s[j]))
                while (e < l && is_alnum_ascii((unsigned char)s[e])) e++;
            if (e < l) m->keys[add_key(m, m->voff[i], e)].prefix = 1;
            j = e;
        }
    }
    /* word groups, then word tables (big: [(word, k)]) */
    Py_ssize_t ng = PyList_GET_SIZE(groups);
    if (ng > MAX_GROUP_WORDS) { PyErr_SetString(PyExc_ValueError, "too many group words"); return -1; }
    m->ngroups = (int32_t)ng;
    for (Py_ssize_t g = 0; g < ng; g++) {
        PyObject *pair = PyList_GET_ITEM(groups, g);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) { PyErr_SetString(PyExc_TypeError, "groups"); return -1; }
        PyObject *w = PyTuple_GET_ITEM(pair, 0);
        Py_ssize_t wl;
        const char *ws = PyUnicode_Check(w) && PyUnicode_IS_ASCII(w) ? PyUnicode_AsUTF8AndSize(w, &wl) : NULL;
        if (!ws || wl >= 16) { PyErr_SetString(PyExc_ValueError, "group word"); return -1; }
        memcpy(m->gword[g], ws, wl);
        m->glen[g] = (int32_t)wl;
        int64_t v = exact_int(PyTuple_GET_ITEM(pair, 1), "group");
        if (v < 0 || v >= NGROUP) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "group"); return -1; }
        m->gval[g] = (int32_t)v;
    }
    Py_ssize_t nb = PyList_GET_SIZE(big);
    if (ntabs != NCTX + 2 * nb) { PyErr_SetString(PyExc_ValueError, "word table count"); return -1; }
    for (Py_ssize_t b = 0; b < nb; b++) {
        PyObject *pair = PyList_GET_ITEM(big, b);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) { PyErr_SetString(PyExc_TypeError, "big"); return -1; }
        PyObject *w = PyTuple_GET_ITEM(pair, 0);
        int64_t k = exact_int(PyTuple_GET_ITEM(pair, 1), "word table index");
        if (k == -1 && PyErr_Occurred()) return -1;
        if (!PyUnicode_Check(w) || !PyUnicode_IS_ASCII(w) || k < 0 || k >= nb) {
            PyErr_SetString(PyExc_ValueError, "word table word");
            return -1;
        }
        Py_ssize_t wl = PyUnicode_GET_LENGTH(w);
        const char *ws = (const char *)PyUnicode_DATA(w);
        uint64_t h = FNV_INIT;
        Py_UCS4 tmp[256];
        if (wl > 256) { PyErr_SetString(PyExc_ValueError, "word table word"); return -1; }
        for (Py_ssize_t j = 0; j < wl; j++) { tmp[j] = (unsigned char)ws[j]; h = fnv(h, tmp[j]); }
        Key *e = (Key *)find_key(m, tmp, wl, h, 0);
        if (!e) { PyErr_SetString(PyExc_ValueError, "word table word not in the lexicon"); return -1; }
        e->big = (int32_t)k;
    }
    if (PyList_GET_SIZE(logtab) != 1024) { PyErr_SetString(PyExc_ValueError, "log table"); return -1; }
    for (int i = 0; i < 1024; i++) {
        int64_t v = exact_int(PyList_GET_ITEM(logtab, i), "log table");
        if (v < 0) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "log table"); return -1; }
        m->logtab[i] = (int32_t)v;
    }
    /* per entry: the state it leaves and whether it has letters */
    Py_UCS4 *buf = PyMem_Malloc((maxlen + 1) * sizeof(Py_UCS4));
    if (!buf) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t l = m->voff[i + 1] - m->voff[i];
        const char *s = m->vchars + m->voff[i];
        uint8_t letters = 0;
        for (uint32_t j = 0; j < l; j++) {
            buf[j] = (unsigned char)s[j];
            if (buf[j] >= 'a' && buf[j] <= 'z') letters = 1;
        }
        int64_t st = token_state(m, buf, l);
        if (st > INT32_MAX) { PyMem_Free(buf); PyErr_SetString(PyExc_ValueError, "state"); return -1; }
        m->vstate[i] = (int32_t)st;
        m->vletters[i] = letters;
    }
    PyMem_Free(buf);
    return 0;
}

static PyObject *Coder_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *vocab, *tables, *parent, *big, *groups, *logtab;
    long long max_chars;
    static char *kwlist[] = {"vocab", "tables", "parent", "big", "groups", "logtab", "max_chars", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O!O!O!O!O!L", kwlist, &PyList_Type, &vocab,
                                     &PyList_Type, &tables, &PyList_Type, &parent, &PyList_Type, &big,
                                     &PyList_Type, &groups, &PyList_Type, &logtab, &max_chars))
        return NULL;
    if (max_chars < 1 || max_chars > (1LL << 30)) {
        PyErr_SetString(PyExc_ValueError, "max_chars");
        return NULL;
    }
    Coder *m = (Coder *)type->tp_alloc(type, 0);
    if (!m) return NULL;
    m->max_chars = max_chars;
    if (build(m, vocab, tables, parent, big, groups, logtab) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return (PyObject *)m;
}

/* ------------------------------------------------------------------ decoding (4.1, 3.4) */
typedef struct {
    const uint8_t *data;
    Py_ssize_t len, pos, limit;
    uint64_t x, rng;
    int err;
} Dec;

static inline int dec_cum(Dec *d, const uint32_t *cum, int k) {
    uint64_t total = cum[k];
    uint64_t r = d->rng / total;
    uint64_t t = d->x / r;
    if (t >= total) { d->err = ERR_RANGE; return -1; }
    int lo = 0, hi = k;                 /* cum[lo] <= t < cum[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) >> 1;
        if (cum[mid] <= t) lo = mid; else hi = mid;
    }
    uint64_t c = cum[lo];
    uint64_t x = d->x - r * c;
    uint64_t rng = r * (cum[lo + 1] - c);
    while (rng < BOTTOM) {
        if (d->pos >= d->limit) { d->err = ERR_END; return -1; }
        rng <<= 8;
        x = (x << 8) | (d->pos < d->len ? d->data[d->pos] : 0);
        d->pos++;
    }
    d->x = x;
    d->rng = rng;
    return lo;
}

static inline int dec_uniform(Dec *d, uint64_t total) {
    uint64_t r = d->rng / total;
    uint64_t t = d->x / r;
    if (t >= total) { d->err = ERR_RANGE; return -1; }
    uint64_t x = d->x - r * t;
    uint64_t rng = r;
    while (rng < BOTTOM) {
        if (d->pos >= d->limit) { d->err = ERR_END; return -1; }
        rng <<= 8;
        x = (x << 8) | (d->pos < d->len ? d->data[d->pos] : 0);
        d->pos++;
    }
    d->x = x;
    d->rng = rng;
    return (int)t;
}

/* symbol of table t, or -1 (d->err set) */
static inline int32_t dec_sym(const Coder *m, Dec *d, int t) {
    int i = dec_cum(d, tcum(m, t), m->tlen[t]);
    return i < 0 ? -1 : tsyms(m, t)[i];
}

typedef struct { Py_UCS4 *buf; Py_ssize_t len, cap; } Out;

static inline int out_reserve(Out *o, Py_ssize_t extra) {
    if (o->len + extra <= o->cap) return 0;
    Py_ssize_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + extra) cap *= 2;
    Py_UCS4 *b = PyMem_Realloc(o->buf, cap * sizeof(Py_UCS4));
    if (!b) return -1;
    o->buf = b;
    o->cap = cap;
    return 0;
}

/* one text (3.4); returns 0 or an error code (| code point << 8) */
static int64_t decode_text(const Coder *m, Dec *d, int role, int64_t *prev_block, Out *o) {
    int64_t st = BOS;
    const int32_t END = m->n, BACKOFF = m->n + 1, SPELL = m->n + 2;
    o->len = 0;
    for (;;) {
        int c = role * NCLASS + (int)(st & 15);
        int ti = table_for(m, role, st);
        int32_t sym = dec_sym(m, d, ti);
        while (sym == BACKOFF && ti < m->ntabs) {       /* the global table never backs off */
            ti = m->parent[ti] >= 0 ? m->parent[ti] : m->t_global;
            sym = dec_sym(m, d, ti);
        }
        if (sym < 0) return d->err;
        if (sym == END) return 0;
        Py_ssize_t start = o->len;
        if (sym == SPELL) {
            int c1 = 0, c2 = 0;
            for (;;) {
                int s = dec_sym(m, d, m->t_char + c1 * NCHARCTX + c2);
                if (s < 0) return d->err;
                if (s == CHAR_END) {
                    if (o->len == start) return ERR_EMPTY_SPELL;
                    break;
                }
                Py_UCS4 ch;
                if (s == CHAR_UNI) {
                    int64_t b = dec_sym(m, d, m->t_uni);
                    if (b < 0) return d->err;
                    if (b == UNI_SAME) {
                        if (*prev_block < 0) return ERR_NO_PREV;
                        b = *prev_block;
                    }
                    *prev_block = b;
                    int lo = dec_uniform(d, 256);
                    if (lo < 0) return d->err;
                    int64_t cp = b << 8 | lo;
                    if (cp >= 0xD800 && cp <= 0xDFFF) return ERR_SURROGATE | cp << 8;
                    if (cp > 0x10FFFF) return ERR_RANGE;   /* unreachable: b < 4352 */
                    ch = (Py_UCS4)cp;
                } else {
                    ch = symbol_char(s);
                }
                if (out_reserve(o, 1) < 0) return ERR_NOMEM;
                o->buf[o->len++] = ch;
                if (o->len - start > m->max_chars) return ERR_LIMIT;
                c2 = c1;
                c1 = char_class(ch);
            }
            st = next_state(st, token_state(m, o->buf + start, o->len - start));
        } else {
            if (sym > END) return ERR_RANGE;   /* unreachable: tables hold ids, END, BACKOFF */
            int mode = 0;
            if (m->vletters[sym]) {
                mode = dec_cum(d, tcum(m, m->t_case + c), NCASE);
                if (mode < 0) return d->err;
            }
            uint32_t l = m->voff[sym + 1] - m->voff[sym];
            const char *s = m->vchars + m->voff[sym];
            if (out_reserve(o, l) < 0) return ERR_NOMEM;
            Py_UCS4 *w = o->buf + o->len;
            int u = 1;
            for (uint32_t j = 0; j < l; j++) {
                Py_UCS4 ch = (unsigned char)s[j];
                if (mode == 2 || (mode == 1 && j == 0) || (mode == 3 && u)) ch = up(ch);
                u = s[j] == ' ';
                w[j] = ch;
            }
            o->len += l;
            st = next_state(st, m->vstate[sym]);
        }
        if (o->len > m->max_chars) return ERR_LIMIT;
    }
}

static PyObject *Coder_decode(Coder *m, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Dec d = {view.buf, view.len, WINDOW_BYTES, view.len + WINDOW_BYTES, 0, TOP, 0};
    for (int i = 0; i < WINDOW_BYTES; i++)
        d.x = (d.x << 8) | (i < view.len ? d.data[i] : 0);
    Out o = {NULL, 0, 0};
    int64_t prev = -1;
    PyObject *res = NULL, *p = NULL;
    int64_t err = decode_text(m, &d, 0, &prev, &o);
    if (!err) {
        p = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.buf ? o.buf : (Py_UCS4 *)"", o.len);
        if (!p) goto done;
        err = decode_text(m, &d, 1, &prev, &o);
    }
    if (err == ERR_NOMEM) {
        PyErr_NoMemory();
    } else if (err) {
        res = PyLong_FromLongLong(err);
    } else {
        PyObject *q = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.buf ? o.buf : (Py_UCS4 *)"", o.len);
        if (q) res = PyTuple_Pack(2, p, q);
        Py_XDECREF(q);
    }
done:
    Py_XDECREF(p);
    PyMem_Free(o.buf);
    PyBuffer_Release(&view);
    return res;
}

/* ------------------------------------------------------------------ encoding (4.2, 4.3) */
typedef struct {
    uint8_t *buf;
    Py_ssize_t len, cap;
    uint64_t low, rng;    /* the full low is buf * 2^48 + low */
    int err;
} Enc;

static inline void enc_put(Enc *e, uint64_t cum, uint64_t freq, uint64_t total) {
    uint64_t r = e->rng / total;
    e->low += r * cum;
    if (e->low >= TOP) {           /* carry into the bytes already out */
        e->low -= TOP;
        Py_ssize_t k = e->len - 1;
        while (k >= 0 && e->buf[k] == 0xFF) e->buf[k--] = 0;
        if (k < 0) e->err = 1; else e->buf[k]++;
    }
    uint64_t rng = r * freq;
    while (rng < BOTTOM) {
        if (e->len == e->cap) {
            Py_ssize_t cap = e->cap ? e->cap * 2 : 256;
            uint8_t *b = PyMem_Realloc(e->buf, cap);
            if (!b) { e->err = 2; return; }
            e->buf = b;
            e->cap = cap;
        }
        e->buf[e->len++] = (uint8_t)(e->low >> 40);
        e->low = (e->low << 8) & (TOP - 1);
        rng <<= 8;
    }
    e->rng = rng;
}

static PyObject *enc_finish(Enc *e) {
    Py_ssize_t nbytes = e->len + WINDOW_BYTES;
    for (int k = WINDOW_BYTES; k >= 0; k--) {
        uint64_t mdiv = (uint64_t)1 << (8 * k);
        uint64_t v = (e->low + mdiv - 1) / mdiv * mdiv;
        if (v < e->low + e->rng) {
            if (v >= TOP) {
                v -= TOP;
                Py_ssize_t j = e->len - 1;
                while (j >= 0 && e->buf[j] == 0xFF) e->buf[j--] = 0;
                if (j < 0) { PyErr_SetString(PyExc_SystemError, "cm1 encoder carry overflow"); return NULL; }
                e->buf[j]++;
            }
            PyObject *out = PyBytes_FromStringAndSize(NULL, nbytes - k);
            if (!out) return NULL;
            char *w = PyBytes_AS_STRING(out);
            if (e->len) memcpy(w, e->buf, e->len);
            for (int j = 0; j < WINDOW_BYTES - k; j++) w[e->len + j] = (char)(v >> (40 - 8 * j));
            return out;
        }
    }
    PyErr_SetString(PyExc_SystemError, "cm1 encoder: unreachable end");
    return NULL;
}

static inline void put_index(const Coder *m, Enc *e, int t, int i) {
    const uint32_t *c = tcum(m, t);
    enc_put(e, c[i], c[i + 1] - c[i], c[m->tlen[t]]);
}

static void put_token(const Coder *m, Enc *e, int ti, int32_t sym) {
    for (;;) {
        int i = tindex(m, ti, sym);
        if (i >= 0) { put_index(m, e, ti, i); return; }
        put_index(m, e, ti, m->tlen[ti] - 1);          /* BACKOFF is the last symbol */
        ti = m->parent[ti];
        if (ti < 0) {
            int g = tindex(m, m->t_global, sym);
            if (g < 0) { e->err = 3; return; }
            put_index(m, e, m->t_global, g);
            return;
        }
    }
}

/* cost of sym from table ti (cm.Model.token_cost), 1/65536 bit */
static int64_t token_cost(const Coder *m, int ti, int32_t sym) {
    int64_t v = 0;
    for (;;) {
        const uint32_t *c = tcum(m, ti);
        int64_t lt = ilog2(m, c[m->tlen[ti]]);
        int i = tindex(m, ti, sym);
        if (i >= 0) return v + lt - ilog2(m, c[i + 1] - c[i]);
        int b = m->tlen[ti] - 1;
        v += lt - ilog2(m, c[b + 1] - c[b]);
        ti = m->parent[ti];
        if (ti < 0) {
            const uint32_t *g = tcum(m, m->t_global);
            int k = sym == m->n + 2 ? m->n : sym;
            if (k < 0 || k > m->n) return v + ((int64_t)1 << 40);   /* unreachable */
            return v + ilog2(m, g[m->n + 1]) - ilog2(m, g[k + 1] - g[k]);
        }
    }
}

static inline int64_t dense_cost(const Coder *m, int t, int s) {
    const uint32_t *c = tcum(m, t);
    return ilog2(m, c[m->tlen[t]]) - ilog2(m, c[s + 1] - c[s]);
}

static int64_t spell_cost(const Coder *m, const Py_UCS4 *s, Py_ssize_t n) {
    int64_t cost = 0;
    int c1 = 0, c2 = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        int sym = char_symbol(s[k]);
        cost += dense_cost(m, m->t_char + c1 * NCHARCTX + c2, sym);
        if (sym == CHAR_UNI) cost += (int64_t)10 << 16;
        c2 = c1;
        c1 = char_class(s[k]);
    }
    return cost + dense_cost(m, m->t_char + c1 * NCHARCTX + c2, CHAR_END);
}

static void encode_spell(const Coder *m, Enc *e, const Py_UCS4 *s, Py_ssize_t n, int64_t *prev) {
    int c1 = 0, c2 = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        int sym = char_symbol(s[k]);
        put_index(m, e, m->t_char + c1 * NCHARCTX + c2, sym);
        if (sym == CHAR_UNI) {
            int64_t b = s[k] >> 8;
            put_index(m, e, m->t_uni, b == *prev ? UNI_SAME : (int)b);
            *prev = b;
            enc_put(e, s[k] & 255, 1, 256);
        }
        c2 = c1;
        c1 = char_class(s[k]);
    }
    put_index(m, e, m->t_char + c1 * NCHARCTX + c2, CHAR_END);
}

/* a DP node: best way found so far to reach (atom position, state) */
typedef struct {
    int64_t cost;
    int64_t state;
    int32_t prev;        /* node it came from */
    int32_t from;        /* atom position it came from */
    int32_t sym;
    int32_t mode;
    int32_t next;        /* next node at the same position, in insertion order */
} Node;

typedef struct { Node *v; Py_ssize_t len, cap; } Nodes;

static int32_t node_add(Nodes *ns) {
    if (ns->len == ns->cap) {
        Py_ssize_t cap = ns->cap ? ns->cap * 2 : 256;
        if (cap > INT32_MAX) return -1;
        Node *v = PyMem_Realloc(ns->v, cap * sizeof(Node));
        if (!v) return -1;
        ns->v = v;
        ns->cap = cap;
    }
    return (int32_t)ns->len++;
}

typedef struct { int32_t end, sym, mode; } Cand;

/* case mode m of low (section 3.1) equal to the surface s? (ASCII) */
static int case_fits(const Py_UCS4 *s, Py_ssize_t n, int mode) {
    int u = 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_UCS4 l = low(s[k]);
        Py_UCS4 want = (mode == 2 || (mode == 1 && k == 0) || (mode == 3 && u)) ? up(l) : l;
        if (want != s[k]) return 0;
        u = l == ' ';
    }
    return 1;
}

/* cheapest token sequence (cm.Model.parse) for text, then code it (_encode_tokens) */
static int encode_text(const Coder *m, Enc *e, int role, const Py_UCS4 *u, Py_ssize_t len,
                       int64_t *prev_block) {
    const int32_t END = m->n, SPELL = m->n + 2;
    int rc = -1;
    /* atoms: runs of word characters, single other characters */
    Py_ssize_t *as = PyMem_Malloc((len + 1) * sizeof(Py_ssize_t));
    int32_t *head = NULL, *tail = NULL;
    Nodes ns = {NULL, 0, 0};
    int32_t *path = NULL;
    if (!as) return -1;
    Py_ssize_t na = 0;
    for (Py_ssize_t k = 0; k < len;) {
        as[na++] = k;
        if (is_word_char(u[k])) { k++; while (k < len && is_word_char(u[k])) k++; }
        else k++;
    }
    as[na] = len;
    head = PyMem_Malloc((na + 1) * sizeof(int32_t));
    tail = PyMem_Malloc((na + 1) * sizeof(int32_t));
    if (!head || !tail) goto done;
    memset(head, 0xff, (na + 1) * sizeof(int32_t));
    int32_t r0 = node_add(&ns);
    if (r0 < 0) goto done;
    ns.v[r0] = (Node){0, BOS, -1, -1, -1, 0, -1};
    head[0] = tail[0] = r0;
    Cand cands[MAX_PHRASE_ATOMS + 1];
    for (Py_ssize_t i = 0; i < na; i++) {
        if (head[i] < 0) continue;
        int nc = 0;
        uint64_t h = FNV_INIT;
        Py_ssize_t jmax = na < i + MAX_PHRASE_ATOMS ? na : i + MAX_PHRASE_ATOMS;
        for (Py_ssize_t j = i; j < jmax; j++) {
            int ascii = 1;
            for (Py_ssize_t k = as[j]; k < as[j + 1]; k++) {
                if (u[k] >= 0x80) { ascii = 0; break; }
                h = fnv(h, low(u[k]));
            }
            if (!ascii) break;
            const Py_UCS4 *s = u + as[i];
            Py_ssize_t sl = as[j + 1] - as[i];
            const Key *key = find_key(m, s, sl, h, 1);
            if (key && key->vid >= 0) {
                int mode = -1;
                for (int md = 0; md < NCASE; md++)
                    if (case_fits(s, sl, md)) { mode = md; break; }
                if (mode >= 0) cands[nc++] = (Cand){(int32_t)(j + 1), key->vid, mode};
            }
            if (!key || !key->prefix) break;
        }
        if (!nc || cands[0].end != i + 1) cands[nc++] = (Cand){(int32_t)(i + 1), SPELL, 0};
        int64_t spc = -1, spst = 0;
        for (int32_t p = head[i]; p >= 0; p = ns.v[p].next) {
            int64_t pst = ns.v[p].state, pc = ns.v[p].cost;
            int c = role * NCLASS + (int)(pst & 15);
            int ti = table_for(m, role, pst);
            for (int q = 0; q < nc; q++) {
                int64_t cost, nst;
                const Cand *cd = &cands[q];
                if (cd->sym == SPELL) {
                    if (spc < 0) {
                        spc = spell_cost(m, u + as[i], as[i + 1] - as[i]);
                        spst = token_state(m, u + as[i], as[i + 1] - as[i]);
                    }
                    cost = pc + token_cost(m, ti, SPELL) + spc;
                    nst = next_state(pst, spst);
                } else {
                    cost = pc + token_cost(m, ti, cd->sym);
                    if (m->vletters[cd->sym]) cost += dense_cost(m, m->t_case + c, cd->mode);
                    nst = next_state(pst, m->vstate[cd->sym]);
                }
                int32_t f = head[cd->end];
                while (f >= 0 && ns.v[f].state != nst) f = ns.v[f].next;
                if (f < 0) {
                    f = node_add(&ns);
                    if (f < 0) goto done;
                    ns.v[f].state = nst;
                    ns.v[f].next = -1;
                    if (head[cd->end] < 0) head[cd->end] = f;
                    else ns.v[tail[cd->end]].next = f;
                    tail[cd->end] = f;
                } else if (!(cost < ns.v[f].cost)) {
                    continue;
                }
                ns.v[f].cost = cost;
                ns.v[f].prev = p;
                ns.v[f].from = (int32_t)i;
                ns.v[f].sym = cd->sym;
                ns.v[f].mode = cd->mode;
            }
        }
    }
    int64_t bestc = (int64_t)1 << 62;
    int32_t best = -1;
    for (int32_t p = head[na]; p >= 0; p = ns.v[p].next) {
        int64_t cost = ns.v[p].cost + token_cost(m, table_for(m, role, ns.v[p].state), END);
        if (cost < bestc) { bestc = cost; best = p; }
    }
    if (best < 0) goto done;
    /* walk back, then code the tokens front to back */
    Py_ssize_t nt = 0;
    for (int32_t p = best; ns.v[p].prev >= 0; p = ns.v[p].prev) nt++;
    path = PyMem_Malloc((nt + 1) * sizeof(int32_t));
    if (!path) goto done;
    Py_ssize_t k = nt;
    for (int32_t p = best; ns.v[p].prev >= 0; p = ns.v[p].prev) path[--k] = p;
    int64_t st = BOS;
    for (k = 0; k < nt; k++) {
        const Node *nd = &ns.v[path[k]];
        int c = role * NCLASS + (int)(st & 15);
        put_token(m, e, table_for(m, role, st), nd->sym);
        if (nd->sym == SPELL) {
            const Py_UCS4 *s = u + as[nd->from];
            Py_ssize_t sl = as[nd->from + 1] - as[nd->from];
            encode_spell(m, e, s, sl, prev_block);
            st = next_state(st, token_state(m, s, sl));
            continue;
        }
        if (m->vletters[nd->sym]) put_index(m, e, m->t_case + c, nd->mode);
        st = next_state(st, m->vstate[nd->sym]);
    }
    put_token(m, e, table_for(m, role, st), END);
    rc = e->err ? -1 : 0;
done:
    PyMem_Free(as); PyMem_Free(head); PyMem_Free(tail); PyMem_Free(ns.v); PyMem_Free(path);
    return rc;
}

static PyObject *Coder_encode(Coder *m, PyObject *args) {
    PyObject *texts[2];
    if (!PyArg_ParseTuple(args, "UU:encode", &texts[0], &texts[1])) return NULL;
    Enc e = {NULL, 0, 0, 0, TOP, 0};
    int64_t prev = -1;
    PyObject *res = NULL;
    for (int role = 0; role < 2; role++) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(texts[role]);
        if (len > m->max_chars) {
            PyErr_SetString(PyExc_ValueError, "text over the limit");
            goto done;
        }
        Py_UCS4 *u = PyUnicode_AsUCS4Copy(texts[role]);
        if (!u) goto done;
        for (Py_ssize_t k = 0; k < len; k++) {
            if (u[k] >= 0xD800 && u[k] <= 0xDFFF) {
                PyMem_Free(u);
                PyErr_SetString(PyExc_ValueError, "lone surrogate");
                goto done;
            }
        }
        int rc = encode_text(m, &e, role, u, len, &prev);
        PyMem_Free(u);
        if (rc < 0) {
            if (!PyErr_Occurred()) {
                if (e.err == 0 || e.err == 2) PyErr_NoMemory();
                else PyErr_SetString(PyExc_SystemError, "cm1 encoder: inconsistent tables");
            }
            goto done;
        }
    }
    res = enc_finish(&e);
done:
    PyMem_Free(e.buf);
    return res;
}

static PyMethodDef Coder_methods[] = {
    {"decode", (PyCFunction)Coder_decode, METH_O,
     "decode(data) -> (prompt, negative) or an int error code (kind | code_point << 8)"},
    {"encode", (PyCFunction)Coder_encode, METH_VARARGS, "encode(prompt, negative) -> bytes"},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject CoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aigif.textcoding._cmfast.Coder",
    .tp_basicsize = sizeof(Coder),
    .tp_dealloc = (destructor)Coder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "cm1 coder over a loaded model's tables (see cm.py)",
    .tp_methods = Coder_methods,
    .tp_new = Coder_new,
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_cmfast", "Compiled twin of text method 2 (cm1).", -1, NULL
};

PyMODINIT_FUNC PyInit__cmfast(void) {
    if (PyType_Ready(&CoderType) < 0) return NULL;
    PyObject *mod = PyModule_Create(&moddef);
    if (!mod) return NULL;
    Py_INCREF(&CoderType);
    if (PyModule_AddObject(mod, "Coder", (PyObject *)&CoderType) < 0) {
        Py_DECREF(&CoderType);
        Py_DECREF(mod);
        return NULL;
    }
    if (PyModule_AddIntConstant(mod, "ERR_RANGE", ERR_RANGE) < 0 ||
        PyModule_AddIntConstant(mod, "ERR_END", ERR_END) < 0 ||
        PyModule_AddIntConstant(mod, "ERR_EMPTY_SPELL", ERR_EMPTY_SPELL) < 0 ||
        PyModule_AddIntConstant(mod, "ERR_NO_PREV", ERR_NO_PREV) < 0 ||
        PyModule_AddIntConstant(mod, "ERR_SURROGATE", ERR_SURROGATE) < 0 ||
        PyModule_AddIntConstant(mod, "ERR_LIMIT", ERR_LIMIT) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
