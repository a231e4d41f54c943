/* Block-sparse (BSR) x dense matrix products, fp32 and int8 -> int32, multi-threaded.
 *
 * Y[R*BO, N] = W[R*BO, C*BC] X[C*BC, N], W given by its stored blocks (BO x BC each,
 * row-major; block row r's blocks are blocks[row_ptr[r] .. row_ptr[r+1]), at block
 * columns col_idx[...]; ascending order keeps chunks local, any order is correct). X is
 * first packed into panels of NP
 * columns (zero padded), so a panel's rows are contiguous. Tasks are (panel, range of
 * block rows); a task runs the reduction in chunks of block columns small enough for the
 * chunk's X rows to stay in L1 while every block row of the range uses them, and large
 * enough that a block row finds about 64 columns of work in a chunk.
 *
 * Micro-kernels keep a tile of Y in registers while they run over a block row's blocks
 * of the chunk: up to 4 rows x 24 columns (12 accumulators; the caller cuts blocks
 * into 4-column pieces, which this kernel runs fastest), or 8 rows x 8 columns for
 * 8-row blocks whose width is not a multiple of 4. int8: X is packed as
 * int16 pairs of consecutive rows and the weights as int16 pairs, so _mm256_madd_epi16
 * gives two exact products and their sum per lane into int32 (exact while |sum| < 2^31;
 * the caller checks the reduction length).
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

static int have_avx2(void) {
#ifdef BSR_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
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

/* Rows [g, g+rb) of block row r, strip s of panel p: generic C. */
static void strip_f32_plain(const float *blocks, const int64_t *col_idx, int64_t j0, int64_t j1, int BO, int BC, int g,
                            int rb, const float *Xp, int s, float acc[4][SW]) {
    for (int i = 0; i < rb; i++)
        for (int v = 0; v < SW; v++) acc[i][v] = 0.0f;
    for (int64_t j = j0; j < j1; j++) {
        const float *w = blocks + j * BO * BC + (int64_t)g * BC;
        const float *x = Xp + col_idx[j] * BC * NP + s;
        for (int b = 0; b < BC; b++)
            for (int i = 0; i < rb; i++) {
                float wv = w[i * BC + b];
                for (int v = 0; v < SW; v++) acc[i][v] += wv * x[b * NP + v];
            }
    }
}

#ifdef BSR_X86
/* RB rows x 24 columns of Y in RB x 3 registers (12 for RB = 4: FMA latency needs about
 * 10 independent chains). Always inlined with a constant RB, so the accumulators stay in
 * registers; y != NULL accumulates onto a full strip of Y, else into acc. */
__attribute__((target("avx2,fma"), always_inline))
static inline void strip_f32_rows(const float *blocks, const int64_t *col_idx, int64_t j0,
                                  int64_t j1, int BO, int BC, int g, const int RB,
                                  const float *Xp, int s, float acc[4][SW], float *y,
                                  int64_t ldy) {
    __m256 a[4][3];
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++)
            a[i][v] = y ? _mm256_loadu_ps(y + i * ldy + 8 * v) : _mm256_setzero_ps();
    for (int64_t j = j0; j < j1; j++) {
        const float *w = blocks + j * BO * BC + (int64_t)g * BC;
        const float *x = Xp + col_idx[j] * BC * NP + s;
        for (int b = 0; b < BC; b++) {
            const float *xr = x + b * NP;
            __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8);
            __m256 x2 = _mm256_loadu_ps(xr + 16);
            for (int i = 0; i < RB; i++) {
                __m256 wi = _mm256_broadcast_ss(w + i * BC + b);
                a[i][0] = _mm256_fmadd_ps(wi, x0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(wi, x1, a[i][1]);
                a[i][2] = _mm256_fmadd_ps(wi, x2, a[i][2]);
            }
        }
    }
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++)
            _mm256_storeu_ps(y ? y + i * ldy + 8 * v : acc[i] + 8 * v, a[i][v]);
}

/* 8 rows x 8 columns: one X load and 8 weight broadcasts feed 8 FMAs (8x8 blocks). */
__attribute__((target("avx2,fma")))
static void rows8_f32(const float *blocks, const int64_t *col_idx, int64_t j0, int64_t j1,
                      int BC, const float *Xp, int s, float *y, int64_t ldy) {
    __m256 a0 = _mm256_loadu_ps(y), a1 = _mm256_loadu_ps(y + ldy),
           a2 = _mm256_loadu_ps(y + 2 * ldy), a3 = _mm256_loadu_ps(y + 3 * ldy),
           a4 = _mm256_loadu_ps(y + 4 * ldy), a5 = _mm256_loadu_ps(y + 5 * ldy),
           a6 = _mm256_loadu_ps(y + 6 * ldy), a7 = _mm256_loadu_ps(y + 7 * ldy);
    for (int64_t j = j0; j < j1; j++) {
        const float *w = blocks + j * 8 * BC;
        const float *x = Xp + col_idx[j] * BC * NP + s;
        for (int b = 0; b < BC; b++) {
            __m256 xv = _mm256_loadu_ps(x + b * NP);
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + b), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + BC + b), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 2 * BC + b), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 3 * BC + b), xv, a3);
            a4 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 4 * BC + b), xv, a4);
            a5 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 5 * BC + b), xv, a5);
            a6 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 6 * BC + b), xv, a6);
            a7 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 7 * BC + b), xv, a7);
        }
    }
    _mm256_storeu_ps(y, a0); _mm256_storeu_ps(y + ldy, a1);
    _mm256_storeu_ps(y + 2 * ldy, a2); _mm256_storeu_ps(y + 3 * ldy, a3);
    _mm256_storeu_ps(y + 4 * ldy, a4); _mm256_storeu_ps(y + 5 * ldy, a5);
    _mm256_storeu_ps(y + 6 * ldy, a6); _mm256_storeu_ps(y + 7 * ldy, a7);
}

__attribute__((target("avx2,fma")))
static void strip_f32_avx2(const float *blocks, const int64_t *col_idx, int64_t j0,
                           int64_t j1, int BO, int BC, int g, int rb, const float *Xp, int s,
                           float acc[4][SW], float *y, int64_t ldy) {
    if (rb == 4 && BC == 8) {  /* 8x8 blocks: the inner loop fully unrolled */
        strip_f32_rows(blocks, col_idx, j0, j1, BO, 8, g, 4, Xp, s, acc, y, ldy);
        return;
    }
    if (rb == 4 && BC == 4) {
        strip_f32_rows(blocks, col_idx, j0, j1, BO, 4, g, 4, Xp, s, acc, y, ldy);
        return;
    }
    switch (rb) {
    case 4: strip_f32_rows(blocks, col_idx, j0, j1, BO, BC, g, 4, Xp, s, acc, y, ldy); break;
    case 3: strip_f32_rows(blocks, col_idx, j0, j1, BO, BC, g, 3, Xp, s, acc, y, ldy); break;
    case 2: strip_f32_rows(blocks, col_idx, j0, j1, BO, BC, g, 2, Xp, s, acc, y, ldy); break;
    default: strip_f32_rows(blocks, col_idx, j0, j1, BO, BC, g, 1, Xp, s, acc, y, ldy);
    }
}
#endif

/* Work split: (panel, range of block rows) tasks; within a task the reduction runs in
 * chunks of block columns whose X rows (KC_ROWS x NP) stay in L1 while every block row of
 * the range uses them; cursor[] remembers where each block row's next chunk starts. */
#define KC_ROWS 128

/* Block columns per reduction chunk: KC_ROWS rows of X, but enough that a block row
 * finds about 64 block columns' worth of its blocks in a chunk at the matrix's density
 * (else loading and storing the accumulators per chunk dominates). */
static int64_t chunk_columns(int64_t R, int64_t C, int64_t nnz, int BC) {
    int64_t kc = KC_ROWS / BC < 1 ? 1 : KC_ROWS / BC;
    int64_t sparse = nnz > 0 ? (64 * R * C + nnz * BC - 1) / (nnz * BC) : C;
    return kc > sparse ? kc : sparse;
}

static int64_t row_ranges(int64_t R, int64_t panels, int threads) {
    int64_t want = 4 * (int64_t)threads, ranges = (want + panels - 1) / panels;
    return ranges < 1 ? 1 : (ranges > R ? (R > 0 ? R : 1) : ranges);
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

/* Block row r's blocks in the chunk of block columns below `limit`: [*cursor, return),
 * the cursor moved past them. */
static int64_t take_chunk(int64_t *cursor, int64_t row_end, const int64_t *col_idx,
                          int64_t limit) {
    int64_t j = *cursor;
    while (j < row_end && col_idx[j] < limit) j++;
    *cursor = j;
    return j;
}

/* Zero rows [row0, row0 + rows) of Y (elements of `size` bytes) in columns [n0, n0+width). */
static void zero_rows(void *Y, size_t size, int64_t row0, int rows, int64_t ldy, int64_t n0,
                      int64_t width) {
    for (int i = 0; i < rows; i++)
        memset((char *)Y + ((row0 + i) * ldy + n0) * (int64_t)size, 0, (size_t)width * size);
}

int bsr_sgemm(int64_t R, int BO, int BC, const float *blocks, const int64_t *row_ptr,
              const int64_t *col_idx, int64_t K, int64_t N, const float *X, int64_t ldx,
              float *Y, int64_t ldy, int threads) {
    int64_t panels = (N + NP - 1) / NP;
    int64_t C = K / BC, kc = chunk_columns(R, C, row_ptr[R], BC);
    float *Xp = (float *)malloc((size_t)(panels * K * NP) * sizeof(float));
    if (!Xp) return -1;
    int avx2 = have_avx2();
    threads = thread_count(threads);
    int64_t ranges = row_ranges(R, panels, threads), per = (R + ranges - 1) / ranges;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t p = 0; p < panels; p++) pack_panel_f32(X, ldx, K, N, p, Xp + p * K * NP);
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) collapse(2) schedule(dynamic, 1)
#endif
    for (int64_t p = 0; p < panels; p++)
        for (int64_t q = 0; q < ranges; q++) {
            int64_t r0 = q * per, r1 = r0 + per < R ? r0 + per : R;
            if (r0 >= r1) continue;
            const float *panel = Xp + p * K * NP;
            int64_t n0 = p * NP, width = N - n0 < NP ? N - n0 : NP;
            int64_t *cursor = (int64_t *)malloc((size_t)(r1 - r0) * sizeof(int64_t));
            if (!cursor) { failed = 1; continue; }
            for (int64_t r = r0; r < r1; r++) {
                cursor[r - r0] = row_ptr[r];
                zero_rows(Y, sizeof(float), r * BO, BO, ldy, n0, width);
            }
            float acc[4][SW];
            for (int64_t c0 = 0; c0 < C; c0 += kc)
                for (int64_t r = r0; r < r1; r++) {
                    int64_t j0 = cursor[r - r0];
                    int64_t j1 = take_chunk(&cursor[r - r0], row_ptr[r + 1], col_idx, c0 + kc);
                    if (j0 == j1) continue;
#ifdef BSR_X86
                    if (avx2 && BO == 8 && width == NP && BC % 4 != 0) {
                        for (int s = 0; s < NP; s += 8)
                            rows8_f32(blocks, col_idx, j0, j1, BC, panel, s,
                                      Y + r * 8 * ldy + n0 + s, ldy);
                        continue;
                    }
#endif
                    for (int g = 0; g < BO; g += 4) {
                        int rb = BO - g < 4 ? BO - g : 4;
                        for (int s = 0; s < width; s += SW) {
#ifdef BSR_X86
                            float *y = Y + (r * BO + g) * ldy + n0 + s;
                            if (avx2 && width - s >= SW) {
                                strip_f32_avx2(blocks, col_idx, j0, j1, BO, BC, g, rb, panel,
                                               s, acc, y, ldy);
                                continue;
                            }
                            if (avx2)
                                strip_f32_avx2(blocks, col_idx, j0, j1, BO, BC, g, rb, panel,
                                               s, acc, NULL, 0);
                            else
#endif
                                strip_f32_plain(blocks, col_idx, j0, j1, BO, BC, g, rb, panel,
                                                s, acc);
                            int cols = width - s < SW ? (int)(width - s) : SW;
                            for (int i = 0; i < rb; i++) {
                                float *yi = Y + (r * BO + g + i) * ldy + n0 + s;
                                for (int v = 0; v < cols; v++) yi[v] += acc[i][v];
                            }
                        }
                    }
                }
            free(cursor);
        }
    (void)avx2;
    free(Xp);
    return failed ? -1 : 0;
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

static void strip_i8_plain(const int16_t *w16, const int64_t *col_idx, int64_t j0, int64_t j1, int BO, int BCe, int g, int rb, const int16_t *Xp, int s,
                           int32_t acc[4][SW]) {
    for (int i = 0; i < rb; i++)
        for (int v = 0; v < SW; v++) acc[i][v] = 0;
    for (int64_t j = j0; j < j1; j++) {
        const int16_t *w = w16 + j * BO * BCe + (int64_t)g * BCe;
        const int16_t *x = Xp + col_idx[j] * (BCe / 2) * NP * 2;
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
/* As strip_f32_rows, int16 pairs: one madd gives 2 exact products and their sum. */
__attribute__((target("avx2,fma"), always_inline))
static inline void strip_i8_rows(const int16_t *w16, const int64_t *col_idx, int64_t j0,
                                 int64_t j1, int BO, int BCe, int g, const int RB,
                                 const int16_t *Xp, int s, int32_t acc[4][SW], int32_t *y,
                                 int64_t ldy) {
    __m256i a[4][3];
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++)
            a[i][v] = y ? _mm256_loadu_si256((const __m256i *)(y + i * ldy + 8 * v))
                        : _mm256_setzero_si256();
    for (int64_t j = j0; j < j1; j++) {
        const int16_t *w = w16 + j * BO * BCe + (int64_t)g * BCe;
        const int16_t *x = Xp + col_idx[j] * (BCe / 2) * NP * 2 + s * 2;
        for (int b2 = 0; b2 < BCe / 2; b2++) {
            const int16_t *xr = x + b2 * NP * 2;
            __m256i x0 = _mm256_loadu_si256((const __m256i *)xr);
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(xr + 16));
            __m256i x2 = _mm256_loadu_si256((const __m256i *)(xr + 32));
            for (int i = 0; i < RB; i++) {
                int32_t pair;
                memcpy(&pair, w + i * BCe + 2 * b2, 4);
                __m256i wi = _mm256_set1_epi32(pair);
                a[i][0] = _mm256_add_epi32(a[i][0], _mm256_madd_epi16(x0, wi));
                a[i][1] = _mm256_add_epi32(a[i][1], _mm256_madd_epi16(x1, wi));
                a[i][2] = _mm256_add_epi32(a[i][2], _mm256_madd_epi16(x2, wi));
            }
        }
    }
    for (int i = 0; i < RB; i++)
        for (int v = 0; v < 3; v++)
            _mm256_storeu_si256((__m256i *)(y ? y + i * ldy + 8 * v : acc[i] + 8 * v), a[i][v]);
}

__attribute__((target("avx2,fma")))
static void strip_i8_avx2(const int16_t *w16, const int64_t *col_idx, int64_t j0, int64_t j1,
                          int BO, int BCe, int g, int rb, const int16_t *Xp, int s,
                          int32_t acc[4][SW], int32_t *y, int64_t ldy) {
    switch (rb) {
    case 4: strip_i8_rows(w16, col_idx, j0, j1, BO, BCe, g, 4, Xp, s, acc, y, ldy); break;
    case 3: strip_i8_rows(w16, col_idx, j0, j1, BO, BCe, g, 3, Xp, s, acc, y, ldy); break;
    case 2: strip_i8_rows(w16, col_idx, j0, j1, BO, BCe, g, 2, Xp, s, acc, y, ldy); break;
    default: strip_i8_rows(w16, col_idx, j0, j1, BO, BCe, g, 1, Xp, s, acc, y, ldy);
    }
}
#endif

int bsr_i8gemm(int64_t R, int BO, int BC, const int8_t *blocks, const int64_t *row_ptr,
               const int64_t *col_idx, int64_t C, int64_t N, const int8_t *X, int64_t ldx,
               int32_t *Y, int64_t ldy, int threads) {
    int BCe = (BC + 1) & ~1;
    int64_t nnz = row_ptr[R], panels = (N + NP - 1) / NP;
    int64_t panel_size = C * (BCe / 2) * NP * 2, kc = chunk_columns(R, C, nnz, BCe);
    int16_t *Xp = (int16_t *)malloc((size_t)(panels * panel_size) * sizeof(int16_t));
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
    int avx2 = have_avx2();
    threads = thread_count(threads);
    int64_t ranges = row_ranges(R, panels, threads), per = (R + ranges - 1) / ranges;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t p = 0; p < panels; p++)
        pack_panel_i8(X, ldx, C, BC, N, p, Xp + p * panel_size);
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) collapse(2) schedule(dynamic, 1)
#endif
    for (int64_t p = 0; p < panels; p++)
        for (int64_t q = 0; q < ranges; q++) {
            int64_t r0 = q * per, r1 = r0 + per < R ? r0 + per : R;
            if (r0 >= r1) continue;
            const int16_t *panel = Xp + p * panel_size;
            int64_t n0 = p * NP, width = N - n0 < NP ? N - n0 : NP;
            int64_t *cursor = (int64_t *)malloc((size_t)(r1 - r0) * sizeof(int64_t));
            if (!cursor) { failed = 1; continue; }
            for (int64_t r = r0; r < r1; r++) {
                cursor[r - r0] = row_ptr[r];
                zero_rows(Y, sizeof(int32_t), r * BO, BO, ldy, n0, width);
            }
            int32_t acc[4][SW];
            for (int64_t c0 = 0; c0 < C; c0 += kc)
                for (int64_t r = r0; r < r1; r++) {
                    int64_t j0 = cursor[r - r0];
                    int64_t j1 = take_chunk(&cursor[r - r0], row_ptr[r + 1], col_idx, c0 + kc);
                    if (j0 == j1) continue;
                    for (int g = 0; g < BO; g += 4) {
                        int rb = BO - g < 4 ? BO - g : 4;
                        for (int s = 0; s < width; s += SW) {
#ifdef BSR_X86
                            int32_t *y = Y + (r * BO + g) * ldy + n0 + s;
                            if (avx2 && width - s >= SW) {
                                strip_i8_avx2(w16, col_idx, j0, j1, BO, BCe, g, rb, panel, s,
                                              acc, y, ldy);
                                continue;
                            }
                            if (avx2)
                                strip_i8_avx2(w16, col_idx, j0, j1, BO, BCe, g, rb, panel, s,
                                              acc, NULL, 0);
                            else
#endif
                                strip_i8_plain(w16, col_idx, j0, j1, BO, BCe, g, rb, panel, s,
                                               acc);
                            int cols = width - s < SW ? (int)(width - s) : SW;
                            for (int i = 0; i < rb; i++) {
                                int32_t *yi = Y + (r * BO + g + i) * ldy + n0 + s;
                                for (int v = 0; v < cols; v++) yi[v] += acc[i][v];
                            }
                        }
                    }
                }
            free(cursor);
        }
    (void)avx2;
    free(Xp);
    free(w16);
    return failed ? -1 : 0;
}

/* 1 when the AVX2 micro-kernels run, 0 for the plain C loops. */
int bsr_simd(void) { return have_avx2(); }
