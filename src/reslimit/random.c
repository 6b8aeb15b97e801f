/* Keyed random numbers: Philox4x32-10 (Salmon, Moraes, Dror and Shaw 2011) and its transforms to float32,
   compiled with native.c by reslimit/native.py. reslimit/_rng.py states the algorithm and computes the very
   same numbers with torch where this cannot be built: every float operation below is one of IEEE's, rounded
   to float32 one at a time, in the order written (no FMA contraction: the pragma; no -ffast-math).

   Number i of the draw keyed by `key` comes from counter j = i / 4 of the key (k0, k1) = (key mod 2^32,
   key / 2^32), the block (c0, c1, c2, c3) = (j mod 2^32, j / 2^32, 0, 0), whose 10 rounds give four words
   w0 .. w3; number i uses word i mod 4 (uniform, rademacher, bits) or the pair (w0, w1) for i mod 4 < 2 and
   (w2, w3) else (gaussian: cos, then sin). So a number does not depend on which others are drawn with it,
   nor on the order, the chunks or the threads. */

#pragma GCC optimize("fp-contract=off")

#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#ifdef __AVX2__
#include <immintrin.h>
#endif

#define VECS 4              /* vectors of 8 counters per batch: chains of operations in flight */
#define LANES (8 * VECS)    /* counters per batch */
#define BATCH (4 * LANES)   /* numbers per batch */

typedef uint32_t u32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef uint64_t u64x4 __attribute__((vector_size(32)));
typedef float f32x8 __attribute__((vector_size(32)));

enum law { BITS, GAUSSIAN, UNIFORM, RADEMACHER };

/* The 64-bit products M a of the even (*even) and odd (*odd) 32-bit lanes of a. */
static inline void products(u32x8 a, uint32_t m, u64x4 *even, u64x4 *odd) {
#ifdef __AVX2__ /* vpmuludq: GCC multiplies 64-bit lanes in full otherwise */
    *even = (u64x4)_mm256_mul_epu32((__m256i)a, _mm256_set1_epi64x(m));
    *odd = (u64x4)_mm256_mul_epu32((__m256i)((u64x4)a >> 32), _mm256_set1_epi64x(m));
#else
    *even = ((u64x4)a & 0xFFFFFFFFu) * m;
    *odd = ((u64x4)a >> 32) * m;
#endif
}

/* The words w[m][v] (lanes: counters j0 + 8 v .. j0 + 8 v + 7) of the key's counters j0 .. j0 + LANES - 1:
   Philox4x32-10's rounds (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)),
   the key bumped by (W0, W1) between rounds. */
static inline void philox(u32x8 w[4][VECS], uint64_t key, uint64_t j0) {
    const u32x8 ODD = {0, 9, 2, 11, 4, 13, 6, 15}; /* the even lanes of the first, the odd of the second */
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int v = 0; v < VECS; v++) {
        uint64_t c = j0 + 8 * (uint64_t)v; /* a batch never straddles 2^32 counters: LANES divides 2^32 */
        w[0][v] = (u32x8){0, 1, 2, 3, 4, 5, 6, 7} + (uint32_t)c;
        w[1][v] = (u32x8){0} + (uint32_t)(c >> 32);
        w[2][v] = (u32x8){0};
        w[3][v] = (u32x8){0};
    }
    for (int r = 0; r < 10; r++) {
        for (int v = 0; v < VECS; v++) {
            u64x4 e0, o0, e1, o1;
            products(w[0][v], 0xD2511F53u, &e0, &o0);
            products(w[2][v], 0xCD9E8D57u, &e1, &o1);
            u32x8 lo0 = __builtin_shuffle((u32x8)e0, (u32x8)(o0 << 32), ODD);
            u32x8 hi0 = __builtin_shuffle((u32x8)(e0 >> 32), (u32x8)o0, ODD);
            u32x8 lo1 = __builtin_shuffle((u32x8)e1, (u32x8)(o1 << 32), ODD);
            u32x8 hi1 = __builtin_shuffle((u32x8)(e1 >> 32), (u32x8)o1, ODD);
            w[0][v] = hi1 ^ w[1][v] ^ k0;
            w[1][v] = lo1;
            w[2][v] = hi0 ^ w[3][v] ^ k1;
            w[3][v] = lo0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

static inline f32x8 splat(float x) { return (f32x8){0} + x; }

/* Each step below runs on NP vectors one after the other: NP chains of dependent operations in flight. */
#define NP (2 * VECS)
#define EACH for (int p = 0; p < NP; p++)

/* l = log u for u in [2^-33, 1]: u = 2^e m, m in [sqrt(1/2), sqrt 2), x = m - 1,
   log u = (x + ((x P(x)) x^2 - 2.12194440e-4 e - x^2 / 2)) + 0.693359375 e (Cephes' logf, its P). */
static inline void log_unit(const f32x8 u[NP], f32x8 l[NP]) {
    f32x8 x[NP], z[NP], fe[NP], y[NP];
    EACH {
        i32x8 b = (i32x8)u[p], e = (b >> 23) - 127;
        f32x8 m = (f32x8)((b & 0x7FFFFF) | 0x3F800000); /* in [1, 2) */
        i32x8 big = m > splat(0x1.6a09e6p+0f);          /* above sqrt 2 as float32: halved */
        m = (f32x8)(((i32x8)m & ~big) | ((i32x8)(m * 0.5f) & big));
        x[p] = m - 1.0f;
        z[p] = x[p] * x[p];
        fe[p] = __builtin_convertvector(e - big, f32x8);
        y[p] = splat(0x1.204376p-4f);
    }
    static const float P[8] = {-0x1.d7a370p-4f, 0x1.de4a34p-4f, -0x1.fcba9ep-4f, 0x1.23d37ep-3f,
                               -0x1.555ca0p-3f, 0x1.999d58p-3f, -0x1.fffff8p-3f, 0x1.555554p-2f};
    for (int k = 0; k < 8; k++)
        EACH y[p] = y[p] * x[p] + P[k];
    EACH {
        f32x8 t = y[p] * x[p];
        t = t * z[p];
        t = t + fe[p] * -0x1.bd0106p-13f;
        t = t + z[p] * -0.5f;
        l[p] = (x[p] + t) + fe[p] * 0.693359375f;
    }
}

/* The Box-Muller pairs of the words (a, b): r = sqrt(-2 log u), u = 2^-32 a + 2^-33 (a rounded to float32,
   then each step), and the angle 2 pi b / 2^32 = (pi / 2)(q + f), q = (b + 2^29) / 2^30 mod 4 its nearest
   quarter turn, f = int32(4 b mod 2^32) 2^-32 in [-1/2, 1/2) the rest: sin(pi f / 2) = f S(f^2),
   cos(pi f / 2) = C(f^2), rotated by q quarter turns. (zc, zs) = r (cos, sin). */
static inline void box_muller(const u32x8 a[NP], const u32x8 b[NP], f32x8 zc[NP], f32x8 zs[NP]) {
    f32x8 u[NP], r[NP], f[NP], t[NP], s[NP], c[NP];
    EACH u[p] = __builtin_convertvector(a[p], f32x8) * 0x1p-32f + 0x1p-33f;
    log_unit(u, r);
    EACH {
        r[p] = r[p] * -2.0f;
#ifdef __AVX__
        r[p] = (f32x8)_mm256_sqrt_ps((__m256)r[p]);
#else
        for (int j = 0; j < 8; j++)
            r[p][j] = __builtin_sqrtf(r[p][j]);
#endif
        f[p] = __builtin_convertvector((i32x8)(b[p] << 2), f32x8) * 0x1p-32f;
        t[p] = f[p] * f[p];
        s[p] = splat(-0x1.2d930cp-8f);
        c[p] = splat(0x1.d99f54p-11f);
    }
    static const float S[3] = {0x1.465e92p-4f, -0x1.4abbbap-1f, 0x1.921fb6p+0f};
    static const float C[4] = {-0x1.55c4eap-6f, 0x1.03c1dap-2f, -0x1.3bd3ccp+0f, 1.0f};
    for (int k = 0; k < 4; k++)
        EACH {
            if (k < 3)
                s[p] = s[p] * t[p] + S[k];
            c[p] = c[p] * t[p] + C[k];
        }
    EACH {
        s[p] = s[p] * f[p];
        u32x8 q = (b[p] + 0x20000000u) >> 30, odd = -(q & 1); /* (c, s), (-s, c), (-c, -s), (s, -c) */
        u32x8 x = ((u32x8)s[p] & odd) | ((u32x8)c[p] & ~odd), y = ((u32x8)c[p] & odd) | ((u32x8)s[p] & ~odd);
        zc[p] = r[p] * (f32x8)(x ^ (((q + 1) & 2) << 30));
        zs[p] = r[p] * (f32x8)(y ^ ((q & 2) << 30));
    }
}

/* out[4 j + m] = the m-th of the four vectors' lane j, for j < 8: numbers in counter order. */
static inline void interleave(float *out, u32x8 z0, u32x8 z1, u32x8 z2, u32x8 z3) {
    u32x8 a = __builtin_shuffle(z0, z1, (u32x8){0, 8, 1, 9, 4, 12, 5, 13});
    u32x8 b = __builtin_shuffle(z2, z3, (u32x8){0, 8, 1, 9, 4, 12, 5, 13});
    u32x8 c = __builtin_shuffle(z0, z1, (u32x8){2, 10, 3, 11, 6, 14, 7, 15});
    u32x8 d = __builtin_shuffle(z2, z3, (u32x8){2, 10, 3, 11, 6, 14, 7, 15});
    u32x8 o[4] = {__builtin_shuffle(a, b, (u32x8){0, 1, 8, 9, 2, 3, 10, 11}),
                  __builtin_shuffle(c, d, (u32x8){0, 1, 8, 9, 2, 3, 10, 11}),
                  __builtin_shuffle(a, b, (u32x8){4, 5, 12, 13, 6, 7, 14, 15}),
                  __builtin_shuffle(c, d, (u32x8){4, 5, 12, 13, 6, 7, 14, 15})};
    memcpy(out, o, sizeof o);
}

/* Numbers 4 j0 .. 4 j0 + BATCH - 1 of the key's draw of the law into out. */
static void batch(float *out, uint64_t key, uint64_t j0, int law, float scale) {
    u32x8 w[4][VECS];
    philox(w, key, j0);
    u32x8 z[4][VECS];
    if (law == GAUSSIAN) { /* pairs (w0, w1) then (w2, w3) of each vector */
        u32x8 a[NP], b[NP];
        f32x8 zc[NP], zs[NP];
        EACH a[p] = w[2 * (p % 2)][p / 2], b[p] = w[2 * (p % 2) + 1][p / 2];
        box_muller(a, b, zc, zs);
        EACH z[2 * (p % 2)][p / 2] = (u32x8)(zc[p] * scale), z[2 * (p % 2) + 1][p / 2] = (u32x8)(zs[p] * scale);
    } else {
        for (int v = 0; v < VECS; v++)
            for (int m = 0; m < 4; m++)
                z[m][v] = law == UNIFORM ? /* (2 k + 1) sqrt(3) 2^-24, k = int32(w) / 2^8 in [-2^23, 2^23) */
                    (u32x8)(__builtin_convertvector(2 * ((i32x8)w[m][v] >> 8) + 1, f32x8) * 0x1.bb67aep-24f * scale)
                    : law == RADEMACHER ? (u32x8)((f32x8)(0x3F800000u | (w[m][v] & 0x80000000u)) * scale)
                    : w[m][v]; /* rademacher: -1 where the top bit is set */
    }
    for (int v = 0; v < VECS; v++)
        interleave(out + 32 * v, z[0][v], z[1][v], z[2][v], z[3][v]);
}

/* out[k n + i] = scale x number start + i of the draw keyed by keys[k] of the law (0 bits, as float32's bytes,
   unscaled; 1 gaussian; 2 uniform; 3 rademacher), for k < nkeys, i < n, the product rounded to float32; the
   batches split over `threads` OpenMP threads (torch's, when built with OpenMP) where the draw is large.
   The 2 MiB pages of out are marked for transparent huge pages first (madvise, a hint): out is usually
   fresh memory, and 4 KiB page faults cost more than the drawing (benchmarks/README.md, "Engine"). */
void reslimit_philox(float *out, const uint64_t *keys, int64_t nkeys, int64_t n, int64_t start, int law,
                     float scale, int threads) {
    int64_t first = start / BATCH, last = (start + n + BATCH - 1) / BATCH, per_key = last - first;
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)1 << 21, a = ((uintptr_t)out + huge - 1) & ~(huge - 1);
    const uintptr_t z = (uintptr_t)(out + nkeys * n) & ~(huge - 1);
    if (z > a)
        madvise((void *)a, z - a, MADV_HUGEPAGE);
#endif
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
    for (int64_t t = 0; t < nkeys * per_key; t++) {
        int64_t k = t / per_key, b = first + t % per_key, lo = b * BATCH, hi = lo + BATCH;
        float *dst = out + k * n - start;
        if (lo >= start && hi <= start + n) {
            batch(dst + lo, keys[k], (uint64_t)lo / 4, law, scale);
        } else { /* a batch the draw only partly covers */
            float buf[BATCH];
            batch(buf, keys[k], (uint64_t)lo / 4, law, scale);
            int64_t a = lo > start ? lo : start, z = hi < start + n ? hi : start + n;
            memcpy(dst + a, buf + (a - lo), (size_t)(z - a) * sizeof(float));
        }
    }
    (void)threads;
}
