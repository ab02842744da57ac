"""The top of every generated CUDA program: CUDA itself under nvcc, or — with
GRAPHC_HOST_BUILD — graphc's own small emulation of the CUDA constructs the renderer
uses, so that the *same* source compiles with a C++ compiler and runs on the CPU (how CI,
which has no GPU, executes the generated CUDA code).

The emulation runs a launch's blocks on several CPU threads at once (so a kernel whose
blocks race is not hidden by running them one after another) and each block's threads
one after another; `blockIdx`, `threadIdx` are per CPU thread. The memory functions
(`graphc_alloc`, `graphc_copy`, ...) are the same C API in both builds: cudaMalloc and
cudaMemcpy under nvcc, malloc and memcpy in the host build. Every CUDA call is checked;
a failure is written to the caller's error buffer with the kernel or call that failed.
"""

PRELUDE = r"""#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#ifdef GRAPHC_HOST_BUILD
/* ---- host build: CUDA's constructs on CPU threads ---------------------------------- */
#include <thread>
#include <vector>
#include <atomic>

struct graphc_dim3 { unsigned x, y, z; };
static thread_local graphc_dim3 blockIdx, threadIdx;
static graphc_dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __restrict__ __restrict
#define GRAPHC_INLINE static inline

static unsigned graphc_host_workers(void) {
    const char *configured = getenv("GRAPHC_CUDA_HOST_THREADS");
    unsigned n = configured ? (unsigned) atoi(configured) : 2u;
    return n ? n : 1u;
}

template <typename Kernel>
static void graphc_launch(unsigned blocks, unsigned threads, Kernel kernel) {
    gridDim = {blocks, 1, 1};
    blockDim = {threads, 1, 1};
    std::atomic<unsigned> next(0);
    auto work = [&]() {
        for (unsigned b; (b = next.fetch_add(1)) < blocks;) {
            blockIdx = {b, 0, 0};
            for (unsigned t = 0; t < threads; t++) {
                threadIdx = {t, 0, 0};
                kernel();
            }
        }
    };
    unsigned workers = graphc_host_workers();
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < workers && w < blocks; w++) pool.emplace_back(work);
    work();
    for (auto &t : pool) t.join();
}
#define GRAPHC_LAUNCH(kernel, blocks, threads, ...) \
    graphc_launch(blocks, threads, [&]() { kernel(__VA_ARGS__); })
#define GRAPHC_CHECK_LAUNCH(what) 0

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
/* ---- CUDA ------------------------------------------------------------------------- */
#include <cuda_runtime.h>
#define GRAPHC_INLINE __device__ inline
#define GRAPHC_LAUNCH(kernel, blocks, threads, ...) kernel<<<blocks, threads>>>(__VA_ARGS__)
#define GRAPHC_CHECK_LAUNCH(what) graphc_failed(cudaGetLastError(), what, error, error_size)

inline int graphc_failed(cudaError_t status, const char *what, char *error, int size) {
    if (status == cudaSuccess) return 0;
    snprintf(error, size, "%s: %s (%s)", what, cudaGetErrorString(status),
             cudaGetErrorName(status));
    return 1;
}
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

typedef void (*graphc_print_fn)(int64_t index, void *data);
"""
