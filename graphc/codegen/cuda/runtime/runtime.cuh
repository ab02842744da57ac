/* graphc's CUDA runtime, the same C API in both builds: device memory (cudaMalloc and
   cudaMemcpy, or malloc and memcpy in the host build), and a program's state — its
   stream, the CUDA graph of its launches and the scratch memory of its split-K GEMMs.

   A program's entry point launches its kernels in order on its state's stream. The
   second run with the same pointer table and batch size records them into a CUDA graph
   (stream capture), and every later run with them launches that graph: one launch per
   step. A new table or batch size drops the graph and runs eagerly again. Every call
   is checked; a failure is written to the caller's error buffer naming what failed. */

typedef void (*graphc_print_fn)(int64_t index, void *data);

#define GRAPHC_HELPER [[maybe_unused]] static inline   /* a host helper a program may not use */

#ifdef GRAPHC_HOST_BUILD
#define GRAPHC_LAUNCH(state, kernel, grid, block, cooperative, ...)                       \
    graphc_host_launch(&(state)->recording, grid, block, cooperative,                      \
                       [=]() { kernel(__VA_ARGS__); })
#define GRAPHC_CHECK_LAUNCH(what) graphc_launched(what, error, error_size)

GRAPHC_HELPER int graphc_launched(const char *what, char *error, int size) {
    const char *failure = graphc_host_take_failure();
    if (!failure) return 0;
    snprintf(error, size, "%s: %s", what, failure);
    return 1;
}
#else
#include <cuda_runtime.h>
#include <mma.h>
#define GRAPHC_ALIGN(n) __align__(n)
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define GRAPHC_TF32 1           /* TF32 tensor cores: sm_80 and later */
#endif
#define GRAPHC_INLINE __device__ inline
#define GRAPHC_DEVICE __device__ __forceinline__
#define GRAPHC_LAUNCH(state, kernel, grid, block, cooperative, ...)                       \
    kernel<<<grid, block, 0, (state)->stream>>>(__VA_ARGS__)
#define GRAPHC_CHECK_LAUNCH(what) graphc_failed(cudaGetLastError(), what, error, error_size)

GRAPHC_HELPER int graphc_failed(cudaError_t status, const char *what, char *error, int size) {
    if (status == cudaSuccess) return 0;
    snprintf(error, size, "%s: %s (%s)", what, cudaGetErrorString(status),
             cudaGetErrorName(status));
    return 1;
}
#endif

/* ---- memory --------------------------------------------------------------------------- */
#ifdef GRAPHC_HOST_BUILD
extern "C" int graphc_alloc(void **ptr, size_t bytes, char *error, int size) {
    *ptr = malloc(bytes ? bytes : 1);
    if (!*ptr) { snprintf(error, size, "out of host memory (%zu bytes)", bytes); return 1; }
    memset(*ptr, 0, bytes);
    return 0;
}
extern "C" int graphc_free(void *ptr) { free(ptr); return 0; }
extern "C" int graphc_copy(void *dst, const void *src, size_t bytes, int kind, char *error,
                           int size) {
    (void) kind; (void) error; (void) size;
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
extern "C" int graphc_devices(char *error, int size) { (void) error; (void) size; return 1; }
extern "C" int graphc_host_build(void) { return 1; }
#else
extern "C" int graphc_alloc(void **ptr, size_t bytes, char *error, int size) {
    if (graphc_failed(cudaMalloc(ptr, bytes ? bytes : 1), "cudaMalloc", error, size)) return 1;
    return graphc_failed(cudaMemset(*ptr, 0, bytes), "cudaMemset", error, size);
}
extern "C" int graphc_free(void *ptr) { return cudaFree(ptr) != cudaSuccess; }
/* kind: 0 host to device, 1 device to host, 2 device to device */
extern "C" int graphc_copy(void *dst, const void *src, size_t bytes, int kind, char *error,
                           int size) {
    static const cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                           cudaMemcpyDeviceToDevice};
    if (!bytes) return 0;
    return graphc_failed(cudaMemcpy(dst, src, bytes, kinds[kind]), "cudaMemcpy", error, size);
}
extern "C" int graphc_devices(char *error, int size) {
    int count = 0;
    if (graphc_failed(cudaGetDeviceCount(&count), "cudaGetDeviceCount", error, size)) return -1;
    return count;
}
extern "C" int graphc_host_build(void) { return 0; }
#endif

/* ---- a program's state ---------------------------------------------------------------- */
struct graphc_state {
    int64_t *key;             /* the table and batch size of the last run */
    int key_size;
    int graphs;               /* 0: never capture (GRAPHC_CUDA_GRAPHS=0) */
    void *scratch;            /* split-K partial products */
    size_t scratch_bytes;
    int sms;                  /* multiprocessors: how many blocks fill the device */
    int tf32;                 /* the device has TF32 tensor cores (sm_80 and later) */
    int64_t replays;          /* runs that launched the captured graph */
#ifdef GRAPHC_HOST_BUILD
    graphc_recording recording;
#else
    cudaStream_t stream;
    cudaGraphExec_t graph;
    int capturing;
#endif
};

extern "C" int graphc_state_create(graphc_state **out, char *error, int size) {
    graphc_state *st = new graphc_state();
    const char *graphs = getenv("GRAPHC_CUDA_GRAPHS");
    st->graphs = !(graphs && graphs[0] == '0');
#ifdef GRAPHC_HOST_BUILD
    const char *sms = getenv("GRAPHC_CUDA_HOST_SMS");
    st->sms = sms && atoi(sms) > 0 ? atoi(sms) : 4;
    st->tf32 = 1;
    (void) error; (void) size;
#else
    int device = 0, major = 0;
    if (graphc_failed(cudaGetDevice(&device), "cudaGetDevice", error, size) ||
        graphc_failed(cudaDeviceGetAttribute(&st->sms, cudaDevAttrMultiProcessorCount, device),
                      "cudaDeviceGetAttribute", error, size) ||
        graphc_failed(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
                      "cudaDeviceGetAttribute", error, size) ||
        graphc_failed(cudaStreamCreate(&st->stream), "cudaStreamCreate", error, size)) {
        delete st;
        return 1;
    }
    st->tf32 = major >= 8;
#endif
    *out = st;
    return 0;
}

GRAPHC_HELPER void graphc_drop_graph(graphc_state *st) {
#ifdef GRAPHC_HOST_BUILD
    st->recording.ready = false;
    st->recording.capturing = false;
    st->recording.launches.clear();
#else
    if (st->graph) cudaGraphExecDestroy(st->graph);
    st->graph = 0;
#endif
}

GRAPHC_HELPER int graphc_free_scratch(graphc_state *st) {
    int failed = st->scratch ? graphc_free(st->scratch) : 0;
    st->scratch = nullptr;
    st->scratch_bytes = 0;
    return failed;
}

extern "C" void graphc_state_destroy(graphc_state *st) {
    if (!st) return;
    graphc_drop_graph(st);
    graphc_free_scratch(st);
#ifndef GRAPHC_HOST_BUILD
    cudaStreamDestroy(st->stream);
#endif
    free(st->key);
    delete st;
}

extern "C" int64_t graphc_state_replays(const graphc_state *st) { return st->replays; }

GRAPHC_HELPER int graphc_capturing(graphc_state *st) {
#ifdef GRAPHC_HOST_BUILD
    return st->recording.capturing;
#else
    return st->capturing;
#endif
}

/* At least `bytes` of scratch memory (kept for later runs). Never grown while the stream
   is captured: capture only repeats a run with the same sizes, which grew it already. */
GRAPHC_HELPER void *graphc_scratch(graphc_state *st, size_t bytes, char *error, int size) {
    if (bytes <= st->scratch_bytes) return st->scratch;
    if (graphc_capturing(st)) {
        snprintf(error, size, "graphc: the scratch memory would grow during stream capture");
        return nullptr;
    }
#ifndef GRAPHC_HOST_BUILD
    if (graphc_failed(cudaStreamSynchronize(st->stream), "the program's kernels", error, size))
        return nullptr;
#endif
    graphc_free_scratch(st);
    if (graphc_alloc(&st->scratch, bytes, error, size)) return nullptr;
    st->scratch_bytes = bytes;
    return st->scratch;
}

/* 1: this run replayed the graph captured for its table and batch size; 0: the caller
   launches the kernels now (recorded into a graph on the second run with them); -1: an
   error. */
GRAPHC_HELPER int graphc_graph_begin(graphc_state *st, void **table, int slots,
                                     const int64_t *sizes, char *error, int size) {
    int n = slots + 1;
    int same = st->key && st->key_size == n &&
               memcmp(st->key, table, sizeof(int64_t) * (size_t) slots) == 0 &&
               st->key[slots] == (sizes ? sizes[0] : 0);
    if (!same) {
        graphc_drop_graph(st);
        free(st->key);
        st->key = (int64_t *) malloc(sizeof(int64_t) * (size_t) n);
        if (!st->key) { snprintf(error, size, "out of host memory"); return -1; }
        memcpy(st->key, table, sizeof(int64_t) * (size_t) slots);
        st->key[slots] = sizes ? sizes[0] : 0;
        st->key_size = n;
        return 0;
    }
#ifdef GRAPHC_HOST_BUILD
    if (st->recording.ready) {
        st->replays++;
        for (auto &launch : st->recording.launches) launch();
        return graphc_launched("the program's graph", error, size) ? -1 : 1;
    }
    if (st->graphs) {
        st->recording.launches.clear();
        st->recording.capturing = true;
    }
    return 0;
#else
    if (st->graph) {
        st->replays++;
        return graphc_failed(cudaGraphLaunch(st->graph, st->stream), "cudaGraphLaunch", error,
                             size) ? -1 : 1;
    }
    if (st->graphs) {
        if (graphc_failed(cudaStreamBeginCapture(st->stream, cudaStreamCaptureModeThreadLocal),
                          "cudaStreamBeginCapture", error, size))
            return -1;
        st->capturing = 1;
    }
    return 0;
#endif
}

/* After the launches (`failed`: one of them failed): end a capture, launch what it
   recorded, and wait for the stream. */
GRAPHC_HELPER int graphc_graph_end(graphc_state *st, int failed, char *error, int size) {
#ifdef GRAPHC_HOST_BUILD
    if (st->recording.capturing) {
        st->recording.capturing = false;
        if (failed) { st->recording.launches.clear(); return 1; }
        st->recording.ready = true;
        for (auto &launch : st->recording.launches) launch();
        return graphc_launched("the program's graph", error, size);
    }
    return failed;
#else
    if (st->capturing) {
        st->capturing = 0;
        cudaGraph_t graph = 0;
        cudaError_t ended = cudaStreamEndCapture(st->stream, &graph);
        if (failed) {
            if (graph) cudaGraphDestroy(graph);
            return 1;
        }
        if (graphc_failed(ended, "cudaStreamEndCapture", error, size)) return 1;
        cudaError_t made = cudaGraphInstantiate(&st->graph, graph, 0);
        cudaGraphDestroy(graph);
        if (graphc_failed(made, "cudaGraphInstantiate", error, size) ||
            graphc_failed(cudaGraphLaunch(st->graph, st->stream), "cudaGraphLaunch", error,
                          size))
            return 1;
    }
    if (failed) return 1;
    return graphc_failed(cudaStreamSynchronize(st->stream), "the program's kernels", error,
                         size);
#endif
}

/* The run-time checks' status word, read on the host (0: every check passed). */
GRAPHC_HELPER int graphc_read_status(graphc_state *st, const int64_t *status, int64_t *code,
                              char *error, int size) {
#ifdef GRAPHC_HOST_BUILD
    (void) st; (void) error; (void) size;
    *code = *status;
    return 0;
#else
    if (graphc_failed(cudaStreamSynchronize(st->stream), "the program's kernels", error, size))
        return 1;
    return graphc_copy(code, status, sizeof *code, 1, error, size);
#endif
}

GRAPHC_HELPER int graphc_print_value(graphc_state *st, graphc_print_fn print, int64_t index,
                              const void *value, int64_t bytes, char *error, int size) {
    void *copy = malloc(bytes ? (size_t) bytes : 1);
    if (!copy) { snprintf(error, size, "out of host memory for gc.print"); return 1; }
#ifndef GRAPHC_HOST_BUILD
    if (graphc_failed(cudaStreamSynchronize(st->stream), "the program's kernels", error, size)) {
        free(copy);
        return 1;
    }
#else
    (void) st;
#endif
    if (graphc_copy(copy, value, (size_t) bytes, 1, error, size)) { free(copy); return 1; }
    print(index, copy);
    free(copy);
    return 0;
}

#define GRAPHC_THREADS 256        /* threads per block */
#define GRAPHC_MAX_BLOCKS 4096    /* a grid-stride loop covers any extent with these */

GRAPHC_HELPER unsigned graphc_blocks(int64_t iterations) {
    int64_t blocks = (iterations + GRAPHC_THREADS - 1) / GRAPHC_THREADS;
    return (unsigned) (blocks < 1 ? 1 : blocks > GRAPHC_MAX_BLOCKS ? GRAPHC_MAX_BLOCKS : blocks);
}

GRAPHC_HELPER unsigned graphc_row_blocks(int64_t rows) {
    return (unsigned) (rows < 1 ? 1 : rows > 65535 ? 65535 : rows);
}
