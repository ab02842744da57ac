/* graphc's CUDA host emulation: the CUDA constructs graphc's generated programs use,
   on CPU threads, so the same source builds with a C++ compiler (GRAPHC_HOST_BUILD) and
   runs where there is no GPU.

   A launch deals its blocks to a few CPU threads at once (GRAPHC_CUDA_HOST_THREADS, 2 by
   default), so blocks that race are not hidden by running one after another. Within a
   block the threads run one after another; a kernel launched as cooperative (it calls
   __syncthreads, __syncwarp or a warp shuffle) runs each of its threads as a fiber with
   a stack of its own, and a barrier switches to the next fiber until every thread of
   the block (or warp) has arrived. A thread that leaves the kernel while others wait at
   a block barrier, or a barrier nobody can pass, fails the launch with a message rather
   than hanging. __shared__ arrays are per CPU thread, which runs one block at a time.
   A stream being captured records each launch with its arguments as they were then,
   and replays them when the graph is launched: CUDA graphs' semantics. */

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

struct graphc_uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
static thread_local graphc_uint3 blockIdx, threadIdx, blockDim, gridDim;
static constexpr int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static thread_local
#define GRAPHC_INLINE static inline
#define GRAPHC_DEVICE inline

/* ---- fibers: a stack pointer saved and loaded ------------------------------------ */
#if defined(__x86_64__) && !defined(GRAPHC_HOST_UCONTEXT)
/* graphc_fiber_switch(save, load): push the callee-saved registers and the float control
   words, save the stack pointer, load the other fiber's and pop its. A new fiber's
   stack holds graphc_fiber_start as the return address, its function in rbx and the
   function's argument in r12. Local symbols: several programs link into one binary. */
__asm__(".text\n"
        ".p2align 4\n"
        "graphc_fiber_switch:\n"
        "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n"
        "    pushq %r13\n    pushq %r14\n    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n    popq %r14\n    popq %r13\n"
        "    popq %r12\n    popq %rbx\n    popq %rbp\n"
        "    ret\n"
        "graphc_fiber_start:\n"
        "    movq %r12, %rdi\n"
        "    call *%rbx\n"
        "    ud2\n");
extern "C" __attribute__((visibility("hidden"))) void graphc_fiber_switch(void **save,
                                                                         void *load);
extern "C" __attribute__((visibility("hidden"))) char graphc_fiber_start[];

struct graphc_fiber_context { void *sp; };

static void graphc_fiber_make(graphc_fiber_context *f, char *stack, size_t bytes,
                              void (*fn)(void *), void *arg) {
    uintptr_t top = ((uintptr_t) (stack + bytes)) & ~(uintptr_t) 15;
    void **sp = (void **) (top - 64);
    uint32_t control = 0x1F80u;                          /* MXCSR: all exceptions masked */
    memcpy(&sp[0], &control, 4);
    uint16_t x87 = 0x037F;                                /* x87: double extended, masked */
    memcpy((char *) &sp[0] + 4, &x87, 2);
    sp[1] = 0; sp[2] = 0; sp[3] = 0;                       /* r15, r14, r13 */
    sp[4] = arg;                                           /* r12 */
    sp[5] = (void *) fn;                                   /* rbx */
    sp[6] = 0;                                             /* rbp */
    sp[7] = (void *) graphc_fiber_start;                   /* return address */
    f->sp = sp;
}
static inline void graphc_fiber_jump(graphc_fiber_context *from, graphc_fiber_context *to) {
    graphc_fiber_switch(&from->sp, to->sp);
}
#else
#include <ucontext.h>
struct graphc_fiber_context { ucontext_t uc; };
static void graphc_fiber_make(graphc_fiber_context *f, char *stack, size_t bytes,
                              void (*fn)(void *), void *arg) {
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = stack;
    f->uc.uc_stack.ss_size = bytes;
    f->uc.uc_link = 0;
    /* makecontext passes ints: the argument goes through a thread-local instead */
    static thread_local void *pending_arg;
    static thread_local void (*pending_fn)(void *);
    pending_arg = arg;
    pending_fn = fn;
    struct start { static void run() { pending_fn(pending_arg); } };
    makecontext(&f->uc, (void (*)()) start::run, 0);
}
static inline void graphc_fiber_jump(graphc_fiber_context *from, graphc_fiber_context *to) {
    swapcontext(&from->uc, &to->uc);
}
#endif

/* ---- a block's threads as fibers ---------------------------------------------------- */
enum { GRAPHC_RUNNABLE, GRAPHC_AT_BLOCK_BARRIER, GRAPHC_AT_WARP_BARRIER, GRAPHC_FINISHED };
#define GRAPHC_FIBER_STACK (64 * 1024)
#define GRAPHC_MAX_THREADS 1024

struct graphc_block_run {
    unsigned threads, current;
    graphc_fiber_context scheduler;
    graphc_fiber_context fibers[GRAPHC_MAX_THREADS];
    int state[GRAPHC_MAX_THREADS];
    uint64_t exchange[GRAPHC_MAX_THREADS];     /* a warp shuffle's values */
    const std::function<void()> *body;
    char *stacks;
    const char *failure;
};
static thread_local graphc_block_run *graphc_run_now;
static std::atomic<const char *> graphc_host_failure(nullptr);

static void graphc_fail_launch(const char *why) {
    const char *expected = nullptr;
    graphc_host_failure.compare_exchange_strong(expected, why);
}

static void graphc_fiber_main(void *arg) {
    graphc_block_run *run = (graphc_block_run *) arg;
    (*run->body)();
    run->state[run->current] = GRAPHC_FINISHED;
    graphc_fiber_jump(&run->fibers[run->current], &run->scheduler);
}

static void graphc_wait(int why) {
    graphc_block_run *run = graphc_run_now;
    if (!run) {
        graphc_fail_launch("a barrier or warp shuffle in a kernel launched without "
                           "cooperative threads (graphc's renderer should have marked it)");
        return;
    }
    unsigned t = run->current;
    run->state[t] = why;
    graphc_fiber_jump(&run->fibers[t], &run->scheduler);
}

/* Release the barriers every live thread (of the block, or of a warp) has reached;
   0 when none could be released: the block cannot go on. */
static int graphc_release(graphc_block_run *run) {
    unsigned live = 0, at_block = 0;
    for (unsigned t = 0; t < run->threads; t++) {
        live += run->state[t] != GRAPHC_FINISHED;
        at_block += run->state[t] == GRAPHC_AT_BLOCK_BARRIER;
    }
    if (live == 0) return 1;
    if (at_block && live < run->threads) {
        run->failure = "threads of a block left the kernel while others wait at __syncthreads";
        return 0;
    }
    if (at_block == live) {
        for (unsigned t = 0; t < run->threads; t++) run->state[t] = GRAPHC_RUNNABLE;
        return 1;
    }
    int released = 0;
    for (unsigned w = 0; w * 32 < run->threads; w++) {
        unsigned end = w * 32 + 32 < run->threads ? w * 32 + 32 : run->threads;
        unsigned live_w = 0, waiting = 0;
        for (unsigned t = w * 32; t < end; t++) {
            live_w += run->state[t] != GRAPHC_FINISHED;
            waiting += run->state[t] == GRAPHC_AT_WARP_BARRIER;
        }
        if (live_w && waiting == live_w) {
            for (unsigned t = w * 32; t < end; t++)
                if (run->state[t] == GRAPHC_AT_WARP_BARRIER) run->state[t] = GRAPHC_RUNNABLE;
            released = 1;
        }
    }
    if (released) return 1;
    run->failure = "a block's threads wait at barriers none of them can pass";
    return 0;
}

static void graphc_run_block_fibers(graphc_block_run *run) {
    for (unsigned t = 0; t < run->threads; t++) {
        graphc_fiber_make(&run->fibers[t], run->stacks + (size_t) t * GRAPHC_FIBER_STACK,
                          GRAPHC_FIBER_STACK, graphc_fiber_main, run);
        run->state[t] = GRAPHC_RUNNABLE;
    }
    run->failure = nullptr;
    graphc_run_now = run;
    for (;;) {
        for (unsigned t = 0; t < run->threads; t++) {
            if (run->state[t] != GRAPHC_RUNNABLE) continue;
            threadIdx = {t, 0, 0};
            run->current = t;
            graphc_fiber_jump(&run->scheduler, &run->fibers[t]);
        }
        unsigned finished = 0;
        for (unsigned t = 0; t < run->threads; t++) finished += run->state[t] == GRAPHC_FINISHED;
        if (finished == run->threads) break;
        if (!graphc_release(run)) {          /* abandon the block's fibers, say why */
            graphc_fail_launch(run->failure);
            break;
        }
    }
    graphc_run_now = nullptr;
}

inline void __syncthreads() { graphc_wait(GRAPHC_AT_BLOCK_BARRIER); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    (void) mask;
    graphc_wait(GRAPHC_AT_WARP_BARRIER);
}

/* A warp shuffle: every lane publishes its value, the warp meets, each reads its source
   lane's (its own where the source is outside the warp, its segment or the block), and
   the warp meets again before the slots are reused. */
template <typename T>
static T graphc_shuffle(T value, int source, int width) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffled value fits 8 bytes");
    graphc_block_run *run = graphc_run_now;
    if (!run) {
        graphc_fail_launch("a warp shuffle in a kernel launched without cooperative threads");
        return value;
    }
    unsigned t = threadIdx.x, lane = t & 31u, base = t - lane;
    unsigned segment = lane - lane % (unsigned) width;
    memcpy(&run->exchange[t], &value, sizeof(T));
    __syncwarp();
    T out = value;
    if (source >= 0 && (unsigned) source >= segment && (unsigned) source < segment + width &&
        base + (unsigned) source < run->threads)
        memcpy(&out, &run->exchange[base + (unsigned) source], sizeof(T));
    __syncwarp();
    return out;
}
template <typename T>
inline T __shfl_sync(unsigned mask, T value, int lane, int width = 32) {
    (void) mask;
    unsigned own = threadIdx.x & 31u;
    return graphc_shuffle(value, (int) (own - own % width + (unsigned) lane % width), width);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
    (void) mask;
    return graphc_shuffle(value, (int) ((threadIdx.x & 31u) + delta), width);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T value, int lanes, int width = 32) {
    (void) mask;
    return graphc_shuffle(value, (int) ((threadIdx.x & 31u) ^ (unsigned) lanes), width);
}

/* ---- launches ------------------------------------------------------------------------- */
static unsigned graphc_host_workers(void) {
    const char *configured = getenv("GRAPHC_CUDA_HOST_THREADS");
    unsigned n = configured ? (unsigned) atoi(configured) : 2u;
    return n ? n : 1u;
}

/* Run `body` for every thread of every block of the grid. */
static void graphc_host_run(dim3 grid, dim3 block, bool cooperative,
                            const std::function<void()> &body) {
    unsigned blocks = grid.x * grid.y * grid.z, threads = block.x * block.y * block.z;
    if (blocks == 0 || threads == 0) return;
    if (threads > GRAPHC_MAX_THREADS || block.y != 1 || block.z != 1) {
        graphc_fail_launch("graphc's host build runs one-dimensional blocks of at most 1024 "
                           "threads");
        return;
    }
    std::atomic<unsigned> next(0);
    auto work = [&]() {
        gridDim = {grid.x, grid.y, grid.z};
        blockDim = {block.x, block.y, block.z};
        graphc_block_run *run = nullptr;
        if (cooperative) {
            run = new graphc_block_run;
            run->threads = threads;
            run->body = &body;
            run->stacks = (char *) malloc((size_t) threads * GRAPHC_FIBER_STACK);
            if (!run->stacks) {
                graphc_fail_launch("out of host memory for the threads of a block");
                delete run;
                return;
            }
        }
        for (unsigned b; (b = next.fetch_add(1)) < blocks;) {
            blockIdx = {b % grid.x, b / grid.x % grid.y, b / (grid.x * grid.y)};
            if (run) {
                graphc_run_block_fibers(run);
                if (run->failure) break;
            } else {
                for (unsigned t = 0; t < threads; t++) {
                    threadIdx = {t, 0, 0};
                    body();
                }
            }
        }
        if (run) {
            free(run->stacks);
            delete run;
        }
    };
    unsigned workers = graphc_host_workers();
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < workers && w < blocks; w++) pool.emplace_back(work);
    work();
    for (auto &t : pool) t.join();
}

struct graphc_recording {
    bool capturing = false, ready = false;
    std::vector<std::function<void()>> launches;
};

/* A launch on `recording`'s stream: run now, or recorded with its arguments' values of
   now when the stream is being captured. */
template <typename Body>
static void graphc_host_launch(graphc_recording *recording, dim3 grid, dim3 block,
                               bool cooperative, Body body) {
    if (recording && recording->capturing) {
        recording->launches.push_back([=]() { graphc_host_run(grid, block, cooperative, body); });
        return;
    }
    graphc_host_run(grid, block, cooperative, body);
}

/* The first failure of a launch since the last call (and forget it). */
static const char *graphc_host_take_failure(void) {
    return graphc_host_failure.exchange(nullptr);
}

/* ---- warp matrix operations: TF32 tensor-core tiles ------------------------------------
   Every lane holds a whole tile and does the whole operation itself (the hardware's
   spread of a tile over the lanes is opaque to programs, so this is one valid layout);
   the multiply-add accumulates in float, as the tensor cores do. */
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K> struct graphc_tile_size;
template <int M, int N, int K> struct graphc_tile_size<matrix_a, M, N, K> {
    static constexpr int rows = M, cols = K;
};
template <int M, int N, int K> struct graphc_tile_size<matrix_b, M, N, K> {
    static constexpr int rows = K, cols = N;
};
template <int M, int N, int K> struct graphc_tile_size<accumulator, M, N, K> {
    static constexpr int rows = M, cols = N;
};

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    static constexpr int rows = graphc_tile_size<Use, M, N, K>::rows;
    static constexpr int cols = graphc_tile_size<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols;
    float x[num_elements];
};

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout> &f, const float *p,
                             unsigned ldm) {
    for (int r = 0; r < f.rows; r++)
        for (int c = 0; c < f.cols; c++) f.x[r * f.cols + c] = p[(size_t) r * ldm + c];
}

template <int M, int N, int K>
inline void fill_fragment(fragment<accumulator, M, N, K, float> &f, float value) {
    for (int i = 0; i < f.num_elements; i++) f.x[i] = value;
}

template <int M, int N, int K, typename TA, typename TB, typename LA, typename LB>
inline void mma_sync(fragment<accumulator, M, N, K, float> &d,
                     const fragment<matrix_a, M, N, K, TA, LA> &a,
                     const fragment<matrix_b, M, N, K, TB, LB> &b,
                     const fragment<accumulator, M, N, K, float> &c) {
    float out[M * N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float total = c.x[i * N + j];
            for (int k = 0; k < K; k++) total += a.x[i * K + k] * b.x[k * N + j];
            out[i * N + j] = total;
        }
    memcpy(d.x, out, sizeof out);
}

template <int M, int N, int K>
inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f,
                              unsigned ldm, layout_t layout) {
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++) {
            if (layout == mem_row_major) p[(size_t) r * ldm + c] = f.x[r * N + c];
            else p[(size_t) c * ldm + r] = f.x[r * N + c];
        }
}

/* round to TF32 (10 mantissa bits), to nearest with ties away from zero */
inline float __float_to_tf32(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;
    memcpy(&value, &bits, 4);
    return value;
}
}  // namespace wmma
}  // namespace nvcuda
#define GRAPHC_ALIGN(n) __attribute__((aligned(n)))
#define GRAPHC_TF32 1
