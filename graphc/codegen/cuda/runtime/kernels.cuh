/* graphc's CUDA kernel library: what generated programs call for the routines the CUDA
   target implements natively (lower/target.py).

   graphc_block_fold   a block's threads combine one value each (warp shuffles, then
                       the warps' results through shared memory, in a fixed order)
   graphc_gemm         C = alpha·A·B + beta·C (+ a fused epilogue per element) as a
                       tiled shared-memory GEMM with register blocking; A and B are
                       read through loaders, so the same kernel multiplies matrices
                       (graphc_matrix) and computes convolutions as implicit GEMMs
                       (graphc_window, graphc_window_gradient, graphc_flipped_filter)
                       without an im2col buffer. A product with few tiles and a long K
                       is split along K (partial products in the state's scratch memory,
                       then summed in a fixed order: deterministic). */

/* ---- folds --------------------------------------------------------------------------- */
template <typename T> struct graphc_wrap { typedef T type; };
template <> struct graphc_wrap<int32_t> { typedef uint32_t type; };
template <> struct graphc_wrap<int64_t> { typedef uint64_t type; };

struct graphc_fold_add {
    template <typename T> GRAPHC_DEVICE T operator()(T a, T b) const {
        typedef typename graphc_wrap<T>::type U;     /* integers wrap, as in the loop IR */
        return (T) ((U) a + (U) b);
    }
};
struct graphc_fold_max {
    GRAPHC_DEVICE float operator()(float a, float b) const { return gc_maxf(a, b); }
    GRAPHC_DEVICE double operator()(double a, double b) const { return gc_max(a, b); }
    GRAPHC_DEVICE int32_t operator()(int32_t a, int32_t b) const { return a > b ? a : b; }
    GRAPHC_DEVICE int64_t operator()(int64_t a, int64_t b) const { return a > b ? a : b; }
};
struct graphc_fold_min {
    GRAPHC_DEVICE float operator()(float a, float b) const { return gc_minf(a, b); }
    GRAPHC_DEVICE double operator()(double a, double b) const { return gc_min(a, b); }
    GRAPHC_DEVICE int32_t operator()(int32_t a, int32_t b) const { return a < b ? a : b; }
    GRAPHC_DEVICE int64_t operator()(int64_t a, int64_t b) const { return a < b ? a : b; }
};

/* Every thread of the block gets the fold of the block's values. The block's size is a
   multiple of 32. */
template <typename T, typename Op>
GRAPHC_DEVICE T graphc_block_fold(T value, Op op) {
    __shared__ T partial[32];
    for (int delta = 16; delta >= 1; delta >>= 1)
        value = op(value, __shfl_down_sync(0xffffffffu, value, delta));
    unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();                       /* an earlier fold may still read `partial` */
    if (lane == 0) partial[warp] = value;
    __syncthreads();
    T total = partial[0];
    for (unsigned w = 1; w < warps; w++) total = op(total, partial[w]);
    return total;
}

/* ---- GEMM operands ----------------------------------------------------------------------- */
/* Element (r, c) of a row-major matrix with row stride ld, or of the transpose of one.
   first_contiguous: consecutive r are adjacent in memory (how a tile is best loaded). */
template <typename T> struct graphc_matrix {
    const T *p;
    int64_t ld;
    int transposed;
    GRAPHC_DEVICE T operator()(int64_t r, int64_t c) const {
        return transposed ? p[c * ld + r] : p[r * ld + c];
    }
    GRAPHC_DEVICE bool first_contiguous() const { return transposed; }
};

/* One NHWC convolution with an HWIO filter: sizes, zero padding before each axis,
   strides and dilations. */
struct graphc_conv {
    int64_t h, w, c_in, oh, ow, c_out, kh, kw, pad_h, pad_w, stride_h, stride_w,
        dilation_h, dilation_w;
};

/* im2col without the buffer: element (position, tap) is the input value output
   position (n, oh, ow) reads at filter tap (a, b, ci), 0 in the padding; transposed,
   element (tap, position). A forward convolution is window · filter; a filter gradient
   windowᵀ · dY. */
template <typename T> struct graphc_window {
    const T *x;
    graphc_conv g;
    int transposed;
    GRAPHC_DEVICE T operator()(int64_t r, int64_t c) const {
        int64_t position = transposed ? c : r, tap = transposed ? r : c;
        int64_t ow = position % g.ow, rest = position / g.ow;
        int64_t oh = rest % g.oh, n = rest / g.oh;
        int64_t ci = tap % g.c_in, taps = tap / g.c_in;
        int64_t b = taps % g.kw, a = taps / g.kw;
        int64_t h = oh * g.stride_h - g.pad_h + a * g.dilation_h;
        int64_t w = ow * g.stride_w - g.pad_w + b * g.dilation_w;
        if (h < 0 || h >= g.h || w < 0 || w >= g.w) return (T) 0;
        return x[((n * g.h + h) * g.w + w) * g.c_in + ci];
    }
    GRAPHC_DEVICE bool first_contiguous() const { return transposed; }
};

/* The input gradient's left operand: element (input position (n, h, w), tap (a, b, co))
   is dY at the output position that reads (h, w) through tap (a, b), or 0 where none
   does. The input gradient is this · graphc_flipped_filter. */
template <typename T> struct graphc_window_gradient {
    const T *dy;
    graphc_conv g;
    GRAPHC_DEVICE T operator()(int64_t r, int64_t c) const {
        int64_t w = r % g.w, rest = r / g.w;
        int64_t h = rest % g.h, n = rest / g.h;
        int64_t co = c % g.c_out, taps = c / g.c_out;
        int64_t b = taps % g.kw, a = taps / g.kw;
        int64_t th = h + g.pad_h - a * g.dilation_h, tw = w + g.pad_w - b * g.dilation_w;
        if (th < 0 || tw < 0 || th % g.stride_h || tw % g.stride_w) return (T) 0;
        int64_t oh = th / g.stride_h, ow = tw / g.stride_w;
        if (oh >= g.oh || ow >= g.ow) return (T) 0;
        return dy[((n * g.oh + oh) * g.ow + ow) * g.c_out + co];
    }
    GRAPHC_DEVICE bool first_contiguous() const { return false; }
};

/* Element (tap (a, b, co), ci) of an HWIO filter: W[a, b, ci, co]. */
template <typename T> struct graphc_flipped_filter {
    const T *w;
    graphc_conv g;
    GRAPHC_DEVICE T operator()(int64_t r, int64_t ci) const {
        int64_t co = r % g.c_out, taps = r / g.c_out;
        return w[(taps * g.c_in + ci) * g.c_out + co];
    }
    GRAPHC_DEVICE bool first_contiguous() const { return true; }
};

struct graphc_no_epilogue {
    GRAPHC_DEVICE void operator()(int64_t r, int64_t c) const { (void) r; (void) c; }
};

/* ---- GEMM ------------------------------------------------------------------------------ */
/* (row, column) of element e of a rows×cols tile of an operand, numbered along the
   direction the operand is contiguous in (so consecutive threads read adjacent memory). */
GRAPHC_DEVICE void graphc_tile_index(int e, bool first_contiguous, int rows, int cols, int *r,
                                     int *c) {
    *r = first_contiguous ? e % rows : e / cols;
    *c = first_contiguous ? e / rows : e % cols;
}

/* Operand element (r, c), 0 outside [0, r_end) × [0, c_end). */
template <typename T, typename Operand>
GRAPHC_DEVICE T graphc_element(const Operand &op, int64_t r, int64_t c, int64_t r_end,
                               int64_t c_end) {
    return r < r_end && c < c_end ? op(r, c) : (T) 0;
}
/* A block computes a BM×BN tile of C over K range [k_begin, k_end) of its split; each
   of its 256 threads a TM×TN grid of the tile's elements, strided by the thread grid
   (so shared-memory reads are broadcasts or consecutive, and stores coalesce). The next
   BK-slice of A and B is read into registers while the current one is multiplied. */
template <typename T, int BM, int BN, int BK, int TM, int TN, typename LA, typename LB,
          typename Epilogue>
__global__ void __launch_bounds__(GRAPHC_THREADS)
graphc_gemm_kernel(LA a, LB b, T *c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                   int64_t k_chunk, T alpha, T beta, T *partial, const int64_t *stop,
                   Epilogue epilogue) {
    static_assert((BM / TM) * (BN / TN) == GRAPHC_THREADS, "one element grid per thread");
    constexpr int A_LOADS = BM * BK / GRAPHC_THREADS, B_LOADS = BK * BN / GRAPHC_THREADS;
    if (stop && *stop) return;
    __shared__ T as[BK][BM];
    __shared__ T bs[BK][BN];
    const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int64_t m0 = (int64_t) blockIdx.x * BM, n0 = (int64_t) blockIdx.y * BN;
    const int64_t k_begin = (int64_t) blockIdx.z * k_chunk;
    const int64_t k_end = k_begin + k_chunk < k ? k_begin + k_chunk : k;
    const bool a_rows = a.first_contiguous(), b_rows = b.first_contiguous();
    T acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = (T) 0;
    T next_a[A_LOADS], next_b[B_LOADS];
    auto fetch = [&](int64_t k0) {
        int mi, ki, ni;
        for (int s = 0; s < A_LOADS; s++) {
            graphc_tile_index(tid + s * GRAPHC_THREADS, a_rows, BM, BK, &mi, &ki);
            next_a[s] = graphc_element<T>(a, m0 + mi, k0 + ki, m, k_end);
        }
        for (int s = 0; s < B_LOADS; s++) {
            graphc_tile_index(tid + s * GRAPHC_THREADS, b_rows, BK, BN, &ki, &ni);
            next_b[s] = graphc_element<T>(b, k0 + ki, n0 + ni, k_end, n);
        }
    };
    fetch(k_begin);
    for (int64_t k0 = k_begin; k0 < k_end; k0 += BK) {
        int mi, ki, ni;
        for (int s = 0; s < A_LOADS; s++) {
            graphc_tile_index(tid + s * GRAPHC_THREADS, a_rows, BM, BK, &mi, &ki);
            as[ki][mi] = next_a[s];
        }
        for (int s = 0; s < B_LOADS; s++) {
            graphc_tile_index(tid + s * GRAPHC_THREADS, b_rows, BK, BN, &ki, &ni);
            bs[ki][ni] = next_b[s];
        }
        __syncthreads();
        if (k0 + BK < k_end) fetch(k0 + BK);
        for (int kk = 0; kk < BK; kk++) {
            T x[TM], y[TN];
            for (int i = 0; i < TM; i++) x[i] = as[kk][ty + i * (BM / TM)];
            for (int j = 0; j < TN; j++) y[j] = bs[kk][tx + j * (BN / TN)];
            for (int i = 0; i < TM; i++)
                for (int j = 0; j < TN; j++) acc[i][j] += x[i] * y[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < TM; i++) {
        int64_t row = m0 + ty + i * (BM / TM);
        if (row >= m) continue;
        for (int j = 0; j < TN; j++) {
            int64_t col = n0 + tx + j * (BN / TN);
            if (col >= n) continue;
            if (partial) {
                partial[((int64_t) blockIdx.z * m + row) * n + col] = acc[i][j];
                continue;
            }
            T value = alpha * acc[i][j];
            if (beta != (T) 0) value += beta * c[row * ldc + col];
            c[row * ldc + col] = value;
            epilogue(row, col);
        }
    }
}

/* The split-K partial products summed in split order, then as the GEMM kernel ends. */
template <typename T, typename Epilogue>
__global__ void __launch_bounds__(GRAPHC_THREADS)
graphc_gemm_sum_splits(const T *partial, int64_t splits, T *c, int64_t ldc, int64_t m,
                       int64_t n, T alpha, T beta, const int64_t *stop, Epilogue epilogue) {
    if (stop && *stop) return;
    for (int64_t e = blockIdx.x * (int64_t) blockDim.x + threadIdx.x; e < m * n;
         e += (int64_t) gridDim.x * blockDim.x) {
        int64_t row = e / n, col = e % n;
        T total = partial[e];
        for (int64_t s = 1; s < splits; s++) total += partial[s * m * n + e];
        T value = alpha * total;
        if (beta != (T) 0) value += beta * c[row * ldc + col];
        c[row * ldc + col] = value;
        epilogue(row, col);
    }
}

template <typename T, typename Epilogue>
static int graphc_gemm_sum(graphc_state *st, const T *partial, int64_t splits, T *c,
                           int64_t ldc, int64_t m, int64_t n, T alpha, T beta,
                           const int64_t *stop, Epilogue epilogue, const char *name,
                           char *error, int error_size) {
    unsigned blocks = graphc_blocks(m * n);
#ifdef GRAPHC_HOST_BUILD
    graphc_host_launch(&st->recording, dim3(blocks), dim3(GRAPHC_THREADS), false, [=]() {
        graphc_gemm_sum_splits<T>(partial, splits, c, ldc, m, n, alpha, beta, stop, epilogue);
    });
#else
    graphc_gemm_sum_splits<T><<<blocks, GRAPHC_THREADS, 0, st->stream>>>(
        partial, splits, c, ldc, m, n, alpha, beta, stop, epilogue);
#endif
    return GRAPHC_CHECK_LAUNCH(name);
}

/* How many splits of K a product of `tiles` tiles takes (1: none) and each split's
   length, a multiple of bk: enough blocks for twice the multiprocessors, each split at
   least 4·bk long, at most 64 splits. */
GRAPHC_HELPER int64_t graphc_splits(graphc_state *st, int64_t tiles, int64_t k, int64_t bk,
                                    int64_t *k_chunk) {
    int64_t splits = 1;
    if (tiles < st->sms && k >= 8 * bk) {
        splits = (2 * (int64_t) st->sms + tiles - 1) / tiles;
        int64_t most = k / (4 * bk);
        splits = splits < most ? splits : most;
        splits = splits < 64 ? splits : 64;
    }
    *k_chunk = splits > 1 ? ((k + splits - 1) / splits + bk - 1) / bk * bk : k;
    return splits > 1 ? (k + *k_chunk - 1) / *k_chunk : 1;
}

/* A GEMM kernel: every one has this signature. */
template <typename T, typename LA, typename LB, typename Epilogue>
using graphc_gemm_fn = void (*)(LA, LB, T *, int64_t, int64_t, int64_t, int64_t, int64_t, T, T,
                                T *, const int64_t *, Epilogue);

/* Launch `kernel`, whose blocks take bm×bn tiles in bk-slices of K, over the product's
   tiles (and splits of K), then sum the splits. */
template <typename T, typename LA, typename LB, typename Epilogue>
static int graphc_gemm_launch(graphc_state *st, graphc_gemm_fn<T, LA, LB, Epilogue> kernel,
                              int64_t bm, int64_t bn, int64_t bk, LA a, LB b, T *c,
                              int64_t ldc, int64_t m, int64_t n, int64_t k, T alpha, T beta,
                              const int64_t *stop, Epilogue epilogue, const char *name,
                              char *error, int error_size) {
    int64_t tiles_m = (m + bm - 1) / bm, tiles_n = (n + bn - 1) / bn, k_chunk;
    int64_t splits = graphc_splits(st, tiles_m * tiles_n, k, bk, &k_chunk);
    T *partial = nullptr;
    if (splits > 1) {
        partial = (T *) graphc_scratch(st, (size_t) (splits * m * n) * sizeof(T), error,
                                       error_size);
        if (!partial) return 1;
    }
    dim3 grid((unsigned) tiles_m, (unsigned) tiles_n, (unsigned) splits);
#ifdef GRAPHC_HOST_BUILD
    graphc_host_launch(&st->recording, grid, dim3(GRAPHC_THREADS), true, [=]() {
        kernel(a, b, c, ldc, m, n, k, k_chunk, alpha, beta, partial, stop, epilogue);
    });
#else
    kernel<<<grid, GRAPHC_THREADS, 0, st->stream>>>(a, b, c, ldc, m, n, k, k_chunk, alpha,
                                                    beta, partial, stop, epilogue);
#endif
    if (GRAPHC_CHECK_LAUNCH(name)) return 1;
    return splits > 1 ? graphc_gemm_sum(st, partial, splits, c, ldc, m, n, alpha, beta, stop,
                                        epilogue, name, error, error_size) : 0;
}

/* The same product on TF32 tensor cores (float only, sm_80 and later): a block's 64×64
   tile is eight warps' 16×32 strips, each two 16×16 accumulators fed 16×8 and 8×16
   tiles of A and B rounded to TF32 (10 mantissa bits) in shared memory; the finished
   tile goes through shared memory so the epilogue sees one element per thread. */
#define GRAPHC_TF32_BM 64
#define GRAPHC_TF32_BN 64
#define GRAPHC_TF32_BK 32
template <typename LA, typename LB, typename Epilogue>
__global__ void __launch_bounds__(GRAPHC_THREADS)
graphc_gemm_tf32_kernel(LA a, LB b, float *c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                        int64_t k_chunk, float alpha, float beta, float *partial,
                        const int64_t *stop, Epilogue epilogue) {
#ifdef GRAPHC_TF32
    using namespace nvcuda;
    constexpr int BM = GRAPHC_TF32_BM, BN = GRAPHC_TF32_BN, BK = GRAPHC_TF32_BK;
    constexpr int LDA = BK + 4, LDB = BN + 4, LDC = BN + 4;
    constexpr int A_LOADS = BM * BK / GRAPHC_THREADS, B_LOADS = BK * BN / GRAPHC_THREADS;
    if (stop && *stop) return;
    __shared__ GRAPHC_ALIGN(32) float as[BM * LDA];
    __shared__ GRAPHC_ALIGN(32) float bs[BK * LDB];
    __shared__ GRAPHC_ALIGN(32) float cs[BM * LDC];
    const int tid = threadIdx.x, warp = tid / 32;
    const int warp_row = warp / 2 * 16, warp_col = warp % 2 * 32;
    const int64_t m0 = (int64_t) blockIdx.x * BM, n0 = (int64_t) blockIdx.y * BN;
    const int64_t k_begin = (int64_t) blockIdx.z * k_chunk;
    const int64_t k_end = k_begin + k_chunk < k ? k_begin + k_chunk : k;
    const bool a_rows = a.first_contiguous(), b_rows = b.first_contiguous();
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2];
    wmma::fill_fragment(acc[0], 0.0f);
    wmma::fill_fragment(acc[1], 0.0f);
    for (int64_t k0 = k_begin; k0 < k_end; k0 += BK) {
        int mi, ki, ni;
        for (int s = 0; s < A_LOADS; s++) {
            graphc_tile_index(tid + s * GRAPHC_THREADS, a_rows, BM, BK, &mi, &ki);
            as[mi * LDA + ki] = wmma::__float_to_tf32(
                graphc_element<float>(a, m0 + mi, k0 + ki, m, k_end));
        }
        for (int s = 0; s < B_LOADS; s++) {
            graphc_tile_index(tid + s * GRAPHC_THREADS, b_rows, BK, BN, &ki, &ni);
            bs[ki * LDB + ni] = wmma::__float_to_tf32(
                graphc_element<float>(b, k0 + ki, n0 + ni, k_end, n));
        }
        __syncthreads();
        for (int kk = 0; kk < BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
            wmma::load_matrix_sync(fa, as + warp_row * LDA + kk, LDA);
            for (int j = 0; j < 2; j++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32,
                               wmma::row_major> fb;
                wmma::load_matrix_sync(fb, bs + kk * LDB + warp_col + j * 16, LDB);
                wmma::mma_sync(acc[j], fa, fb, acc[j]);
            }
        }
        __syncthreads();
    }
    for (int j = 0; j < 2; j++)
        wmma::store_matrix_sync(cs + warp_row * LDC + warp_col + j * 16, acc[j], LDC,
                                wmma::mem_row_major);
    __syncthreads();
    for (int e = tid; e < BM * BN; e += GRAPHC_THREADS) {
        int64_t row = m0 + e / BN, col = n0 + e % BN;
        if (row >= m || col >= n) continue;
        float total = cs[(e / BN) * LDC + e % BN];
        if (partial) {
            partial[((int64_t) blockIdx.z * m + row) * n + col] = total;
            continue;
        }
        float value = alpha * total;
        if (beta != 0.0f) value += beta * c[row * ldc + col];
        c[row * ldc + col] = value;
        epilogue(row, col);
    }
#endif
}

/* C[m×n] (row stride ldc) = alpha·A·B + beta·C (beta 0: C is not read), then
   epilogue(r, c) on each element once it is final. Large products take 128×128 tiles,
   the others 64×64 (split along K when the tiles alone would not fill the device).
   TF32: float products on TF32 tensor cores where the device has them. */
template <typename T, bool TF32 = false, typename LA, typename LB, typename Epilogue>
static int graphc_gemm(graphc_state *st, LA a, LB b, T *c, int64_t ldc, int64_t m, int64_t n,
                       int64_t k, T alpha, T beta, const int64_t *stop, Epilogue epilogue,
                       const char *name, char *error, int error_size) {
    if (m <= 0 || n <= 0) return 0;
    if constexpr (TF32 && sizeof(T) == sizeof(float)) {
        if (st->tf32)
            return graphc_gemm_launch<T, LA, LB, Epilogue>(
                st, graphc_gemm_tf32_kernel<LA, LB, Epilogue>, GRAPHC_TF32_BM, GRAPHC_TF32_BN,
                GRAPHC_TF32_BK, a, b, c, ldc, m, n, k, alpha, beta, stop, epilogue, name, error,
                error_size);
    }
    if (m * n >= (int64_t) 2 * 128 * 128 * st->sms)
        return graphc_gemm_launch<T, LA, LB, Epilogue>(
            st, graphc_gemm_kernel<T, 128, 128, 8, 8, 8, LA, LB, Epilogue>, 128, 128, 8, a, b, c,
            ldc, m, n, k, alpha, beta, stop, epilogue, name, error, error_size);
    return graphc_gemm_launch<T, LA, LB, Epilogue>(
        st, graphc_gemm_kernel<T, 64, 64, 16, 4, 4, LA, LB, Epilogue>, 64, 64, 16, a, b, c, ldc,
        m, n, k, alpha, beta, stop, epilogue, name, error, error_size);
}
