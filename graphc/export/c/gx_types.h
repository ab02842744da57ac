/* graphc export runtime: the tables an exported model's generated source fills in.
   Pasted into every exported model's source (no header of graphc's is needed to build
   it); everything here is static, so two models link into one program. Valid C99 and
   C++ (the CUDA target compiles it with nvcc). */

enum gx_kind {           /* what a slot of a program's pointer table points at */
    GX_FEED, GX_VARIABLE, GX_CONSTANT, GX_ARENA, GX_RNG, GX_STATUS, GX_WORKSPACE,
    GX_CALLBACK, GX_SIZES
};

enum gx_dtype { GX_F32, GX_F64, GX_I32, GX_I64, GX_BOOL };

static const char *const gx_dtype_codes[] = {"F32", "F64", "I32", "I64", "BOOL"};
static const int gx_dtype_bytes[] = {4, 8, 4, 8, 1};

typedef struct {
    int kind;            /* enum gx_kind */
    int index;           /* feed: input; variable; constant; rng: random draw */
    int64_t k, c;        /* arena: byte offset k*N + c; workspace: bytes k*N + c */
} gx_slot;

typedef struct {
    const char *name;        /* UTF-8 */
    const char *json_name;   /* the name as a JSON string's contents (escaped) */
    int dtype;               /* enum gx_dtype */
    int rank;
    const int64_t *shape;    /* -1: the batch dimension N */
    int64_t count_k, count_c;   /* elements: count_k * N + count_c */
} gx_tensor;

typedef struct {
    const void *data;
    int64_t bytes;
} gx_constant;

typedef struct {
    int stream;              /* index of the stream whose count it draws; -1: stateless */
    uint64_t base;           /* seed * GOLDEN + crc32(stream) * MIX1 (mod 2^64) */
    uint64_t key;            /* the key of a stateless draw */
} gx_random;

typedef struct {
    const char *message;
    int dtype, rank;
    const int64_t *shape;
    int64_t count_k, count_c;
    int64_t summarize;
} gx_print;

typedef struct {
    const char *name;
    int n_slots;
    const gx_slot *slots;
    int n_inputs;
    const gx_tensor *inputs;
    const int *input_slots;
    int n_outputs;
    const gx_tensor *outputs;
    const int *output_slots;
    int64_t arena_k, arena_c;      /* arena bytes at batch N */
    int64_t fixed_batch;           /* -1: any N; else the only N it was compiled for */
    int n_failures;
    const char *const *failures;   /* status s != 0: failures[s - 1] */
    int n_restore;
    const int *restore;            /* variables a failed check must find as they were */
    int n_randoms;
    const gx_random *randoms;
    int n_prints;
    const gx_print *prints;
} gx_program;
