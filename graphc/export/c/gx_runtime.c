/* graphc export runtime: what every exported model's library does around its compiled
   programs. Pasted into the model's generated source after its tables (gx_types.h) and
   before the target's part, which defines gx_target_start, gx_target_stop and gx_enter
   (the thread pool, the device, the call of a program's entry point).

   A context owns the model's variables (on the device for CUDA), the random streams'
   draw counts and, per program, a pointer table like the one graphc's Python runtime
   builds (codegen/base/executable.py): feeds, variables, constants, the arena placed
   for the run's batch size N, workspaces, random keys, the status word, the sizes word
   and the print callback. Everything is static: the model's API functions are the only
   symbols the source defines. Valid C99 (with POSIX) and C++. */

#define GX_OK 0
#define GX_ERROR_ARGUMENT 1
#define GX_ERROR_IO 2
#define GX_ERROR_WEIGHTS 3
#define GX_ERROR_MODEL 4
#define GX_ERROR_MEMORY 5
#define GX_ERROR_RUN 6
#define GX_ERROR_DEVICE 7
#define GX_ERROR_STATE 8

#define GX_ERROR_BYTES 1024
#define GX_ALIGN 64
#define GX_MAX_RANK 32
#define GX_MAX_JSON_DEPTH 64

#define GX_GOLDEN UINT64_C(0x9E3779B97F4A7C15)
#define GX_MIX1 UINT64_C(0xBF58476D1CE4E5B9)
#define GX_MIX2 UINT64_C(0x94D049BB133111EB)

#if defined(__GNUC__)
#define GX_THREAD_LOCAL __thread
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define GX_THREAD_LOCAL _Thread_local
#else
#define GX_THREAD_LOCAL
#endif

typedef struct {
    void **table;
    int64_t *words;          /* per slot: the host value of an rng / status / sizes word */
    void **owned;            /* per slot: memory this state allocated for it */
    int64_t *owned_bytes;
    void **backups;          /* per restored variable: its copy before the run */
    void *arena;
    int64_t arena_bytes;
    int64_t batch;           /* the N the table is set for; -1: none yet */
    int ready;
} gx_state;

struct gx_context_s {       /* the model's NAME_context */
    void **variables;        /* one array per variable (device memory for CUDA) */
    uint64_t *counts;        /* draws of each random stream so far */
    gx_state states[GX_N_PROGRAMS];
    void *target;            /* the target's own state (the CPU's thread pool) */
    int usable;              /* 0 after a failed create: only last_error and destroy */
    char error[GX_ERROR_BYTES];
};
typedef struct gx_context_s gx_context;

static int gx_target_start(gx_context *ctx);
static void gx_target_stop(gx_context *ctx);
static int gx_enter(gx_context *ctx, int program, void **table, int64_t batch);

static int gx_fail(gx_context *ctx, int status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(ctx->error, sizeof ctx->error, format, args);
    va_end(args);
    return status;
}

/* ---- sizes ------------------------------------------------------------------------ */

/* k*n + c, or -1 when it overflows */
static int64_t gx_affine(int64_t k, int64_t c, int64_t n) {
    if (k != 0 && n > (INT64_MAX - c) / k) return -1;
    return k * n + c;
}

static int64_t gx_tensor_bytes(const gx_tensor *t, int64_t n) {
    int64_t count = gx_affine(t->count_k, t->count_c, n);
    if (count < 0 || count > INT64_MAX / 8) return -1;
    return count * gx_dtype_bytes[t->dtype];
}

static int64_t gx_variable_bytes(int v) {
    return gx_variables[v].count_c * gx_dtype_bytes[gx_variables[v].dtype];
}

/* ---- memory: the host's, and the device's (the same on CPU targets) ----------------- */

#if !GX_DEVICE
static void *gx_host_alloc(int64_t bytes) {
    void *p = NULL;
    if (bytes < 0 || (uint64_t) bytes > (uint64_t) SIZE_MAX - GX_ALIGN) return NULL;
    if (posix_memalign(&p, GX_ALIGN, bytes ? (size_t) bytes : 1) != 0) return NULL;
    memset(p, 0, bytes ? (size_t) bytes : 1);
    return p;
}
#endif

#if GX_DEVICE
enum { GX_TO_DEVICE = 0, GX_TO_HOST = 1, GX_ON_DEVICE = 2 };

static int gx_alloc(gx_context *ctx, void **ptr, int64_t bytes) {
    *ptr = NULL;
    if (graphc_alloc(ptr, (size_t) bytes, ctx->error, (int) sizeof ctx->error)) {
        *ptr = NULL;
        return GX_ERROR_DEVICE;
    }
    return GX_OK;
}

static void gx_free(void *ptr) {
    if (ptr) graphc_free(ptr);
}

static int gx_copy(gx_context *ctx, void *dst, const void *src, int64_t bytes, int kind) {
    if (bytes <= 0) return GX_OK;
    return graphc_copy(dst, src, (size_t) bytes, kind, ctx->error, (int) sizeof ctx->error)
        ? GX_ERROR_DEVICE : GX_OK;
}
#else
enum { GX_TO_DEVICE = 0, GX_TO_HOST = 1, GX_ON_DEVICE = 2 };

static int gx_alloc(gx_context *ctx, void **ptr, int64_t bytes) {
    *ptr = gx_host_alloc(bytes);
    if (!*ptr)
        return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory (%lld bytes)", (long long) bytes);
    return GX_OK;
}

static void gx_free(void *ptr) { free(ptr); }

static int gx_copy(gx_context *ctx, void *dst, const void *src, int64_t bytes, int kind) {
    (void) ctx;
    (void) kind;
    if (bytes > 0) memcpy(dst, src, (size_t) bytes);
    return GX_OK;
}
#endif

/* ---- random keys: the same formula as graphc's ops/random_bits.py -------------------- */

static uint64_t gx_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * GX_MIX1;
    z = (z ^ (z >> 27)) * GX_MIX2;
    return z ^ (z >> 31);
}

/* ---- printing (gc.print): message, shape, the first `summarize` values ---------------- */

static GX_THREAD_LOCAL const gx_program *gx_printing;
static GX_THREAD_LOCAL int64_t gx_printing_batch;

static void gx_print_value(int64_t index, void *data) {
    const gx_program *p = gx_printing;
    const gx_print *what;
    int64_t count, i;
    int d;
    if (!p || index < 0 || index >= p->n_prints) return;
    what = &p->prints[index];
    count = gx_affine(what->count_k, what->count_c, gx_printing_batch);
    printf("%s[", what->message);
    for (d = 0; d < what->rank; d++)
        printf("%s%lld", d ? ", " : "",
               (long long) (what->shape[d] < 0 ? gx_printing_batch : what->shape[d]));
    printf("] [");
    for (i = 0; i < count && i < what->summarize; i++) {
        const char *sep = i ? ", " : "";
        switch (what->dtype) {
        case GX_F32: printf("%s%.8g", sep, (double) ((const float *) data)[i]); break;
        case GX_F64: printf("%s%.17g", sep, ((const double *) data)[i]); break;
        case GX_I32: printf("%s%ld", sep, (long) ((const int32_t *) data)[i]); break;
        case GX_I64: printf("%s%lld", sep, (long long) ((const int64_t *) data)[i]); break;
        default: printf("%s%s", sep, ((const uint8_t *) data)[i] ? "True" : "False"); break;
        }
    }
    printf("%s]\n", count > what->summarize ? " ..." : "");
    fflush(stdout);
}

/* ---- CRC-32 (the zlib polynomial), as the weights file's metadata holds it ------------- */

static uint32_t gx_crc32(const unsigned char *data, int64_t n) {
    uint32_t table[256], crc = 0xFFFFFFFFu;
    int64_t i;
    int k;
    for (i = 0; i < 256; i++) {
        uint32_t c = (uint32_t) i;
        for (k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    for (i = 0; i < n; i++) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* ---- a small JSON reader for the weights header ------------------------------------- */

typedef struct {
    const char *p, *end;
} gx_json;

static void gx_json_space(gx_json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int gx_json_take(gx_json *j, char c) {
    gx_json_space(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int gx_hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int gx_json_hex4(gx_json *j, uint32_t *out) {
    int i;
    *out = 0;
    if (j->end - j->p < 4) return 0;
    for (i = 0; i < 4; i++) {
        int d = gx_hex_digit(j->p[i]);
        if (d < 0) return 0;
        *out = *out << 4 | (uint32_t) d;
    }
    j->p += 4;
    return 1;
}

/* A string, decoded to UTF-8 into a new NUL-terminated buffer (NULL: malformed). */
static char *gx_json_string(gx_json *j) {
    char *out, *w;
    if (!gx_json_take(j, '"')) return NULL;
    out = (char *) malloc((size_t) (j->end - j->p) + 1);
    if (!out) return NULL;
    w = out;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        uint32_t u;
        if ((unsigned char) c < 0x20) break;
        if (c != '\\') {
            *w++ = c;
            continue;
        }
        if (j->p >= j->end) break;
        c = *j->p++;
        switch (c) {
        case '"': case '\\': case '/': *w++ = c; continue;
        case 'b': *w++ = '\b'; continue;
        case 'f': *w++ = '\f'; continue;
        case 'n': *w++ = '\n'; continue;
        case 'r': *w++ = '\r'; continue;
        case 't': *w++ = '\t'; continue;
        case 'u': break;
        default: free(out); return NULL;
        }
        if (!gx_json_hex4(j, &u)) break;
        if (u >= 0xD800 && u < 0xDC00) {           /* a surrogate pair */
            uint32_t low;
            if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') break;
            j->p += 2;
            if (!gx_json_hex4(j, &low) || low < 0xDC00 || low >= 0xE000) break;
            u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
        }
        if (u < 0x80) {
            *w++ = (char) u;
        } else if (u < 0x800) {
            *w++ = (char) (0xC0 | u >> 6);
            *w++ = (char) (0x80 | (u & 0x3F));
        } else if (u < 0x10000) {
            *w++ = (char) (0xE0 | u >> 12);
            *w++ = (char) (0x80 | (u >> 6 & 0x3F));
            *w++ = (char) (0x80 | (u & 0x3F));
        } else {
            *w++ = (char) (0xF0 | u >> 18);
            *w++ = (char) (0x80 | (u >> 12 & 0x3F));
            *w++ = (char) (0x80 | (u >> 6 & 0x3F));
            *w++ = (char) (0x80 | (u & 0x3F));
        }
    }
    if (j->p >= j->end || *j->p != '"') {
        free(out);
        return NULL;
    }
    j->p++;
    *w = '\0';
    return out;
}

static int gx_json_int(gx_json *j, int64_t *out) {
    int64_t v = 0;
    int digits = 0;
    gx_json_space(j);
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (v > (INT64_MAX - 9) / 10) return 0;
        v = v * 10 + (*j->p++ - '0');
        digits++;
    }
    if (!digits) return 0;
    *out = v;
    return 1;
}

/* Skip any value (NULL-free: strings are decoded and dropped). */
static int gx_json_skip(gx_json *j, int depth) {
    gx_json_space(j);
    if (j->p >= j->end || depth > GX_MAX_JSON_DEPTH) return 0;
    if (*j->p == '"') {
        char *s = gx_json_string(j);
        free(s);
        return s != NULL;
    }
    if (*j->p == '{' || *j->p == '[') {
        char close = *j->p == '{' ? '}' : ']';
        int object = *j->p == '{';
        j->p++;
        if (gx_json_take(j, close)) return 1;
        do {
            if (object) {
                char *key = gx_json_string(j);
                if (!key) return 0;
                free(key);
                if (!gx_json_take(j, ':')) return 0;
            }
            if (!gx_json_skip(j, depth + 1)) return 0;
        } while (gx_json_take(j, ','));
        return gx_json_take(j, close);
    }
    while (j->p < j->end && (strchr("+-.0123456789eEtruefalsn", *j->p) != NULL)) j->p++;
    return 1;
}

/* An array of at most `cap` non-negative integers. */
static int gx_json_ints(gx_json *j, int64_t *out, int cap, int *count) {
    *count = 0;
    if (!gx_json_take(j, '[')) return 0;
    if (gx_json_take(j, ']')) return 1;
    do {
        if (*count >= cap || !gx_json_int(j, &out[*count])) return 0;
        (*count)++;
    } while (gx_json_take(j, ','));
    return gx_json_take(j, ']');
}

/* ---- the weights file (safetensors layout, graphc's facts in __metadata__) ------------ */

typedef struct {
    char *name, *dtype;
    int rank, n_offsets;
    int64_t shape[GX_MAX_RANK];
    int64_t offsets[2];
} gx_entry;

typedef struct {
    gx_entry *entries;
    int n_entries;
    char **meta;             /* key, value, key, value, ... */
    int n_meta;
} gx_header;

static void gx_header_free(gx_header *h) {
    int i;
    for (i = 0; i < h->n_entries; i++) {
        free(h->entries[i].name);
        free(h->entries[i].dtype);
    }
    for (i = 0; i < 2 * h->n_meta; i++) free(h->meta[i]);
    free(h->entries);
    free(h->meta);
}

static const char *gx_meta(const gx_header *h, const char *prefix, const char *name) {
    size_t lp = strlen(prefix);
    int i;
    for (i = 0; i < h->n_meta; i++) {
        const char *key = h->meta[2 * i];
        if (strncmp(key, prefix, lp) == 0 && strcmp(key + lp, name) == 0) return h->meta[2 * i + 1];
    }
    return NULL;
}

static int gx_parse_entry(gx_json *j, gx_entry *e) {
    if (!gx_json_take(j, '{')) return 0;
    if (gx_json_take(j, '}')) return 1;
    do {
        char *key = gx_json_string(j);
        int ok;
        if (!key || !gx_json_take(j, ':')) {
            free(key);
            return 0;
        }
        if (strcmp(key, "dtype") == 0) {
            free(e->dtype);
            e->dtype = gx_json_string(j);
            ok = e->dtype != NULL;
        } else if (strcmp(key, "shape") == 0) {
            ok = gx_json_ints(j, e->shape, GX_MAX_RANK, &e->rank);
        } else if (strcmp(key, "data_offsets") == 0) {
            ok = gx_json_ints(j, e->offsets, 2, &e->n_offsets);
        } else {
            ok = gx_json_skip(j, 1);
        }
        free(key);
        if (!ok) return 0;
    } while (gx_json_take(j, ','));
    return gx_json_take(j, '}');
}

static int gx_parse_header(const char *text, int64_t size, gx_header *h) {
    gx_json j;
    j.p = text;
    j.end = text + size;
    memset(h, 0, sizeof *h);
    if (!gx_json_take(&j, '{')) return 0;
    if (gx_json_take(&j, '}')) return 1;
    do {
        char *key = gx_json_string(&j);
        if (!key || !gx_json_take(&j, ':')) {
            free(key);
            return 0;
        }
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (!gx_json_take(&j, '{')) return 0;
            if (gx_json_take(&j, '}')) continue;
            do {
                char **grown = (char **) realloc(h->meta, sizeof(char *) * 2 * (h->n_meta + 1));
                if (!grown) return 0;
                h->meta = grown;
                h->meta[2 * h->n_meta] = gx_json_string(&j);
                h->meta[2 * h->n_meta + 1] = NULL;
                h->n_meta++;
                if (!h->meta[2 * h->n_meta - 2] || !gx_json_take(&j, ':')) return 0;
                h->meta[2 * h->n_meta - 1] = gx_json_string(&j);
                if (!h->meta[2 * h->n_meta - 1]) return 0;
            } while (gx_json_take(&j, ','));
            if (!gx_json_take(&j, '}')) return 0;
        } else {
            gx_entry *grown = (gx_entry *) realloc(h->entries, sizeof(gx_entry) * (h->n_entries + 1));
            if (!grown) {
                free(key);
                return 0;
            }
            h->entries = grown;
            memset(&h->entries[h->n_entries], 0, sizeof(gx_entry));
            h->entries[h->n_entries].name = key;
            h->n_entries++;
            if (!gx_parse_entry(&j, &h->entries[h->n_entries - 1])) return 0;
        }
    } while (gx_json_take(&j, ','));
    if (!gx_json_take(&j, '}')) return 0;
    gx_json_space(&j);
    return j.p == j.end;
}

/* Whether `st` is a regular file; if not, the failure saying what it is. */
static int gx_check_regular(gx_context *ctx, const char *path, const struct stat *st) {
    if (S_ISDIR(st->st_mode))
        return gx_fail(ctx, GX_ERROR_IO, "weights '%s' is a directory, not a file", path);
    if (!S_ISREG(st->st_mode))
        return gx_fail(ctx, GX_ERROR_IO, "weights '%s' is not a regular file", path);
    return GX_OK;
}

static int gx_read_file(gx_context *ctx, const char *path, unsigned char **data, int64_t *size) {
    FILE *f;
    struct stat st;
    int64_t length;
    int status = GX_OK;
    *data = NULL;
    if (stat(path, &st) != 0)      /* before fopen: opening a FIFO would wait for a writer */
        return gx_fail(ctx, GX_ERROR_IO, "cannot open weights '%s': %s", path, strerror(errno));
    if ((status = gx_check_regular(ctx, path, &st)) != GX_OK) return status;
    if (!(f = fopen(path, "rb")))
        return gx_fail(ctx, GX_ERROR_IO, "cannot open weights '%s': %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0)
        status = gx_fail(ctx, GX_ERROR_IO, "cannot read weights '%s': %s", path, strerror(errno));
    else
        status = gx_check_regular(ctx, path, &st);
    if (status != GX_OK) {
        fclose(f);
        return status;
    }
    length = (int64_t) st.st_size;
    if ((uint64_t) length > (uint64_t) SIZE_MAX - 1 ||
        !(*data = (unsigned char *) malloc(length ? (size_t) length : 1))) {
        fclose(f);
        return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory reading weights '%s' (%lld bytes)",
                       path, (long long) length);
    }
    if (length && fread(*data, 1, (size_t) length, f) != (size_t) length) {
        status = gx_fail(ctx, GX_ERROR_IO, "cannot read weights '%s': %s", path,
                         ferror(f) ? strerror(errno) : "it shrank while being read");
        fclose(f);
        return status;
    }
    fclose(f);
    *size = length;
    return GX_OK;
}

static int gx_check_entry(gx_context *ctx, const char *path, const gx_header *h, int v,
                          int64_t data_bytes, const gx_entry **found) {
    const gx_tensor *t = &gx_variables[v];
    const gx_entry *e = NULL;
    int i;
    for (i = 0; i < h->n_entries; i++)
        if (strcmp(h->entries[i].name, t->name) == 0) e = &h->entries[i];
    if (!e)
        return gx_fail(ctx, GX_ERROR_WEIGHTS, "weights '%s' lack variable '%s'", path, t->name);
    if (!e->dtype || strcmp(e->dtype, gx_dtype_codes[t->dtype]) != 0)
        return gx_fail(ctx, GX_ERROR_WEIGHTS, "weights '%s' hold '%s' as %s; the model has %s",
                       path, t->name, e->dtype ? e->dtype : "?", gx_dtype_codes[t->dtype]);
    if (e->rank != t->rank)
        return gx_fail(ctx, GX_ERROR_WEIGHTS, "weights '%s' hold '%s' with rank %d; the model "
                       "has rank %d", path, t->name, e->rank, t->rank);
    for (i = 0; i < t->rank; i++)
        if (e->shape[i] != t->shape[i])
            return gx_fail(ctx, GX_ERROR_WEIGHTS, "weights '%s' hold '%s' with dimension %d of "
                           "size %lld; the model has %lld", path, t->name, i,
                           (long long) e->shape[i], (long long) t->shape[i]);
    if (e->n_offsets != 2 || e->offsets[0] > e->offsets[1] || e->offsets[1] > data_bytes ||
        e->offsets[1] - e->offsets[0] != gx_variable_bytes(v))
        return gx_fail(ctx, GX_ERROR_WEIGHTS, "weights '%s' have '%s' outside the file or of the "
                       "wrong size", path, t->name);
    *found = e;
    return GX_OK;
}

/* The end of the tensor data the header describes (the largest end offset). */
static int64_t gx_data_end(const gx_header *h) {
    int64_t end = 0;
    int i;
    for (i = 0; i < h->n_entries; i++)
        if (h->entries[i].n_offsets == 2 && h->entries[i].offsets[1] > end)
            end = h->entries[i].offsets[1];
    return end;
}

static int gx_load_weights(gx_context *ctx, const char *path) {
    unsigned char *data;
    int64_t size = 0, header_bytes;
    uint64_t length = 0;
    gx_header h;
    const char *value;
    int status, v, s;
    char expected[16];
    if ((status = gx_read_file(ctx, path, &data, &size)) != GX_OK) {
        free(data);
        return status;
    }
    status = GX_ERROR_WEIGHTS;
    memset(&h, 0, sizeof h);
    if (size < 8) {
        gx_fail(ctx, status, "weights '%s' are truncated: %lld bytes", path, (long long) size);
        goto done;
    }
    for (v = 7; v >= 0; v--) length = length << 8 | data[v];
    if (length > (uint64_t) (size - 8)) {
        gx_fail(ctx, status, "weights '%s' are truncated or not safetensors: the header "
                "length %llu is larger than the file (%lld bytes)", path,
                (unsigned long long) length, (long long) size);
        goto done;
    }
    header_bytes = (int64_t) length;
    if (!gx_parse_header((const char *) data + 8, header_bytes, &h)) {
        gx_fail(ctx, status, "weights '%s' have a header that is not valid JSON", path);
        goto done;
    }
    if (gx_data_end(&h) > size - 8 - header_bytes) {
        gx_fail(ctx, status, "weights '%s' are truncated: expected %llu bytes, the file has "
                "%lld", path, (unsigned long long) (8 + header_bytes) +
                (unsigned long long) gx_data_end(&h), (long long) size);
        goto done;
    }
    if (!h.n_meta) {
        gx_fail(ctx, status, "weights '%s' are not graphc weights (no __metadata__)", path);
        goto done;
    }
    value = gx_meta(&h, "graphc_model", "");
    if (!value || strcmp(value, gx_model_hash) != 0) {
        gx_fail(ctx, GX_ERROR_MODEL, "weights '%s' belong to another model (%s; this one is %s)",
                path, value ? value : "none", gx_model_hash);
        status = GX_ERROR_MODEL;
        goto done;
    }
    snprintf(expected, sizeof expected, "%d", GX_ABI_VERSION);
    value = gx_meta(&h, "graphc_abi", "");
    if (!value || strcmp(value, expected) != 0) {
        gx_fail(ctx, GX_ERROR_MODEL, "weights '%s' have ABI version %s; this library reads %d",
                path, value ? value : "none", GX_ABI_VERSION);
        status = GX_ERROR_MODEL;
        goto done;
    }
    if (h.n_entries != GX_N_VARIABLES) {
        gx_fail(ctx, status, "weights '%s' hold %d tensors; the model has %d variables", path,
                h.n_entries, GX_N_VARIABLES);
        goto done;
    }
    for (v = 0; v < GX_N_VARIABLES; v++) {
        const gx_entry *e = NULL;
        const unsigned char *raw;
        char crc[16];
        int64_t bytes = gx_variable_bytes(v);
        if (gx_check_entry(ctx, path, &h, v, size - 8 - header_bytes, &e) != GX_OK) goto done;
        raw = data + 8 + header_bytes + e->offsets[0];
        snprintf(crc, sizeof crc, "%08lx", (unsigned long) gx_crc32(raw, bytes));
        value = gx_meta(&h, "crc32:", gx_variables[v].name);
        if (!value || strcmp(value, crc) != 0) {
            gx_fail(ctx, status, "weights '%s' are damaged: '%s' fails its checksum", path,
                    gx_variables[v].name);
            goto done;
        }
        if ((status = gx_copy(ctx, ctx->variables[v], raw, bytes, GX_TO_DEVICE)) != GX_OK)
            goto done;
        status = GX_ERROR_WEIGHTS;
    }
    for (s = 0; s < GX_N_STREAMS; s++) {
        value = gx_meta(&h, "graphc_rng:", gx_streams[s]);
        if (value) ctx->counts[s] = (uint64_t) strtoull(value, NULL, 10);
    }
    status = GX_OK;
done:
    gx_header_free(&h);
    free(data);
    return status;
}

/* A growing text buffer for the header of a weights file being saved. */
typedef struct {
    char *text;
    size_t length, capacity;
    int failed;
} gx_text;

static void gx_append(gx_text *t, const char *format, ...) {
    va_list args;
    int need;
    if (t->failed) return;
    for (;;) {
        size_t room = t->capacity - t->length;
        va_start(args, format);
        need = vsnprintf(t->text ? t->text + t->length : NULL, t->text ? room : 0, format, args);
        va_end(args);
        if (need < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t) need < room) {
            t->length += (size_t) need;
            return;
        }
        {
            size_t capacity = 2 * t->capacity + (size_t) need + 256;
            char *grown = (char *) realloc(t->text, capacity);
            if (!grown) {
                t->failed = 1;
                return;
            }
            t->text = grown;
            t->capacity = capacity;
        }
    }
}

/* A new file beside `path` for the weights being saved (its name into `tmp`, which has
   room for the path and 32 bytes), created as open() creates any file: mode 0666 less
   the umask (mkstemp's would be 0600). O_EXCL makes the name this call's alone. */
static int gx_open_temp(const gx_context *ctx, const char *path, char *tmp) {
    uint64_t seed = (uint64_t) (uintptr_t) ctx ^ (uint64_t) getpid() << 40;
    int attempt, fd = -1;
    for (attempt = 0; attempt < 100; attempt++) {
        sprintf(tmp, "%s.%016llx.tmp", path, (unsigned long long) gx_mix64(seed + attempt));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0 || errno != EEXIST) break;
    }
    return fd;
}

static int gx_save_weights(gx_context *ctx, const char *path) {
    unsigned char **values;
    uint32_t crcs[GX_N_VARIABLES > 0 ? GX_N_VARIABLES : 1];
    gx_text t;
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1, v, s, status = GX_OK;
    unsigned char length[8];
    uint64_t header_bytes;
    memset(&t, 0, sizeof t);
    values = (unsigned char **) calloc(GX_N_VARIABLES > 0 ? GX_N_VARIABLES : 1, sizeof *values);
    if (!values) return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory saving weights");
    for (v = 0; v < GX_N_VARIABLES; v++) {
        int64_t bytes = gx_variable_bytes(v);
        values[v] = (unsigned char *) malloc(bytes ? (size_t) bytes : 1);
        if (!values[v]) {
            status = gx_fail(ctx, GX_ERROR_MEMORY, "out of memory saving weights");
            goto done;
        }
        if ((status = gx_copy(ctx, values[v], ctx->variables[v], bytes, GX_TO_HOST)) != GX_OK)
            goto done;
        crcs[v] = gx_crc32(values[v], bytes);
    }
    /* the header, exactly as graphc's Python writer makes it (export/weights.py) */
    {
        int64_t position = 0;
        gx_append(&t, "{");
        for (v = 0; v < GX_N_VARIABLES; v++) {
            const gx_tensor *var = &gx_variables[v];
            int d;
            gx_append(&t, "\"%s\":{\"dtype\":\"%s\",\"shape\":[", var->json_name,
                      gx_dtype_codes[var->dtype]);
            for (d = 0; d < var->rank; d++)
                gx_append(&t, "%s%lld", d ? "," : "", (long long) var->shape[d]);
            gx_append(&t, "],\"data_offsets\":[%lld,%lld]},", (long long) position,
                      (long long) (position + gx_variable_bytes(v)));
            position += gx_variable_bytes(v);
        }
        gx_append(&t, "\"__metadata__\":{\"graphc_model\":\"%s\",\"graphc_abi\":\"%d\"",
                  gx_model_hash, GX_ABI_VERSION);
        for (v = 0; v < GX_N_VARIABLES; v++)
            gx_append(&t, ",\"crc32:%s\":\"%08lx\"", gx_variables[v].json_name,
                      (unsigned long) crcs[v]);
        for (s = 0; s < GX_N_STREAMS; s++)
            gx_append(&t, ",\"graphc_rng:%s\":\"%llu\"", gx_stream_json[s],
                      (unsigned long long) ctx->counts[s]);
        gx_append(&t, "}}");
        while (!t.failed && (8 + t.length) % 8 != 0) gx_append(&t, " ");
    }
    if (t.failed) {
        status = gx_fail(ctx, GX_ERROR_MEMORY, "out of memory saving weights");
        goto done;
    }
    header_bytes = (uint64_t) t.length;
    for (v = 0; v < 8; v++) length[v] = (unsigned char) (header_bytes >> (8 * v));
    tmp = (char *) malloc(strlen(path) + 32);
    if (!tmp) {
        status = gx_fail(ctx, GX_ERROR_MEMORY, "out of memory saving weights");
        goto done;
    }
    fd = gx_open_temp(ctx, path, tmp);
    if (fd < 0 || !(f = fdopen(fd, "wb"))) {
        status = gx_fail(ctx, GX_ERROR_IO, "cannot write weights '%s': %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        if (fd >= 0) unlink(tmp);
        goto done;
    }
    if (fwrite(length, 1, 8, f) != 8 || fwrite(t.text, 1, t.length, f) != t.length)
        status = GX_ERROR_IO;
    for (v = 0; status == GX_OK && v < GX_N_VARIABLES; v++) {
        size_t bytes = (size_t) gx_variable_bytes(v);
        if (bytes && fwrite(values[v], 1, bytes, f) != bytes) status = GX_ERROR_IO;
    }
    if (status == GX_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) status = GX_ERROR_IO;
    if (fclose(f) != 0) status = GX_ERROR_IO;
    if (status == GX_OK && rename(tmp, path) != 0) status = GX_ERROR_IO;
    if (status != GX_OK) {
        gx_fail(ctx, status, "cannot write weights '%s': %s", path, strerror(errno));
        unlink(tmp);
    }
done:
    if (values)
        for (v = 0; v < GX_N_VARIABLES; v++) free(values[v]);
    free(values);
    free(t.text);
    free(tmp);
    return status;
}

/* ---- a program's pointer table ------------------------------------------------------ */

static void gx_state_free(gx_state *st, const gx_program *p) {
    int i;
    if (st->owned)
        for (i = 0; i < p->n_slots; i++) gx_free(st->owned[i]);
    if (st->backups)
        for (i = 0; i < p->n_restore; i++) gx_free(st->backups[i]);
    gx_free(st->arena);
    free(st->table);
    free(st->words);
    free(st->owned);
    free(st->owned_bytes);
    free(st->backups);
    memset(st, 0, sizeof *st);
}

/* Memory of its own for slot i, at least `bytes` (kept when big enough). */
static int gx_own(gx_context *ctx, gx_state *st, int i, int64_t bytes) {
    int status;
    if (st->owned[i] && st->owned_bytes[i] >= bytes) return GX_OK;
    gx_free(st->owned[i]);
    st->owned[i] = NULL;
    st->owned_bytes[i] = 0;
    if ((status = gx_alloc(ctx, &st->owned[i], bytes < 8 ? 8 : bytes)) != GX_OK) return status;
    st->owned_bytes[i] = bytes < 8 ? 8 : bytes;
    st->table[i] = st->owned[i];
    return GX_OK;
}

static int gx_prepare(gx_context *ctx, int program) {
    const gx_program *p = &gx_programs[program];
    gx_state *st = &ctx->states[program];
    int i, status;
    size_t n = (size_t) (p->n_slots > 0 ? p->n_slots : 1);
    if (st->ready) return GX_OK;
    st->table = (void **) calloc(n, sizeof(void *));
    st->words = (int64_t *) calloc(n, sizeof(int64_t));
    st->owned = (void **) calloc(n, sizeof(void *));
    st->owned_bytes = (int64_t *) calloc(n, sizeof(int64_t));
    st->backups = (void **) calloc((size_t) (p->n_restore > 0 ? p->n_restore : 1), sizeof(void *));
    st->batch = -1;
    if (!st->table || !st->words || !st->owned || !st->owned_bytes || !st->backups) {
        gx_state_free(st, p);
        return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory preparing program '%s'", p->name);
    }
    for (i = 0; i < p->n_slots; i++) {
        const gx_slot *s = &p->slots[i];
        status = GX_OK;
        switch (s->kind) {
        case GX_VARIABLE:
            st->table[i] = ctx->variables[s->index];
            break;
        case GX_CONSTANT:
            if (GX_DEVICE) {
                const gx_constant *c = &gx_constants[s->index];
                status = gx_own(ctx, st, i, c->bytes);
                if (status == GX_OK) status = gx_copy(ctx, st->owned[i], c->data, c->bytes,
                                                      GX_TO_DEVICE);
            } else {
                st->table[i] = (void *) gx_constants[s->index].data;
            }
            break;
        case GX_RNG: case GX_STATUS: case GX_SIZES:
            if (GX_DEVICE) status = gx_own(ctx, st, i, 8);
            else st->table[i] = &st->words[i];
            break;
        case GX_CALLBACK:
            if (!GX_DEVICE) {
                void (*fn)(int64_t, void *) = gx_print_value;
                memcpy(&st->table[i], &fn, sizeof(void *));
            }
            break;
        default:
            break;           /* feeds, the arena and workspaces: when the batch is known */
        }
        if (status != GX_OK) {
            gx_state_free(st, p);
            return status;
        }
    }
    for (i = 0; i < p->n_restore; i++) {
        if ((status = gx_alloc(ctx, &st->backups[i], gx_variable_bytes(p->restore[i]))) != GX_OK) {
            gx_state_free(st, p);
            return status;
        }
    }
    st->ready = 1;
    return GX_OK;
}

/* Point the arena's slots and size the workspaces for batch size n. */
static int gx_set_batch(gx_context *ctx, int program, int64_t n) {
    const gx_program *p = &gx_programs[program];
    gx_state *st = &ctx->states[program];
    int64_t need = gx_affine(p->arena_k, p->arena_c, n);
    int i, status;
    if (n == st->batch) return GX_OK;
    if (need < 0) return gx_fail(ctx, GX_ERROR_ARGUMENT, "%s: batch size %lld is too large",
                                 p->name, (long long) n);
    if (need < GX_ALIGN) need = GX_ALIGN;
    if (!st->arena || st->arena_bytes < need) {
        gx_free(st->arena);
        st->arena = NULL;
        st->arena_bytes = 0;
        if ((status = gx_alloc(ctx, &st->arena, need)) != GX_OK) return status;
        st->arena_bytes = need;
    }
    for (i = 0; i < p->n_slots; i++) {
        const gx_slot *s = &p->slots[i];
        if (s->kind == GX_ARENA) {
            st->table[i] = (char *) st->arena + (s->k * n + s->c);
        } else if (s->kind == GX_WORKSPACE) {
            int64_t bytes = gx_affine(s->k, s->c, n);
            if (bytes < 0) return gx_fail(ctx, GX_ERROR_ARGUMENT, "%s: batch size %lld is too "
                                          "large", p->name, (long long) n);
            if ((status = gx_own(ctx, st, i, bytes)) != GX_OK) return status;
        } else if (s->kind == GX_SIZES) {
            st->words[i] = n;
        }
    }
    st->batch = n;
    return GX_OK;
}

/* Copy the small words (keys, sizes, the cleared status) where the program reads them. */
static int gx_push_words(gx_context *ctx, int program) {
    const gx_program *p = &gx_programs[program];
    gx_state *st = &ctx->states[program];
    int i, status;
    if (!GX_DEVICE) return GX_OK;
    for (i = 0; i < p->n_slots; i++) {
        int kind = p->slots[i].kind;
        if (kind == GX_RNG || kind == GX_STATUS || kind == GX_SIZES)
            if ((status = gx_copy(ctx, st->table[i], &st->words[i], 8, GX_TO_DEVICE)) != GX_OK)
                return status;
    }
    return GX_OK;
}

static int gx_read_status(gx_context *ctx, int program, int64_t *code) {
    const gx_program *p = &gx_programs[program];
    gx_state *st = &ctx->states[program];
    int i;
    *code = 0;
    for (i = 0; i < p->n_slots; i++)
        if (p->slots[i].kind == GX_STATUS) {
            if (GX_DEVICE) return gx_copy(ctx, code, st->table[i], 8, GX_TO_HOST);
            *code = st->words[i];
        }
    return GX_OK;
}

/* One run of a program: the inputs' data (batch size n where the program has a batch
   dimension), then each output copied to the caller's memory. */
static int gx_execute(gx_context *ctx, int program, int64_t n, const void *const *inputs,
                      void *const *outputs) {
    const gx_program *p = &gx_programs[program];
    gx_state *st;
    int i, status;
    int64_t code;
    if (!ctx) return GX_ERROR_ARGUMENT;
    if (!ctx->usable) return GX_ERROR_STATE;      /* last_error still says why */
    ctx->error[0] = '\0';
    if (n < 0 || (p->fixed_batch >= 0 && n != p->fixed_batch))
        return gx_fail(ctx, GX_ERROR_ARGUMENT, p->fixed_batch >= 0 ?
                       "%s: batch size %lld, but the model was exported for batch %lld only" :
                       "%s: batch size %lld is negative", p->name, (long long) n,
                       (long long) p->fixed_batch);
    for (i = 0; i < p->n_inputs; i++)
        if (!inputs[i] && gx_tensor_bytes(&p->inputs[i], n) != 0)
            return gx_fail(ctx, GX_ERROR_ARGUMENT, "%s: input '%s' is NULL", p->name,
                           p->inputs[i].name);
        else if (gx_tensor_bytes(&p->inputs[i], n) < 0)
            return gx_fail(ctx, GX_ERROR_ARGUMENT, "%s: batch size %lld is too large", p->name,
                           (long long) n);
    for (i = 0; i < p->n_outputs; i++)
        if (!outputs[i] && gx_tensor_bytes(&p->outputs[i], n) != 0)
            return gx_fail(ctx, GX_ERROR_ARGUMENT, "%s: output '%s' is NULL", p->name,
                           p->outputs[i].name);
    if ((status = gx_prepare(ctx, program)) != GX_OK) return status;
    st = &ctx->states[program];
    if ((status = gx_set_batch(ctx, program, n)) != GX_OK) return status;
    for (i = 0; i < p->n_inputs; i++) {
        int slot = p->input_slots[i];
        int64_t bytes = gx_tensor_bytes(&p->inputs[i], n);
        if (slot < 0) continue;             /* an input the optimised program never reads */
        if (GX_DEVICE) {
            if ((status = gx_own(ctx, st, slot, bytes)) != GX_OK) return status;
            if ((status = gx_copy(ctx, st->owned[slot], inputs[i], bytes, GX_TO_DEVICE)) != GX_OK)
                return status;
        } else {
            st->table[slot] = (void *) inputs[i];
        }
    }
    for (i = 0; i < p->n_randoms; i++) {
        const gx_random *r = &p->randoms[i];
        uint64_t key = r->stream < 0 ? r->key : gx_mix64(r->base + ctx->counts[r->stream]++ * GX_MIX2);
        int s;
        for (s = 0; s < p->n_slots; s++)
            if (p->slots[s].kind == GX_RNG && p->slots[s].index == i)
                memcpy(&st->words[s], &key, 8);
    }
    for (i = 0; i < p->n_slots; i++)
        if (p->slots[i].kind == GX_STATUS) st->words[i] = 0;
    for (i = 0; i < p->n_restore; i++)
        if ((status = gx_copy(ctx, st->backups[i], ctx->variables[p->restore[i]],
                              gx_variable_bytes(p->restore[i]), GX_ON_DEVICE)) != GX_OK)
            return status;
    if ((status = gx_push_words(ctx, program)) != GX_OK) return status;
    gx_printing = p;
    gx_printing_batch = n;
    status = gx_enter(ctx, program, st->table, n);
    gx_printing = NULL;
    if (status != GX_OK) return status;
    if ((status = gx_read_status(ctx, program, &code)) != GX_OK) return status;
    if (code != 0) {
        for (i = 0; i < p->n_restore; i++)
            gx_copy(ctx, ctx->variables[p->restore[i]], st->backups[i],
                    gx_variable_bytes(p->restore[i]), GX_ON_DEVICE);
        return gx_fail(ctx, GX_ERROR_RUN, "%s", code >= 1 && code <= p->n_failures ?
                       p->failures[code - 1] : "a run-time check failed");
    }
    for (i = 0; i < p->n_outputs; i++) {
        int64_t bytes = gx_tensor_bytes(&p->outputs[i], n);
        const void *from = st->table[p->output_slots[i]];
        int kind = p->slots[p->output_slots[i]].kind == GX_FEED && !GX_DEVICE ? GX_ON_DEVICE
                   : GX_TO_HOST;
        if ((status = gx_copy(ctx, outputs[i], from, bytes, kind)) != GX_OK) return status;
    }
    return GX_OK;
}

/* ---- a context's life --------------------------------------------------------------- */

static void gx_destroy(gx_context *ctx) {
    int i;
    if (!ctx) return;
    if (ctx->target) gx_target_stop(ctx);
    for (i = 0; i < GX_N_PROGRAMS; i++) gx_state_free(&ctx->states[i], &gx_programs[i]);
    if (ctx->variables)
        for (i = 0; i < GX_N_VARIABLES; i++) gx_free(ctx->variables[i]);
    free(ctx->variables);
    free(ctx->counts);
    free(ctx);
}

static int gx_create(const char *path, gx_context **out) {
    gx_context *ctx;
    uint16_t one = 1;
    int i, status;
    if (!out) return GX_ERROR_ARGUMENT;
    *out = ctx = (gx_context *) calloc(1, sizeof(gx_context));
    if (!ctx) return GX_ERROR_MEMORY;
    if (*(unsigned char *) &one != 1)
        return gx_fail(ctx, GX_ERROR_STATE, "graphc exports run on little-endian machines only");
    if (!path) return gx_fail(ctx, GX_ERROR_ARGUMENT, "the weights path is NULL");
    ctx->variables = (void **) calloc(GX_N_VARIABLES > 0 ? GX_N_VARIABLES : 1, sizeof(void *));
    ctx->counts = (uint64_t *) calloc(GX_N_STREAMS > 0 ? GX_N_STREAMS : 1, sizeof(uint64_t));
    if (!ctx->variables || !ctx->counts)
        return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory creating the context");
    for (i = 0; i < GX_N_STREAMS; i++) ctx->counts[i] = gx_stream_counts[i];
    if ((status = gx_target_start(ctx)) != GX_OK) return status;
    for (i = 0; i < GX_N_VARIABLES; i++)
        if ((status = gx_alloc(ctx, &ctx->variables[i], gx_variable_bytes(i))) != GX_OK)
            return status;
    if ((status = gx_load_weights(ctx, path)) != GX_OK) return status;
    ctx->usable = 1;
    ctx->error[0] = '\0';
    return GX_OK;
}

static int gx_save(gx_context *ctx, const char *path) {
    if (!ctx) return GX_ERROR_ARGUMENT;
    if (!ctx->usable) return GX_ERROR_STATE;      /* last_error still says why */
    ctx->error[0] = '\0';
    if (!path) return gx_fail(ctx, GX_ERROR_ARGUMENT, "the weights path is NULL");
    return gx_save_weights(ctx, path);
}

static const char *gx_last_error(const gx_context *ctx) {
    if (!ctx) return "no context (out of memory, or a NULL context)";
    return ctx->error;
}
