/* Block-sparse (BSR) x dense matrix products, fp32 and int8 -> int32, multi-threaded.
 *
 * Y[R*BO, N] = W[R*BO, C*BC] X[C*BC, N], W given by its stored blocks (BO x BC each,
 * row-major; block row r's blocks are blocks[row_ptr[r] .. row_ptr[r+1]), at block
 * columns col_idx[...], ascending). X is first packed into panels of NP columns (zero
 * padded, cache-line aligned), so a panel's rows are contiguous.
 *
 * Weight-stationary order, as a dense GEMM keeps a block of A in L2: a task owns a range
 * of block rows; it runs the reduction in chunks of block columns sized so that the
 * range's stored blocks in a chunk stay in L2, and for each chunk sweeps every panel of
 * X through them, accumulating onto Y.
 *
 * Micro-kernels keep a tile of Y in registers while they run over a block row's blocks
 * of the chunk: 4 rows x 24 columns (12 accumulators, 3 X vectors and one broadcast: all
 * 16 ymm registers), fewer rows at the edge of a block. The full tile is written with
 * named variables: GCC 12 spills an accumulator array to the stack on every step, which
 * halved the speed. int8: X is packed as int16 pairs of consecutive rows and the weights
 * as int16 pairs, so _mm256_madd_epi16 gives two exact products and their sum per lane
 * into int32 (exact while |sum| < 2^31; the caller checks the reduction length).
 *
 * AVX2+FMA code is chosen at run time (__builtin_cpu_supports); elsewhere plain C loops.
 * Called through ctypes (no Python API); threads through OpenMP.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BSR_X86 1
#endif

#define NP 24 /* panel width (columns of X and Y per panel) */
#define SW 24 /* strip width: columns one micro-kernel call keeps in registers */
#define MC_ROWS 256 /* rows of W per task, at most */
#define L2_WEIGHTS (256 * 1024) /* bytes of a task's stored blocks per reduction chunk */
#define KC_ROWS 128 /* rows of X per reduction chunk, at least */

/* A buffer aligned to a cache line, so no vector load of a panel row splits a line;
 * free() releases it. */
static void *aligned_buffer(size_t bytes) {
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static int have_avx2(void) {
#ifdef BSR_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* The OpenMP thread count to use (1 without OpenMP; <= 0 asks for every core). */
static int thread_count(int threads) {
#ifdef _OPENMP
    return threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

/* ------------------------------------------------------------ the driver */

/* What a driver needs to know of one product, whatever the element type. */
typedef struct {
    int64_t R, C, N, panels, ldy;
    int BO, BC, avx2;
    size_t w_size, y_size;   /* bytes of a stored weight, of an element of Y */
    const void *blocks;      /* stored blocks, in the kernel's element layout */
    const int64_t *row_ptr, *col_idx;
    const void *Xp;          /* packed panels */
    int64_t panel_size;      /* elements per packed panel */
    void *Y;
} product;

/* Block row r's blocks [j0, j1) times panel p of X, accumulated onto Y. */
typedef void (*row_kernel)(const product *m, int64_t r, int64_t j0, int64_t j1, int64_t p);

/* Zero rows [row0, row0 + rows) of Y (elements of `size` bytes), columns [0, N). */
static void zero_rows(void *Y, size_t size, int64_t row0, int64_t rows, int64_t ldy,
                      int64_t N) {
    for (int64_t i = 0; i < rows; i++)
        memset((char *)Y + (row0 + i) * ldy * (int64_t)size, 0, (size_t)N * size);
}

/* Block rows per task: MC_ROWS rows of W, fewer when the tasks would not keep every
 * thread busy (four tasks per thread balance a random mask). */
static int64_t task_rows(int64_t R, int BO, int threads) {
    int64_t per = MC_ROWS / BO < 1 ? 1 : MC_ROWS / BO;
    int64_t most = (R + 4 * (int64_t)threads - 1) / (4 * (int64_t)threads);
    if (per > most) per = most;
    return per < 1 ? 1 : per;
}

/* Block columns per reduction chunk: a task's stored blocks in a chunk fill about
 * L2_WEIGHTS bytes (at the matrix's mean density), and a chunk spans at least KC_ROWS
 * rows of X. */
static int64_t chunk_columns(const product *m, int64_t per) {
    double nnz = (double)m->row_ptr[m->R];
    double per_column = nnz / (double)m->R / (double)m->C * (double)per * m->BO * m->BC *
                        (double)m->w_size;
    int64_t kc = (int64_t)(L2_WEIGHTS / (per_column > 1.0 ? per_column : 1.0));
    int64_t least = KC_ROWS / m->BC < 1 ? 1 : KC_ROWS / m->BC;
    if (kc < least) kc = least;
    return kc > m->C ? m->C : kc;
}

/* Y = W X over (range of block rows) tasks; returns -1 when a buffer is missing. */
static int drive(const product *m, int threads, row_kernel kernel) {
    int64_t per = task_rows(m->R, m->BO, threads), kc = chunk_columns(m, per);
    int64_t tasks = (m->R + per - 1) / per;
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (int64_t q = 0; q < tasks; q++) {
        int64_t r0 = q * per, r1 = r0 + per < m->R ? r0 + per : m->R;
        /* seg[2i], seg[2i+1]: block row r0+i's blocks in the current chunk */
        int64_t *seg = (int64_t *)malloc((size_t)(2 * (r1 - r0)) * sizeof(int64_t));
        if (!seg) { failed = 1; continue; }
        for (int64_t r = r0; r < r1; r++) seg[2 * (r - r0) + 1] = m->row_ptr[r];
        zero_rows(m->Y, m->y_size, r0 * m->BO,
                  (r1 - r0) * m->BO, m->ldy, m->N);
        for (int64_t c0 = 0; c0 < m->C; c0 += kc) {
            for (int64_t r = r0; r < r1; r++) {
                int64_t *s = seg + 2 * (r - r0), j = s[1], end = m->row_ptr[r + 1];
                s[0] = j;
                while (j < end && m->col_idx[j] < c0 + kc) j++;
                s[1] = j;
            }
            for (int64_t p = 0; p < m->panels; p++)
                for (int64_t r = r0; r < r1; r++)
                    if (seg[2 * (r - r0)] < seg[2 * (r - r0) + 1])
                        kernel(m, r, seg[2 * (r - r0)], seg[2 * (r - r0) + 1], p);
        }
        free(seg);
    }
    return failed ? -1 : 0;
}

/* ------------------------------------------------------------------ fp32 */

/* Panel p of X (K x N, leading dimension ldx) into out[K][NP], zero padded. */
static void pack_panel_f32(const float *X, int64_t ldx, int64_t K, int64_t N, int64_t p,
                           float *out) {
    int64_t n0 = p * NP, width = N - n0 < NP ? N - n0 : NP;
    for (int64_t k = 0; k < K; k++) {
        memcpy(out + k * NP, X + k * ldx + n0, (size_t)width * sizeof(float));
        if (width < NP) memset(out + k * NP + width, 0, (size_t)(NP - width) * sizeof(float));
    }
}

/* Rows [g, g+rb) of block row r's blocks [j0, j1), strip s of a panel, into acc: C. */
static void strip_f32_plain(const product *m, int64_t j0, int64_t j1, int g, int rb,
                            const float *Xp, int s, float acc[4][SW]) {
    const float *blocks = (const float *)m->blocks;
    int BO = m->BO, BC = m->BC;
    for (int i = 0; i < rb; i++)
        for (int v = 0; v < SW; v++) acc[i][v] = 0.0f;
    for (int64_t j = j0; j < j1; j++) {
        const float *w = blocks + j * BO * BC + (int64_t)g * BC;
        const float *x = Xp + m->col_idx[j] * BC * NP + s;
        for (int b = 0; b < BC; b++)
            for (int i = 0; i < rb; i++) {
                float wv = w[i * BC + b];
                for (int v = 0; v < SW; v++) acc[i][v] += wv * x[b * NP + v];
            }
    }
}

#ifdef BSR_X86
#define FMA_ROW(a0, a1, a2, weight)                      \
    do {                                                 \
        __m256 wv = _mm256_broadcast_ss(weight);         \
        a0 = _mm256_fmadd_ps(wv, x0, a0);                \
        a1 = _mm256_fmadd_ps(wv, x1, a1);                \
        a2 = _mm256_fmadd_ps(wv, x2, a2);                \
    } while (0)

/* 4 rows x 24 columns accumulated onto y. */
__attribute__((target("avx2,fma")))
static void tile4_f32(const product *m, int64_t j0, int64_t j1, int g, const float *Xp,
                      int s, float *y) {
    const float *blocks = (const float *)m->blocks;
    int BO = m->BO, BC = m->BC;
    int64_t ldy = m->ldy;
    float *y1 = y + ldy, *y2 = y + 2 * ldy, *y3 = y + 3 * ldy;
    __m256 c00 = _mm256_loadu_ps(y), c01 = _mm256_loadu_ps(y + 8), c02 = _mm256_loadu_ps(y + 16);
    __m256 c10 = _mm256_loadu_ps(y1), c11 = _mm256_loadu_ps(y1 + 8), c12 = _mm256_loadu_ps(y1 + 16);
    __m256 c20 = _mm256_loadu_ps(y2), c21 = _mm256_loadu_ps(y2 + 8), c22 = _mm256_loadu_ps(y2 + 16);
    __m256 c30 = _mm256_loadu_ps(y3), c31 = _mm256_loadu_ps(y3 + 8), c32 = _mm256_loadu_ps(y3 + 16);
    for (int64_t j = j0; j < j1; j++) {
        const float *w = blocks + j * BO * BC + (int64_t)g * BC;
        const float *x = Xp + m->col_idx[j] * BC * NP + s;
        for (int b = 0; b < BC; b++) {
            const float *xr = x + b * NP;
            __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8),
                   x2 = _mm256_loadu_ps(xr + 16);
            FMA_ROW(c00, c01, c02, w + b);
            FMA_ROW(c10, c11, c12, w + BC + b);
            FMA_ROW(c20, c21, c22, w + 2 * BC + b);
            FMA_ROW(c30, c31, c32, w + 3 * BC + b);
        }
    }
    _mm256_storeu_ps(y, c00); _mm256_storeu_ps(y + 8, c01); _mm256_storeu_ps(y + 16, c02);
    _mm256_storeu_ps(y1, c10); _mm256_storeu_ps(y1 + 8, c11); _mm256_storeu_ps(y1 + 16, c12);
    _mm256_storeu_ps(y2, c20); _mm256_storeu_ps(y2 + 8, c21); _mm256_storeu_ps(y2 + 16, c22);
    _mm256_storeu_ps(y3, c30); _mm256_storeu_ps(y3 + 8, c31); _mm256_storeu_ps(y3 + 16, c32);
}

/* RB (< 4, or a partial strip) rows x 24 columns into acc; few enough accumulators that
 * an array stays in registers once inlined with a constant RB. */
__attribute__((target("avx2,fma"), always_inline))
static inline void rows_f32(const product *m, int64_t j0, int64_t j1, int g, const int RB,
                            const float *Xp, int s, float acc[4][SW]) {
    const float *blocks = (const float *)m->blocks;
    int BO = m->BO, BC = m->BC;
    __m256 a[4][3];
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++) a[i][v] = _mm256_setzero_ps();
    for (int64_t j = j0; j < j1; j++) {
        const float *w = blocks + j * BO * BC + (int64_t)g * BC;
        const float *x = Xp + m->col_idx[j] * BC * NP + s;
        for (int b = 0; b < BC; b++) {
            const float *xr = x + b * NP;
            __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8),
                   x2 = _mm256_loadu_ps(xr + 16);
            for (int i = 0; i < RB; i++) FMA_ROW(a[i][0], a[i][1], a[i][2], w + i * BC + b);
        }
    }
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++) _mm256_storeu_ps(acc[i] + 8 * v, a[i][v]);
}

__attribute__((target("avx2,fma")))
static void strip_f32_avx2(const product *m, int64_t j0, int64_t j1, int g, int rb,
                           const float *Xp, int s, float acc[4][SW]) {
    switch (rb) {
    case 4: rows_f32(m, j0, j1, g, 4, Xp, s, acc); break;
    case 3: rows_f32(m, j0, j1, g, 3, Xp, s, acc); break;
    case 2: rows_f32(m, j0, j1, g, 2, Xp, s, acc); break;
    default: rows_f32(m, j0, j1, g, 1, Xp, s, acc);
    }
}
#endif

static void row_f32(const product *m, int64_t r, int64_t j0, int64_t j1, int64_t p) {
    const float *panel = (const float *)m->Xp + p * m->panel_size;
    int64_t n0 = p * NP, width = m->N - n0 < NP ? m->N - n0 : NP;
    float acc[4][SW];
    for (int g = 0; g < m->BO; g += 4) {
        int rb = m->BO - g < 4 ? m->BO - g : 4;
        for (int s = 0; s < width; s += SW) {
            float *y = (float *)m->Y + (r * m->BO + g) * m->ldy + n0 + s;
            int cols = width - s < SW ? (int)(width - s) : SW;
#ifdef BSR_X86
            if (m->avx2 && rb == 4 && cols == SW) {
                tile4_f32(m, j0, j1, g, panel, s, y);
                continue;
            }
            if (m->avx2)
                strip_f32_avx2(m, j0, j1, g, rb, panel, s, acc);
            else
#endif
                strip_f32_plain(m, j0, j1, g, rb, panel, s, acc);
            for (int i = 0; i < rb; i++)
                for (int v = 0; v < cols; v++) y[i * m->ldy + v] += acc[i][v];
        }
    }
}

int bsr_sgemm(int64_t R, int BO, int BC, const float *blocks, const int64_t *row_ptr,
              const int64_t *col_idx, int64_t K, int64_t N, const float *X, int64_t ldx,
              float *Y, int64_t ldy, int threads) {
    int64_t panels = (N + NP - 1) / NP;
    float *Xp = (float *)aligned_buffer((size_t)(panels * K * NP) * sizeof(float));
    if (!Xp) return -1;
    threads = thread_count(threads);
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t p = 0; p < panels; p++) pack_panel_f32(X, ldx, K, N, p, Xp + p * K * NP);
    product m = {.R = R, .C = K / BC, .N = N, .panels = panels, .ldy = ldy, .BO = BO,
                 .BC = BC, .avx2 = have_avx2(), .w_size = sizeof(float),
                 .y_size = sizeof(float), .blocks = blocks, .row_ptr = row_ptr,
                 .col_idx = col_idx, .Xp = Xp, .panel_size = K * NP, .Y = Y};
    int status = drive(&m, threads, row_f32);
    free(Xp);
    return status;
}

/* ------------------------------------------------------------------ int8 */

/* Panel p of int8 X into int16 pairs: out[c][b2][NP][2] with b2 over BCe/2 (BCe = BC
 * rounded up to even), row c*BC+2*b2 first, c*BC+2*b2+1 second (0 past BC). */
static void pack_panel_i8(const int8_t *X, int64_t ldx, int64_t C, int BC, int64_t N,
                          int64_t p, int16_t *out) {
    int BCe = (BC + 1) & ~1;
    int64_t n0 = p * NP, width = N - n0 < NP ? N - n0 : NP;
    for (int64_t c = 0; c < C; c++)
        for (int b2 = 0; b2 < BCe / 2; b2++) {
            int16_t *o = out + ((c * (BCe / 2) + b2) * NP) * 2;
            const int8_t *x0 = X + (c * BC + 2 * b2) * ldx + n0;
            const int8_t *x1 = 2 * b2 + 1 < BC ? x0 + ldx : NULL;
            for (int64_t v = 0; v < NP; v++) {
                o[2 * v] = v < width ? x0[v] : 0;
                o[2 * v + 1] = (v < width && x1) ? x1[v] : 0;
            }
        }
}

/* As strip_f32_plain; m->BC is the even width BCe of the int16 blocks. */
static void strip_i8_plain(const product *m, int64_t j0, int64_t j1, int g, int rb,
                           const int16_t *Xp, int s, int32_t acc[4][SW]) {
    const int16_t *w16 = (const int16_t *)m->blocks;
    int BO = m->BO, BCe = m->BC;
    for (int i = 0; i < rb; i++)
        for (int v = 0; v < SW; v++) acc[i][v] = 0;
    for (int64_t j = j0; j < j1; j++) {
        const int16_t *w = w16 + j * BO * BCe + (int64_t)g * BCe;
        const int16_t *x = Xp + m->col_idx[j] * (BCe / 2) * NP * 2;
        for (int b2 = 0; b2 < BCe / 2; b2++)
            for (int i = 0; i < rb; i++) {
                int32_t wa = w[i * BCe + 2 * b2], wb = w[i * BCe + 2 * b2 + 1];
                for (int v = 0; v < SW; v++) {
                    const int16_t *xv = x + (b2 * NP + s + v) * 2;
                    acc[i][v] += wa * xv[0] + wb * xv[1];
                }
            }
    }
}

#ifdef BSR_X86
#define MADD_ROW(a0, a1, a2, weight)                                   \
    do {                                                               \
        int32_t pair;                                                  \
        memcpy(&pair, weight, 4);                                      \
        __m256i wv = _mm256_set1_epi32(pair);                          \
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, wv));          \
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, wv));          \
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x2, wv));          \
    } while (0)
#define LOAD_I32(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE_I32(p, v) _mm256_storeu_si256((__m256i *)(p), v)

/* 4 rows x 24 columns accumulated onto y, as tile4_f32. */
__attribute__((target("avx2")))
static void tile4_i8(const product *m, int64_t j0, int64_t j1, int g, const int16_t *Xp,
                     int s, int32_t *y) {
    const int16_t *w16 = (const int16_t *)m->blocks;
    int BO = m->BO, BCe = m->BC;
    int64_t ldy = m->ldy;
    int32_t *y1 = y + ldy, *y2 = y + 2 * ldy, *y3 = y + 3 * ldy;
    __m256i c00 = LOAD_I32(y), c01 = LOAD_I32(y + 8), c02 = LOAD_I32(y + 16);
    __m256i c10 = LOAD_I32(y1), c11 = LOAD_I32(y1 + 8), c12 = LOAD_I32(y1 + 16);
    __m256i c20 = LOAD_I32(y2), c21 = LOAD_I32(y2 + 8), c22 = LOAD_I32(y2 + 16);
    __m256i c30 = LOAD_I32(y3), c31 = LOAD_I32(y3 + 8), c32 = LOAD_I32(y3 + 16);
    for (int64_t j = j0; j < j1; j++) {
        const int16_t *w = w16 + j * BO * BCe + (int64_t)g * BCe;
        const int16_t *x = Xp + m->col_idx[j] * (BCe / 2) * NP * 2 + s * 2;
        for (int b = 0; b < BCe; b += 2) {
            const int16_t *xr = x + b * NP;
            __m256i x0 = LOAD_I32(xr), x1 = LOAD_I32(xr + 16), x2 = LOAD_I32(xr + 32);
            MADD_ROW(c00, c01, c02, w + b);
            MADD_ROW(c10, c11, c12, w + BCe + b);
            MADD_ROW(c20, c21, c22, w + 2 * BCe + b);
            MADD_ROW(c30, c31, c32, w + 3 * BCe + b);
        }
    }
    STORE_I32(y, c00); STORE_I32(y + 8, c01); STORE_I32(y + 16, c02);
    STORE_I32(y1, c10); STORE_I32(y1 + 8, c11); STORE_I32(y1 + 16, c12);
    STORE_I32(y2, c20); STORE_I32(y2 + 8, c21); STORE_I32(y2 + 16, c22);
    STORE_I32(y3, c30); STORE_I32(y3 + 8, c31); STORE_I32(y3 + 16, c32);
}

/* As rows_f32, int16 pairs. */
__attribute__((target("avx2"), always_inline))
static inline void rows_i8(const product *m, int64_t j0, int64_t j1, int g, const int RB,
                           const int16_t *Xp, int s, int32_t acc[4][SW]) {
    const int16_t *w16 = (const int16_t *)m->blocks;
    int BO = m->BO, BCe = m->BC;
    __m256i a[4][3];
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++) a[i][v] = _mm256_setzero_si256();
    for (int64_t j = j0; j < j1; j++) {
        const int16_t *w = w16 + j * BO * BCe + (int64_t)g * BCe;
        const int16_t *x = Xp + m->col_idx[j] * (BCe / 2) * NP * 2 + s * 2;
        for (int b = 0; b < BCe; b += 2) {
            const int16_t *xr = x + b * NP;
            __m256i x0 = LOAD_I32(xr), x1 = LOAD_I32(xr + 16), x2 = LOAD_I32(xr + 32);
            for (int i = 0; i < RB; i++) MADD_ROW(a[i][0], a[i][1], a[i][2], w + i * BCe + b);
        }
    }
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++) STORE_I32(acc[i] + 8 * v, a[i][v]);
}

__attribute__((target("avx2")))
static void strip_i8_avx2(const product *m, int64_t j0, int64_t j1, int g, int rb,
                          const int16_t *Xp, int s, int32_t acc[4][SW]) {
    switch (rb) {
    case 4: rows_i8(m, j0, j1, g, 4, Xp, s, acc); break;
    case 3: rows_i8(m, j0, j1, g, 3, Xp, s, acc); break;
    case 2: rows_i8(m, j0, j1, g, 2, Xp, s, acc); break;
    default: rows_i8(m, j0, j1, g, 1, Xp, s, acc);
    }
}
#endif

static void row_i8(const product *m, int64_t r, int64_t j0, int64_t j1, int64_t p) {
    const int16_t *panel = (const int16_t *)m->Xp + p * m->panel_size;
    int64_t n0 = p * NP, width = m->N - n0 < NP ? m->N - n0 : NP;
    int32_t acc[4][SW];
    for (int g = 0; g < m->BO; g += 4) {
        int rb = m->BO - g < 4 ? m->BO - g : 4;
        for (int s = 0; s < width; s += SW) {
            int32_t *y = (int32_t *)m->Y + (r * m->BO + g) * m->ldy + n0 + s;
            int cols = width - s < SW ? (int)(width - s) : SW;
#ifdef BSR_X86
            if (m->avx2 && rb == 4 && cols == SW) {
                tile4_i8(m, j0, j1, g, panel, s, y);
                continue;
            }
            if (m->avx2)
                strip_i8_avx2(m, j0, j1, g, rb, panel, s, acc);
            else
#endif
                strip_i8_plain(m, j0, j1, g, rb, panel, s, acc);
            for (int i = 0; i < rb; i++)
                for (int v = 0; v < cols; v++) y[i * m->ldy + v] += acc[i][v];
        }
    }
}

int bsr_i8gemm(int64_t R, int BO, int BC, const int8_t *blocks, const int64_t *row_ptr,
               const int64_t *col_idx, int64_t C, int64_t N, const int8_t *X, int64_t ldx,
               int32_t *Y, int64_t ldy, int threads) {
    int BCe = (BC + 1) & ~1;
    int64_t nnz = row_ptr[R], panels = (N + NP - 1) / NP;
    int64_t panel_size = C * (BCe / 2) * NP * 2;
    int16_t *Xp = (int16_t *)aligned_buffer((size_t)(panels * panel_size) * sizeof(int16_t));
    int16_t *w16 = (int16_t *)malloc((size_t)(nnz * BO * BCe + 1) * sizeof(int16_t));
    if (!Xp || !w16) {
        free(Xp);
        free(w16);
        return -1;
    }
    for (int64_t j = 0; j < nnz; j++)
        for (int i = 0; i < BO; i++)
            for (int b = 0; b < BCe; b++)
                w16[(j * BO + i) * BCe + b] = b < BC ? blocks[(j * BO + i) * BC + b] : 0;
    threads = thread_count(threads);
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t p = 0; p < panels; p++)
        pack_panel_i8(X, ldx, C, BC, N, p, Xp + p * panel_size);
    product m = {.R = R, .C = C, .N = N, .panels = panels, .ldy = ldy, .BO = BO,
                 .BC = BCe, .avx2 = have_avx2(), .w_size = sizeof(int16_t),
                 .y_size = sizeof(int32_t), .blocks = w16, .row_ptr = row_ptr,
                 .col_idx = col_idx, .Xp = Xp, .panel_size = panel_size, .Y = Y};
    int status = drive(&m, threads, row_i8);
    free(Xp);
    free(w16);
    return status;
}

/* 1 when the AVX2 micro-kernels run, 0 for the plain C loops. */
int bsr_simd(void) { return have_avx2(); }
