/* The engine's compiled pass (res-1 and res-2 with ReLU, tanh, leaky ReLU of a positive slope or the
   identity; res-3), compiled on first use by reslimit/native.py.

   For states as columns x (d rows, one column per input) and the weights V_k (d x M), W_k (M x d), row-major,
   with sigma' read from the kept output g_k (ReLU: 1[g > 0]; tanh: 1 - g^2; leaky ReLU: 1 where g > 0,
   else the slope; identity: 1):

       res-2, res-3 (g = sigma(W h))
       forward   g_k = sigma(W_k x_k),                    x_{k+1} = x_k + alpha V_k g_k
       adjoint   q_k = sigma'(g_k) * (V_k^T p_{k+1}),     p_k = p_{k+1} + alpha W_k^T q_k
       weights   dV_k += (alpha p_{k+1}) g_k^T,          dW_k += (alpha q_k) x_k^T   (summed over the columns)

       res-1 (g = sigma(h), no W: W is NULL)
       forward   g_k = sigma(x_k),                        x_{k+1} = x_k + alpha V_k g_k
       adjoint   q_k = sigma'(g_k) * (V_k^T p_{k+1}),     p_k = p_{k+1} + alpha q_k
       weights   dV_k += (alpha p_{k+1}) g_k^T

   One call runs a range of units, a unit being one ensemble member's block of NB columns, through all
   L layers (and back), so a thread never waits for another: the units are independent. Each product is
   computed in register tiles of RB rows x CB columns, its elementwise step (sigma, sigma', update) fused
   into the tile's store, while the next layer's weights are prefetched, a few cache lines per tile (res-1's
   sigma(x_k) and p_k += alpha q_k are passes of their own over the unit's d x NB numbers, hot in L1).
   tanh is computed on whole vectors (tanh_vec: Cephes' rational approximations, with a vector exp).
   The forward keeps g_k in a cache for the adjoint: when p_L is known beforehand, one unit's (L x M x NB,
   reused for every unit, so it is read back from cache, not memory); else every unit's. For the weights'
   gradients of res-2 and res-3 it keeps x_k beside g_k (the update writes x_{k+1} straight into the next
   layer's slot), and the adjoint adds each layer's outer products into dV, dW as it passes (the products of
   the update and of the gradient share the layer's operands while they are hot). Those are GEMMs too,
   register-tiled on dV's, dW's rows: p_{k+1} (alpha g_k)^T and q_k (alpha x_k)^T, the second operand scaled
   and transposed (NB x d) in registers, VEC x VEC numbers at a time, so that dV's rows are vectors as the
   states' are.

   Compile-time: T (float or double). Runtime: L, E, D (= d), M (the hidden width: V_k is D x M, W_k M x D; M = D
   for res-1), N (the states' row stride), NB, the activation
   (enum activation) and the leaky ReLU's slope. */

#include <stddef.h>
#include <string.h>

typedef T vec __attribute__((vector_size(32), aligned(sizeof(T))));
typedef __typeof__((vec){0} <= (vec){0}) mask; /* integers of T's size: -1 where a comparison holds */
#define VEC ((int)(32 / sizeof(T))) /* elements per vector */
#define RB 5                        /* rows per register tile */
#define CV 2                        /* vectors per tile row */
#define CB (CV * VEC)               /* columns per tile; N and NB are multiples of it */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define BYTES_float 4
#define BYTES_double 8

/* ACT: out = sigma(A B); ADD: out += alpha A B; DERIV: out = sigma'(aux) * A B; STEP: out = src + alpha A B */
enum epilogue { ACT, ADD, DERIV, STEP };
enum activation { RELU, TANH, LEAKY, IDENTITY }; /* as native.py's _ACTIVATIONS numbers them */

/* CB, for the caller: the batch is padded to a multiple of it. */
int reslimit_tile_columns(void) { return CB; }

/* a in every element (a - 0, not 0 + a: -0.0 stays -0.0) */
static inline __attribute__((always_inline)) vec broadcast(T a) { return a - (vec){0}; }

/* a where m (all ones), else b: bit masks on whole vectors, no branch per element */
static inline __attribute__((always_inline)) vec select(mask m, vec a, vec b) {
    return (vec)((m & (mask)a) | (~m & (mask)b));
}

#define SIGN ((mask)broadcast((T)-0.0)) /* the sign bit alone */
#if CAT(BYTES_, T) == 4
#define MANTISSA 23
#define BIAS 127
#define MAGIC 12582912.0f /* 1.5 2^23: adding it rounds to an integer, in the low bits */
#define TANH_ONE 20.0f    /* tanh(x) rounds to +-1 beyond (2 / (e^40 + 1) < 2^-60) */
#else
#define MANTISSA 52
#define BIAS 1023
#define MAGIC 6755399441055744.0 /* 1.5 2^52 */
#define TANH_ONE 40.0
#endif

/* exp(y) for y in [1, 2 TANH_ONE] (no overflow, no subnormal): y = n ln 2 + r, |r| <= ln 2 / 2, exp(r) by
   Cephes' expf polynomial (float) or exp's Pade form (double), times 2^n built in the exponent's bits. */
static inline __attribute__((always_inline)) vec exp_vec(vec y) {
    const vec t = y * (T)1.44269504088896340736 + (T)MAGIC; /* n = round(y / ln 2), in t's low bits */
    const vec n = t - (T)MAGIC;
    const vec scale = (vec)((((mask)t - (mask)broadcast((T)MAGIC)) + BIAS) << MANTISSA); /* 2^n */
#if CAT(BYTES_, T) == 4
    const vec r = (y - n * 0.693359375f) - n * -2.12194440e-4f, z = r * r;
    const vec e = (((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r + 4.1665795894E-2f) * r +
                    1.6666665459E-1f) * r + 5.0000001201E-1f) * z + r + 1.0f;
#else
    const vec r = (y - n * 6.93145751953125E-1) - n * 1.42860682030941723212E-6, z = r * r;
    const vec px = r * ((1.26177193074810590878E-4 * z + 3.02994407707441961300E-2) * z + 9.99999999999999999910E-1);
    const vec qx = ((3.00198505138664455042E-6 * z + 2.52448340349684104192E-3) * z + 2.27265548208155028766E-1) * z +
                   2.00000000000000000009E0;
    const vec e = 1.0 + 2.0 * (px / (qx - px));
#endif
    return e * scale;
}

/* tanh on a vector, as Cephes' tanh, tanhf: x + x^3 P(x^2) (/ Q(x^2) in double) for |x| < 0.625, else
   sign(x) (1 - 2 / (exp(2|x|) + 1)), |x| capped at TANH_ONE (+-inf gives +-1); NaN stays NaN (the cap and
   every step after let it through). Within a few ulps of torch.tanh. */
static inline __attribute__((always_inline)) vec tanh_vec(vec x) {
    const vec a = (vec)((mask)x & ~SIGN), z = x * x;
    const vec capped = select(a > (T)TANH_ONE, broadcast((T)TANH_ONE), a); /* NaN > cap is false: NaN kept */
    const vec big = (vec)((mask)((T)1 - (T)2 / (exp_vec(capped + capped) + (T)1)) | ((mask)x & SIGN));
#if CAT(BYTES_, T) == 4
    const vec small = x + x * z * ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z +
                                    1.33314422036E-1f) * z - 3.33332819422E-1f);
#else
    const vec p = (-9.64399179425052238628E-1 * z - 9.92877231001918586564E1) * z - 1.61468768441708447952E3;
    const vec q = ((z + 1.12811678491632931402E2) * z + 2.23548839060100448583E3) * z + 4.84406305325125486048E3;
    const vec small = x + x * (z * (p / q));
#endif
    return select(a < (T)0.625, small, big);
}

/* sigma(v), as torch computes it: ReLU keeps v where !(v <= 0) (NaN passes, as in torch.relu); leaky ReLU
   is v where v > 0, else slope v (NaN: slope NaN = NaN), as torch.nn.functional.leaky_relu. */
static inline __attribute__((always_inline)) vec activate(vec v, enum activation act, T slope) {
    if (act == RELU) return (vec)((mask)v & ~(v <= 0));
    if (act == TANH) return tanh_vec(v);
    if (act == LEAKY) return select(v > 0, v, slope * v);
    return v;
}

/* sigma' * v, sigma' read from sigma's output g, as torch's backward kernels: threshold_backward (zero where
   g <= 0), tanh_backward (v (1 - g^2)), leaky_relu_backward (v where g > 0, else slope v). */
static inline __attribute__((always_inline)) vec derivative(vec g, vec v, enum activation act, T slope) {
    if (act == RELU) return (vec)((mask)v & ~(g <= 0));
    if (act == TANH) return v * ((T)1 - g * g);
    if (act == LEAKY) return select(g > 0, v, v * slope);
    return v;
}

/* Rows i0 .. i0 + rb of A B over K inner terms (A(i, k) = A[i lda + k], or A[k lda + i] when trans) on columns
   c0 .. c0 + CB,
   then out = sigma(A B), out += alpha * A B, out = sigma'(aux) * A B, for out and aux of row stride ldo, or
   out = src + alpha * A B, for src of row stride lds (alpha: aux, per column). */
static inline __attribute__((always_inline)) void block(int K, int lda, const T *restrict A, int trans,
                                                        const T *restrict B,
                                                        int ldb, int i0, int rb, int c0, enum epilogue mode,
                                                        T *restrict out, int ldo, const T *restrict aux,
                                                        const T *restrict src, int lds, const char *pf, int npf,
                                                        const char *pf2, int npf2, enum activation act, T slope) {
    vec acc[RB][CV];
#pragma GCC unroll 8
    for (int r = 0; r < rb; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CV; c++) acc[r][c] = (vec){0};
#pragma GCC unroll 1
    for (int k = 0; k < K; k++) {
        if (k < npf) __builtin_prefetch(pf + 64 * k);
        if (k < npf2) __builtin_prefetch(pf2 + 64 * k);
        vec b[CV];
#pragma GCC unroll 4
        for (int c = 0; c < CV; c++) b[c] = *(const vec *)(B + (size_t)k * ldb + c0 + c * VEC);
#pragma GCC unroll 8
        for (int r = 0; r < rb; r++) {
            const T a = trans ? A[(size_t)k * lda + i0 + r] : A[(size_t)(i0 + r) * lda + k];
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
            if (mode == ACT)
                *y = activate(v, act, slope);
            else if (mode == ADD)
                *y += *(const vec *)(aux + c0 + c * VEC) * v;
            else if (mode == STEP)
                *y = *(const vec *)(src + (size_t)(i0 + r) * lds + c0 + c * VEC) + *(const vec *)(aux + c0 + c * VEC) * v;
            else
                *y = derivative(*(const vec *)(aux + (size_t)(i0 + r) * ldo + c0 + c * VEC), v, act, slope);
        }
    }
}

/* A B over NB columns, R rows of K inner terms (A's row stride lda), with the epilogue ``mode``, prefetching
   ``bytes`` from ``pf`` and ``bytes2`` from ``pf2``, a few cache lines per tile. */
static inline __attribute__((always_inline)) void gemm(int R, int K, int lda, int NB, const T *A, int trans,
                                                       const T *B, int ldb,
                                                       enum epilogue mode, T *out, int ldo, const T *aux,
                                                       const T *src, int lds, const void *pf, size_t bytes,
                                                       const void *pf2, size_t bytes2, enum activation act,
                                                       T slope) {
    const size_t tiles = (size_t)(R / RB + R % RB) * (NB / CB);
    const int n = (int)((bytes + 64 * tiles - 1) / (64 * tiles)), n2 = (int)((bytes2 + 64 * tiles - 1) / (64 * tiles));
    const char *f = pf, *f2 = pf2;
    for (int c0 = 0; c0 < NB; c0 += CB) {
        int i0 = 0;
        for (; i0 + RB <= R; i0 += RB, f += 64 * n, f2 += 64 * n2)
            block(K, lda, A, trans, B, ldb, i0, RB, c0, mode, out, ldo, aux, src, lds, f, n, f2, n2, act, slope);
        for (; i0 < R; i0++, f += 64 * n, f2 += 64 * n2)
            block(K, lda, A, trans, B, ldb, i0, 1, c0, mode, out, ldo, aux, src, lds, f, n, f2, n2, act, slope);
    }
}

#define OR 6 /* rows of an outer product's tile */
#define OV 2 /* vectors per row of it: 12 accumulators, 2 vectors of B and one broadcast of A in registers */

typedef T uvec __attribute__((vector_size(32), aligned(sizeof(T)))); /* unaligned: out's rows are C apart */

/* Rows i0 .. i0 + ib, columns j0 .. j0 + jv VEC (the last vector cut at C, out's columns) of out = [out +] A B^T
   over NB columns, from A(i, c) = A[i lda + c] and B^T as BT(c, j) = BT[c DP + j]: a register tile like block's. */
static inline __attribute__((always_inline)) void outer_tile(int C, int DP, int NB, const T *restrict A, int lda,
                                                             const T *restrict BT, int i0, int ib, int j0, int jv,
                                                             int add, T *restrict out) {
    vec acc[OR][OV];
#pragma GCC unroll 8
    for (int r = 0; r < ib; r++)
#pragma GCC unroll 4
        for (int j = 0; j < jv; j++) acc[r][j] = (vec){0};
#pragma GCC unroll 1
    for (int c = 0; c < NB; c++) {
        vec b[OV];
#pragma GCC unroll 4
        for (int j = 0; j < jv; j++) b[j] = *(const vec *)(BT + (size_t)c * DP + j0 + j * VEC);
#pragma GCC unroll 8
        for (int r = 0; r < ib; r++) {
            const T a = A[(size_t)(i0 + r) * lda + c];
#pragma GCC unroll 4
            for (int j = 0; j < jv; j++) acc[r][j] += a * b[j];
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < ib; r++)
#pragma GCC unroll 4
        for (int j = 0; j < jv; j++) {
            T *o = out + (size_t)(i0 + r) * C + j0 + j * VEC;
            if (j0 + (j + 1) * VEC <= C)
                *(uvec *)o = add ? *(uvec *)o + acc[r][j] : acc[r][j];
            else /* the row's last, partial vector */
                for (int v = 0; v < C - j0 - j * VEC; v++) o[v] = add ? o[v] + acc[r][j][v] : acc[r][j][v];
        }
}

/* out = [out +] A B^T (R x C, row-major) for A of R rows (row stride lda) and NB columns, B^T as BT (NB rows of
   stride DP, C columns used): full tiles specialised, the edges general. */
static void outer(int R, int C, int DP, int NB, const T *A, int lda, const T *BT, int add, T *out) {
    for (int j0 = 0; j0 < C; j0 += OV * VEC) {
        const int jv = C - j0 >= OV * VEC ? OV : (C - j0 + VEC - 1) / VEC;
        int i0 = 0;
        if (jv == OV)
            for (; i0 + OR <= R; i0 += OR) outer_tile(C, DP, NB, A, lda, BT, i0, OR, j0, OV, add, out);
        for (; i0 < R; i0 += OR)
            outer_tile(C, DP, NB, A, lda, BT, i0, R - i0 < OR ? R - i0 : OR, j0, jv, add, out);
    }
}

/* r[j] <- column j of the VEC x VEC block whose rows are r[0], ..., r[VEC - 1] (unpacks, then swaps of pairs,
   then of halves: 24 shuffles for float, 8 for double). */
static inline __attribute__((always_inline)) void transpose(vec r[VEC]) {
#if CAT(BYTES_, T) == 4
    typedef int index __attribute__((vector_size(32)));
    vec t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shuffle(r[i], r[i + 1], (index){0, 8, 1, 9, 4, 12, 5, 13});
        t[i + 1] = __builtin_shuffle(r[i], r[i + 1], (index){2, 10, 3, 11, 6, 14, 7, 15});
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = __builtin_shuffle(t[i + h], t[i + h + 2], (index){0, 1, 8, 9, 4, 5, 12, 13});
            u[i + 2 * h + 1] = __builtin_shuffle(t[i + h], t[i + h + 2], (index){2, 3, 10, 11, 6, 7, 14, 15});
        }
    for (int j = 0; j < 4; j++) {
        r[j] = __builtin_shuffle(u[j], u[j + 4], (index){0, 1, 2, 3, 8, 9, 10, 11});
        r[j + 4] = __builtin_shuffle(u[j], u[j + 4], (index){4, 5, 6, 7, 12, 13, 14, 15});
    }
#else
    typedef long long index __attribute__((vector_size(32)));
    vec t[4];
    for (int i = 0; i < 4; i += 2) {
        t[i] = __builtin_shuffle(r[i], r[i + 1], (index){0, 4, 2, 6});
        t[i + 1] = __builtin_shuffle(r[i], r[i + 1], (index){1, 5, 3, 7});
    }
    for (int j = 0; j < 2; j++) {
        r[j] = __builtin_shuffle(t[j], t[j + 2], (index){0, 1, 4, 5});
        r[j + 2] = __builtin_shuffle(t[j], t[j + 2], (index){2, 3, 6, 7});
    }
#endif
}

/* out(c, i) = s(c) A(i, c) for the D rows (row stride lda) and NB columns of A: out NB x DP (row stride DP);
   whole VEC x VEC blocks transposed in registers, the last D % VEC rows one number at a time. */
static void scale_transpose(int D, int DP, int NB, const T *restrict A, int lda, const T *restrict s,
                            T *restrict out) {
    const int DV = D / VEC * VEC;
    for (int c0 = 0; c0 < NB; c0 += VEC) {
        for (int i0 = 0; i0 < DV; i0 += VEC) {
            vec r[VEC];
#pragma GCC unroll 8
            for (int j = 0; j < VEC; j++) r[j] = *(const uvec *)(A + (size_t)(i0 + j) * lda + c0);
            transpose(r);
#pragma GCC unroll 8
            for (int j = 0; j < VEC; j++) *(uvec *)(out + (size_t)(c0 + j) * DP + i0) = s[c0 + j] * r[j];
        }
        for (int i = DV; i < D; i++)
#pragma GCC unroll 8
            for (int c = c0; c < c0 + VEC; c++) out[(size_t)c * DP + i] = s[c] * A[(size_t)i * lda + c];
    }
}

static void copy_block(T *dst, int N, const T *src, int lds, int D, int NB) {
    for (int i = 0; i < D; i++) memcpy(dst + (size_t)i * N, src + (size_t)i * lds, NB * sizeof(T));
}

/* res-1's forward step: g = sigma(x) on D rows (g's row stride NB, x's ldx) of NB columns. */
static void activate_block(int D, int NB, const T *restrict x, int ldx, T *restrict g, enum activation act,
                           T slope) {
    for (int i = 0; i < D; i++)
        for (int c = 0; c < NB; c += VEC)
            *(vec *)(g + (size_t)i * NB + c) = activate(*(const vec *)(x + (size_t)i * ldx + c), act, slope);
}

/* res-1's adjoint step: p += alpha q on D rows (p's row stride N, q's NB) of NB columns, alpha per column. */
static void update_block(int D, int NB, T *restrict p, int N, const T *restrict q, const T *restrict alpha) {
    for (int i = 0; i < D; i++)
        for (int c = 0; c < NB; c += VEC)
            *(vec *)(p + (size_t)i * N + c) += *(const vec *)(alpha + c) * *(const vec *)(q + (size_t)i * NB + c);
}

/* One thread's work: units u0 .. u1 of E * (N / NB): unit u is member e = u / (N / NB) on columns c0 = (u % (N / NB)) NB.
   V: (L, E, D, M), W: (L, E, M, D), M the hidden width (M = D for res-1); W NULL for res-1. x, p: (E, D, N). With
   ``forward``, x is run to x_L, keeping g_k (M x NB) in the unit's cache (at cache + (u - u0) unit_cache, L M NB)
   when cache is not NULL; with p, p is run back to p_0 from that cache. alpha: per column, member e's at
   alpha + e * alpha_e. scratch: M NB + NB DP, DP = max(D, M) rounded up to a whole vector (q_k, then
   (alpha g_k)^T or (alpha x_k)^T for the weights' gradients).
   xrec, prec (NULL: not recorded): (T, E, D, N); x_k goes to index k / every where every divides k, and
   to ``last`` for k = L; p_k to index k / every where every divides k.
   per_layer: what the cache keeps per layer, 1 (g_k: M rows) or 2 (g_k, then x_k: M + D rows; running forward
   keeps x_k; res-2 and res-3 only).
   dV (NULL: no weights' gradients), dW (NULL for res-1, else set with dV and per_layer = 2): (L, ES, D, M) and
   (L, ES, M, D)
   from member e0 on, written by the range's first unit of each member (no zeroing needed), added to by its
   others. act, slope: sigma. inner: W is given (res-2, res-3), else NULL (res-1). Inlined into one copy per
   activation for res-2 and res-3 and one for res-1 (PASS_FOR), act and inner constants in each. */
static inline __attribute__((always_inline)) void run_pass(int u0, int u1, int L, int E, int D, int M, int N, int NB,
                     const T *V, const T *W, T *x, T *p,
                     int forward, T *cache, size_t unit_cache, T *scratch, const T *alpha, int alpha_e, T *xrec,
                     T *prec, int every, int last, int per_layer, T *dV, T *dW, int e0, int ES,
                     enum activation act, T slope, int inner) {
    const size_t ws = (size_t)E * D * M, wbytes = (size_t)D * M * sizeof(T);
    const size_t rs = (size_t)E * D * N, gs = (size_t)ES * D * M, ls = (size_t)(M + D * (per_layer - 1)) * NB;
    const int DP = ((D > M ? D : M) + VEC - 1) / VEC * VEC; /* the row stride of the transposed operands */
    for (int u = u0; u < u1; u++) {
        const int e = u / (N / NB), c0 = (u % (N / NB)) * NB, first = u == u0 || c0 == 0;
        const size_t off = (size_t)e * D * N + c0;
        const T *Ve = V + (size_t)e * D * M, *We = inner ? W + (size_t)e * D * M : NULL;
        const T *al = alpha + (size_t)e * alpha_e + c0;
        T *xu = x + off, *cu = cache ? cache + (u - u0) * unit_cache : NULL;
        const int keep = forward && cu && per_layer == 2; /* x_k kept in the cache, slot k's D rows after g_k's M */
        T *xk = xu;
        int ldx = N;
        if (keep) {
            copy_block(cu + (size_t)M * NB, NB, xu, N, D, NB);
            xk = cu + (size_t)M * NB, ldx = NB;
        }
        for (int k = 0; forward && k < L; k++) {
            const T *Vk = Ve + k * ws;
            const size_t step = k + 1 < L ? ws : 0, next = step ? wbytes : 0; /* prefetch layer k + 1 */
            T *g = cu ? cu + (size_t)k * ls : scratch;
            if (inner)
                gemm(M, D, D, NB, We + k * ws, 0, xk, ldx, ACT, g, NB, NULL, NULL, 0, We + k * ws + step, next, NULL,
                     0, act, slope);
            else
                activate_block(D, NB, xk, ldx, g, act, slope);
            if (keep) { /* x_{k+1} = x_k + alpha V_k g_k into the cache's next slot (x_L into x), x_k staying */
                T *out = k + 1 < L ? g + ls + (size_t)M * NB : xu;
                const int ldo = k + 1 < L ? NB : N;
                gemm(D, M, M, NB, Vk, 0, g, NB, STEP, out, ldo, al, xk, ldx, Vk + step, next, NULL, 0, act, slope);
                xk = out, ldx = ldo;
            } else
                gemm(D, M, M, NB, Vk, 0, g, NB, ADD, xu, N, al, NULL, 0, Vk + step, next, NULL, 0, act, slope);
            if (xrec && ((k + 1) % every == 0 || k + 1 == L))
                copy_block(xrec + rs * ((k + 1) % every == 0 ? (k + 1) / every : last) + off, N, xk, ldx, D, NB);
        }
        T *pu = p ? p + off : NULL;
        for (int k = L - 1; pu && k >= 0; k--) {
            const T *Vk = Ve + k * ws, *g = cu + (size_t)k * ls;
            const size_t step = k ? ws : 0, prev = k ? wbytes : 0; /* prefetch layer k - 1 */
            const size_t grad = (size_t)k * gs + (size_t)(e - e0) * D * M;
            T *scaled = scratch + (size_t)M * NB;
            if (dV) {
                scale_transpose(M, DP, NB, g, NB, al, scaled);
                outer(D, M, DP, NB, pu, N, scaled, !first, dV + grad);
            }
            gemm(M, D, M, NB, Vk, 1, pu, N, DERIV, scratch, NB, g, NULL, 0, Vk - step, prev, g - (k ? ls : 0),
                 k ? ls * sizeof(T) : 0, act, slope);
            if (dW) {
                scale_transpose(D, DP, NB, g + (size_t)M * NB, NB, al, scaled);
                outer(M, D, DP, NB, scratch, NB, scaled, !first, dW + grad);
            }
            if (inner) {
                const T *Wk = We + k * ws;
                gemm(D, M, D, NB, Wk, 1, scratch, NB, ADD, pu, N, al, NULL, 0, Wk - step, prev, NULL, 0, act, slope);
            } else
                update_block(D, NB, pu, N, scratch, al);
            if (prec && k % every == 0)
                copy_block(prec + rs * (k / every) + off, N, pu, N, D, NB);
        }
    }
}

/* run_pass compiled for each activation of res-2 and res-3 (act and inner constants in each copy, so that ReLU's
   pass is the code it was before the other activations and res-1 existed: with a branch on either left in, the
   res-3 pass ran 4-7% slower), and once for res-1 (act a variable: its products have no sigma in their stores). */
#define PASS_FOR(name, ACTIVATION, INNER)                                                                             \
    static void name(int u0, int u1, int L, int E, int D, int M, int N, int NB, const T *V, const T *W, T *x, T *p, \
                     int forward, T *cache, size_t unit_cache, T *scratch, const T *alpha, int alpha_e, T *xrec,   \
                     T *prec, int every, int last, int per_layer, T *dV, T *dW, int e0, int ES,                    \
                     enum activation act, T slope) {                                                               \
        (void)act;                                                                                                 \
        run_pass(u0, u1, L, E, D, M, N, NB, V, W, x, p, forward, cache, unit_cache, scratch, alpha, alpha_e, xrec,\
                 prec, every, last, per_layer, dV, dW, e0, ES, ACTIVATION, slope, INNER);                         \
    }
PASS_FOR(pass_relu, RELU, 1)
PASS_FOR(pass_tanh, TANH, 1)
PASS_FOR(pass_leaky, LEAKY, 1)
PASS_FOR(pass_identity, IDENTITY, 1)
PASS_FOR(pass_res1, act, 0)

/* 1 when built with OpenMP: reslimit_pass_threads then runs its threads in one parallel region. */
int reslimit_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Threads t0 .. t1 - 1 of the pass, thread t running units ranges[2t] .. ranges[2t + 1] with its buffer
   buffers[t] (its cache, cache_size numbers when cache_size > 0, then its scratch) and, for the weights'
   gradients, dV[t], dW[t] from member e0[t] on, ES[t] members (see run_pass for the rest; act is an enum
   activation, slope the leaky ReLU's). Built with OpenMP (reslimit_openmp), they run in one parallel region
   on the OpenMP threads torch's own operations use (the same libgomp, loaded once): those threads are awake,
   spinning after torch's last operation, where threads of our own would have to share the cores with them
   while they spin. */
void reslimit_pass_threads(int t0, int t1, const int *ranges, T *const *buffers, size_t cache_size, T *const *dV,
                           T *const *dW, const int *e0, const int *ES, int L, int E, int D, int M, int N, int NB,
                           const T *V, const T *W, T *x, T *p, int forward, size_t unit_cache, const T *alpha,
                           int alpha_e, T *xrec, T *prec, int every, int last, int per_layer, int act,
                           double slope) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(t1 - t0) schedule(static, 1) if (t1 - t0 > 1)
#endif
    for (int t = t0; t < t1; t++)
        (!W ? pass_res1 : act == TANH ? pass_tanh : act == LEAKY ? pass_leaky : act == IDENTITY ? pass_identity
                                                                                              : pass_relu)(
            ranges[2 * t], ranges[2 * t + 1], L, E, D, M, N, NB, V, W, x, p, forward, cache_size ? buffers[t] : NULL,
            unit_cache, buffers[t] + cache_size, alpha, alpha_e, xrec, prec, every, last, per_layer, dV[t], dW[t],
            e0[t], ES[t], (enum activation)act, (T)slope);
}

/* One Adam step on a parameter whose numbers are laid out as (outer, members, inner), member e stepping with
   rate[e] = lr_e / (1 - b1^t), c2 = sqrt(1 - b2^t):

       m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2,   p -= rate[e] m / (sqrt(v) / c2 + eps)

   each number of p, g, m, v read once and p, m, v written once (torch's elementwise operations take a pass each:
   reslimit/batched.py's optimizer, which falls back to them where this library is not served). */
void reslimit_adam(size_t outer, size_t members, size_t inner, T *restrict p, const T *restrict g, T *restrict m,
                   T *restrict v, const T *restrict rate, double b1, double b2, double c2, double eps) {
    const T B1 = (T)b1, B2 = (T)b2, C1 = (T)(1.0 - b1), C2 = (T)(1.0 - b2), S = (T)c2, EPS = (T)eps;
    const long rows = (long)(outer * members);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (outer * members * inner > 65536)
#endif
    for (long row = 0; row < rows; row++) {
        const T r = rate[row % (long)members];
        const size_t base = (size_t)row * inner;
        for (size_t i = base; i < base + inner; i++) {
            const T gi = g[i], mi = B1 * m[i] + C1 * gi, vi = B2 * v[i] + C2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] -= r * (mi / (__builtin_sqrt(vi) / S + EPS));
        }
    }
}
