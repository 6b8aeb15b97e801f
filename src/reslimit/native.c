/* The engine's ReLU pass (res-2 with ReLU, res-3), compiled on first use by reslimit/native.py.

   For states as columns x (d rows, one column per input) and the weights V_k, W_k (d x d, row-major):

       forward   g_k = ReLU(W_k x_k),                     x_{k+1} = x_k + alpha V_k g_k
       adjoint   q_k = 1[g_k > 0] * (V_k^T p_{k+1}),     p_k = p_{k+1} + alpha W_k^T q_k
       weights   dV_k += (alpha p_{k+1}) g_k^T,          dW_k += (alpha q_k) x_k^T   (summed over the columns)

   One call runs a range of units, a unit being one ensemble member's block of NB columns, through all
   L layers (and back), so a thread never waits for another: the units are independent. Each product is
   computed in register tiles of RB rows x CB columns, its elementwise step (ReLU, mask, update) fused
   into the tile's store, while the next layer's weights are prefetched, a few cache lines per tile.
   The forward keeps g_k in a cache for the adjoint: when p_L is known beforehand, one unit's (L x d x NB,
   reused for every unit, so it is read back from cache, not memory); else every unit's. For the weights'
   gradients it keeps x_k beside g_k, and the adjoint adds each layer's outer products into dV, dW as it
   passes (the products of the update and of the gradient share the layer's operands while they are hot).

   Compile-time: T (float or double). Runtime: L, E, D (= d), N (the states' row stride), NB. */

#include <stddef.h>
#include <string.h>

typedef T vec __attribute__((vector_size(32), aligned(sizeof(T))));
typedef __typeof__((vec){0} <= (vec){0}) mask; /* integers of T's size: -1 where a comparison holds */
#define VEC ((int)(32 / sizeof(T))) /* elements per vector */
#define RB 5                        /* rows per register tile */
#define CV 2                        /* vectors per tile row */
#define CB (CV * VEC)               /* columns per tile; N and NB are multiples of it */

enum epilogue { RELU, ADD, MASK };

/* CB, for the caller: the batch is padded to a multiple of it. */
int reslimit_tile_columns(void) { return CB; }

/* Rows i0 .. i0 + rb of A B (A(i, k) = A[i D + k], or A[k D + i] when trans) on columns c0 .. c0 + CB,
   then out = ReLU(A B), out += alpha * A B, or out = 1[aux > 0] * A B, for out and aux of row stride ldo. */
static inline __attribute__((always_inline)) void block(int D, const T *restrict A, int trans, const T *restrict B,
                                                        int ldb, int i0, int rb, int c0, enum epilogue mode,
                                                        T *restrict out, int ldo, const T *restrict aux,
                                                        const char *pf, int npf, const char *pf2, int npf2) {
    vec acc[RB][CV];
#pragma GCC unroll 8
    for (int r = 0; r < rb; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CV; c++) acc[r][c] = (vec){0};
#pragma GCC unroll 1
    for (int k = 0; k < D; k++) {
        if (k < npf) __builtin_prefetch(pf + 64 * k);
        if (k < npf2) __builtin_prefetch(pf2 + 64 * k);
        vec b[CV];
#pragma GCC unroll 4
        for (int c = 0; c < CV; c++) b[c] = *(const vec *)(B + (size_t)k * ldb + c0 + c * VEC);
#pragma GCC unroll 8
        for (int r = 0; r < rb; r++) {
            const T a = trans ? A[(size_t)k * D + i0 + r] : A[(size_t)(i0 + r) * D + k];
#pragma GCC unroll 4
            for (int c = 0; c < CV; c++) acc[r][c] += a * b[c];
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rb; r++) {
        T *o = out + (size_t)(i0 + r) * ldo + c0;
#pragma GCC unroll 4
        for (int c = 0; c < CV; c++) {
            vec *y = (vec *)(o + c * VEC), v = acc[r][c];
            if (mode == RELU) /* keep v where !(v <= 0): NaN passes, as in torch.relu */
                *y = (vec)((mask)v & ~(v <= 0));
            else if (mode == ADD)
                *y += *(const vec *)(aux + c0 + c * VEC) * v;
            else /* as torch's threshold_backward: zero where the output g <= 0 */
                *y = (vec)((mask)v & ~(*(const vec *)(aux + (size_t)(i0 + r) * ldo + c0 + c * VEC) <= 0));
        }
    }
}

/* A B over NB columns with the epilogue ``mode``, prefetching ``bytes`` from ``pf`` and ``bytes2`` from ``pf2``,
   a few cache lines per tile. */
static inline __attribute__((always_inline)) void gemm(int D, int NB, const T *A, int trans, const T *B, int ldb,
                                                       enum epilogue mode, T *out, int ldo, const T *aux,
                                                       const void *pf, size_t bytes, const void *pf2, size_t bytes2) {
    const size_t tiles = (size_t)(D / RB + D % RB) * (NB / CB);
    const int n = (int)((bytes + 64 * tiles - 1) / (64 * tiles)), n2 = (int)((bytes2 + 64 * tiles - 1) / (64 * tiles));
    const char *f = pf, *f2 = pf2;
    for (int c0 = 0; c0 < NB; c0 += CB) {
        int i0 = 0;
        for (; i0 + RB <= D; i0 += RB, f += 64 * n, f2 += 64 * n2)
            block(D, A, trans, B, ldb, i0, RB, c0, mode, out, ldo, aux, f, n, f2, n2);
        for (; i0 < D; i0++, f += 64 * n, f2 += 64 * n2)
            block(D, A, trans, B, ldb, i0, 1, c0, mode, out, ldo, aux, f, n, f2, n2);
    }
}

#define OR 4 /* rows of A per tile of an outer product */
#define OC 3 /* rows of B: 12 vector accumulators, 3 rows of B and one of A in registers */

/* out(i, j) += sum_c A(i, c) B(j, c) on rows i0 .. i0 + ib, j0 .. j0 + jb, over NB columns (A, B of row stride
   NB; out row-major D x D): dot products of rows, OR x OC of them per tile. */
static inline __attribute__((always_inline)) void outer_tile(int D, int NB, const T *restrict A, const T *restrict B,
                                                             int i0, int ib, int j0, int jb, T *restrict out) {
    vec acc[OR][OC];
#pragma GCC unroll 4
    for (int r = 0; r < OR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < OC; j++) acc[r][j] = (vec){0};
#pragma GCC unroll 1
    for (int c = 0; c < NB; c += VEC) {
        vec b[OC];
#pragma GCC unroll 4
        for (int j = 0; j < jb; j++) b[j] = *(const vec *)(B + (size_t)(j0 + j) * NB + c);
#pragma GCC unroll 4
        for (int r = 0; r < ib; r++) {
            const vec a = *(const vec *)(A + (size_t)(i0 + r) * NB + c);
#pragma GCC unroll 4
            for (int j = 0; j < jb; j++) acc[r][j] += a * b[j];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < ib; r++)
#pragma GCC unroll 4
        for (int j = 0; j < jb; j++) {
            T t = 0;
#pragma GCC unroll 8
            for (int v = 0; v < VEC; v++) t += acc[r][j][v];
            out[(size_t)(i0 + r) * D + j0 + j] += t;
        }
}

/* out += A B^T for A, B of D rows and NB columns (row stride NB): the full tiles specialised, the edges general. */
static void outer(int D, int NB, const T *A, const T *B, T *out) {
    for (int i0 = 0; i0 < D; i0 += OR)
        for (int j0 = 0; j0 < D; j0 += OC) {
            if (i0 + OR <= D && j0 + OC <= D)
                outer_tile(D, NB, A, B, i0, OR, j0, OC, out);
            else
                outer_tile(D, NB, A, B, i0, D - i0 < OR ? D - i0 : OR, j0, D - j0 < OC ? D - j0 : OC, out);
        }
}

/* out = A diag(s): D rows of NB columns, A of row stride lda, out of row stride NB. */
static void scale_block(int D, int NB, const T *restrict A, int lda, const T *restrict s, T *restrict out) {
    for (int i = 0; i < D; i++)
        for (int c = 0; c < NB; c += VEC)
            *(vec *)(out + (size_t)i * NB + c) = *(const vec *)(A + (size_t)i * lda + c) * *(const vec *)(s + c);
}

static void copy_block(T *dst, const T *src, int D, int N, int NB) {
    for (int i = 0; i < D; i++) memcpy(dst + (size_t)i * N, src + (size_t)i * N, NB * sizeof(T));
}

/* Units u0 .. u1 of E * (N / NB): unit u is member e = u / (N / NB) on columns c0 = (u % (N / NB)) NB.
   V, W: (L, E, D, D). x, p: (E, D, N). With ``forward``, x is run to x_L, keeping g_k in the unit's cache
   (at cache + (u - u0) unit_cache, L D NB) when cache is not NULL; with p, p is run back to p_0 from that
   cache. alpha: per column, member e's at alpha + e * alpha_e. scratch: 2 D NB (q_k, and alpha p_{k+1} or
   alpha q_k for the weights' gradients).
   xrec, prec (NULL: not recorded): (T, E, D, N); x_k goes to index k / every where every divides k, and
   to ``last`` for k = L; p_k to index k / every where every divides k.
   per_layer: the cache's rows per layer and column, 1 (g_k) or 2 (g_k, then x_k: running forward keeps x_k).
   dV, dW (NULL: no weights' gradients, else per_layer = 2): (L, ES, D, D) from member e0 on, added to. */
void reslimit_relu_pass(int u0, int u1, int L, int E, int D, int N, int NB, const T *V, const T *W, T *x, T *p,
                        int forward, T *cache, size_t unit_cache, T *scratch, const T *alpha, int alpha_e, T *xrec,
                        T *prec, int every, int last, int per_layer, T *dV, T *dW, int e0, int ES) {
    const size_t ws = (size_t)E * D * D, wbytes = (size_t)D * D * sizeof(T), sbytes = (size_t)D * NB * sizeof(T);
    const size_t rs = (size_t)E * D * N, gs = (size_t)ES * D * D, ls = (size_t)D * NB * per_layer;
    for (int u = u0; u < u1; u++) {
        const int e = u / (N / NB), c0 = (u % (N / NB)) * NB;
        const size_t off = (size_t)e * D * N + c0;
        const T *Ve = V + (size_t)e * D * D, *We = W + (size_t)e * D * D, *al = alpha + (size_t)e * alpha_e + c0;
        T *xu = x + off, *cu = cache ? cache + (u - u0) * unit_cache : NULL;
        for (int k = 0; forward && k < L; k++) {
            const T *Wk = We + k * ws, *Vk = Ve + k * ws;
            const size_t step = k + 1 < L ? ws : 0, next = step ? wbytes : 0; /* prefetch layer k + 1 */
            T *g = cu ? cu + (size_t)k * ls : scratch;
            if (cu && per_layer == 2)
                for (int i = 0; i < D; i++) memcpy(g + (size_t)(D + i) * NB, xu + (size_t)i * N, NB * sizeof(T));
            gemm(D, NB, Wk, 0, xu, N, RELU, g, NB, NULL, Wk + step, next, NULL, 0);
            gemm(D, NB, Vk, 0, g, NB, ADD, xu, N, al, Vk + step, next, NULL, 0);
            if (xrec && ((k + 1) % every == 0 || k + 1 == L))
                copy_block(xrec + rs * ((k + 1) % every == 0 ? (k + 1) / every : last) + off, xu, D, N, NB);
        }
        T *pu = p ? p + off : NULL;
        for (int k = L - 1; pu && k >= 0; k--) {
            const T *Wk = We + k * ws, *Vk = Ve + k * ws, *g = cu + (size_t)k * ls;
            const size_t step = k ? ws : 0, prev = k ? wbytes : 0; /* prefetch layer k - 1 */
            const size_t grad = (size_t)k * gs + (size_t)(e - e0) * D * D;
            T *scaled = scratch + (size_t)D * NB;
            if (dV) {
                scale_block(D, NB, pu, N, al, scaled);
                outer(D, NB, scaled, g, dV + grad);
            }
            gemm(D, NB, Vk, 1, pu, N, MASK, scratch, NB, g, Vk - step, prev, g - (k ? ls : 0), k ? sbytes : 0);
            if (dV) {
                scale_block(D, NB, scratch, NB, al, scaled);
                outer(D, NB, scaled, g + (size_t)D * NB, dW + grad);
            }
            gemm(D, NB, Wk, 1, scratch, NB, ADD, pu, N, al, Wk - step, prev, NULL, 0);
            if (prec && k % every == 0)
                copy_block(prec + rs * (k / every) + off, pu, D, N, NB);
        }
    }
}
