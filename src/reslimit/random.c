/* Keyed random numbers: ARS-7 (Salmon, Moraes, Dror and Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3";
   Random123's ARS1xm128i at its default of 7 rounds) and its transforms to float32, compiled with native.c by
   reslimit/native.py. reslimit/_rng.py states the algorithm and computes the very same numbers with torch where
   this cannot be built: every float operation below is one of IEEE's, rounded to float32 one at a time, in the
   order written (no FMA contraction: the pragma; no -ffast-math).

   Number i of the draw keyed by `key` comes from counter j = i / 4: the 128-bit block ARS-7(j, key) (both read
   as 128-bit little-endian integers, key < 2^64), whose bytes 4 m .. 4 m + 3 are the word w_m; number i uses
   word i mod 4 (uniform, rademacher, bits) or the pair (w0, w1) for i mod 4 < 2 and (w2, w3) else (gaussian:
   cos, then sin). So a number does not depend on which others are drawn with it, nor on the order, the chunks
   or the threads. ARS-7 runs on the AES round instructions where the CPU has them (VAES: two blocks at a time;
   AES-NI or Arm's AES: one), else on the AES round written out below (slower): the same bits. */

#pragma GCC optimize("fp-contract=off")

#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#if defined(__AVX2__) || defined(__AES__)
#include <immintrin.h>
#endif

#define LANES 32            /* counters per batch */
#define BATCH (4 * LANES)   /* numbers per batch */
#define GROUP 8             /* blocks in flight: the AES rounds' latency hidden */

typedef uint32_t u32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef float f32x8 __attribute__((vector_size(32)));

enum law { BITS, GAUSSIAN, UNIFORM, RADEMACHER };

/* ARS's round keys: k_r = key + r (WEYL_LO, WEYL_HI), as two 64-bit halves (the key's upper half 0). */
#define WEYL_LO 0x9E3779B97F4A7C15ull /* the golden ratio */
#define WEYL_HI 0xBB67AE8584CAA73Bull /* sqrt(3) - 1 */

#if defined(__VAES__) && defined(__AVX2__)
/* w[4 c + m] = word m of counter j0 + c, c < LANES: ARS-7 = xor k_0, six AES rounds (aesenc: SubBytes, ShiftRows,
   MixColumns, xor k_r), a last one without MixColumns (aesenclast); two counters per 256-bit vector. */
static inline void ars(uint32_t w[4 * LANES], uint64_t key, uint64_t j0) {
    const __m256i weyl = _mm256_set_epi64x(WEYL_HI, WEYL_LO, WEYL_HI, WEYL_LO);
    for (int g = 0; g < LANES; g += 2 * GROUP) {
        __m256i k = _mm256_set_epi64x(0, (long long)key, 0, (long long)key), v[GROUP];
        for (int i = 0; i < GROUP; i++) {
            uint64_t c = j0 + g + 2 * i;
            v[i] = _mm256_xor_si256(_mm256_set_epi64x(0, (long long)(c + 1), 0, (long long)c), k);
        }
        for (int r = 1; r < 7; r++) {
            k = _mm256_add_epi64(k, weyl);
            for (int i = 0; i < GROUP; i++)
                v[i] = _mm256_aesenc_epi128(v[i], k);
        }
        k = _mm256_add_epi64(k, weyl);
        for (int i = 0; i < GROUP; i++)
            _mm256_storeu_si256((__m256i *)(w + 4 * (g + 2 * i)), _mm256_aesenclast_epi128(v[i], k));
    }
}
#elif defined(__AES__)
static inline void ars(uint32_t w[4 * LANES], uint64_t key, uint64_t j0) { /* the same, a counter per vector */
    const __m128i weyl = _mm_set_epi64x(WEYL_HI, WEYL_LO);
    for (int g = 0; g < LANES; g += GROUP) {
        __m128i k = _mm_set_epi64x(0, (long long)key), v[GROUP];
        for (int i = 0; i < GROUP; i++)
            v[i] = _mm_xor_si128(_mm_set_epi64x(0, (long long)(j0 + g + i)), k);
        for (int r = 1; r < 7; r++) {
            k = _mm_add_epi64(k, weyl);
            for (int i = 0; i < GROUP; i++)
                v[i] = _mm_aesenc_si128(v[i], k);
        }
        k = _mm_add_epi64(k, weyl);
        for (int i = 0; i < GROUP; i++)
            _mm_storeu_si128((__m128i *)(w + 4 * (g + i)), _mm_aesenclast_si128(v[i], k));
    }
}
#elif defined(__ARM_FEATURE_AES) || defined(__ARM_FEATURE_CRYPTO)
#include <arm_neon.h>
/* The same on Arm's AES instructions: aese(v, 0) = ShiftRows(SubBytes(v)), aesmc = MixColumns. */
static inline void ars(uint32_t w[4 * LANES], uint64_t key, uint64_t j0) {
    const uint64x2_t weyl = {WEYL_LO, WEYL_HI};
    const uint8x16_t zero = vdupq_n_u8(0);
    for (int g = 0; g < LANES; g += GROUP) {
        uint64x2_t k = {key, 0};
        uint8x16_t v[GROUP];
        for (int i = 0; i < GROUP; i++)
            v[i] = vreinterpretq_u8_u64(veorq_u64((uint64x2_t){j0 + g + i, 0}, k));
        for (int r = 1; r < 7; r++) {
            k = vaddq_u64(k, weyl);
            for (int i = 0; i < GROUP; i++)
                v[i] = veorq_u8(vaesmcq_u8(vaeseq_u8(v[i], zero)), vreinterpretq_u8_u64(k));
        }
        k = vaddq_u64(k, weyl);
        for (int i = 0; i < GROUP; i++)
            vst1q_u8((uint8_t *)(w + 4 * (g + i)), veorq_u8(vaeseq_u8(v[i], zero), vreinterpretq_u8_u64(k)));
    }
}
#else
static uint8_t SBOX[256];
static uint32_t TABLE[256]; /* the column (2 S, S, S, 3 S)(x), bytes from the lowest: one row's share of a round */

/* AES's S-box: the inverse in GF(2^8) (p runs over the powers of 3, q over those of its inverse), then the
   affine map q + rot(q, 1..4) + 0x63; and TABLE. Made when the library is loaded, before any thread reads them. */
__attribute__((constructor)) static void make_tables(void) {
    uint8_t p = 1, q = 1;
    do {
        p = p ^ (uint8_t)(p << 1) ^ (p & 0x80 ? 0x1B : 0);
        q ^= q << 1, q ^= q << 2, q ^= q << 4;
        q ^= q & 0x80 ? 0x09 : 0;
        SBOX[p] = q ^ (uint8_t)((q << 1) | (q >> 7)) ^ (uint8_t)((q << 2) | (q >> 6)) ^
                  (uint8_t)((q << 3) | (q >> 5)) ^ (uint8_t)((q << 4) | (q >> 4)) ^ 0x63;
    } while (p != 1);
    SBOX[0] = 0x63;
    for (int x = 0; x < 256; x++) {
        uint32_t v = SBOX[x], twice = (v << 1 ^ (v & 0x80 ? 0x1B : 0)) & 0xFF;
        TABLE[x] = twice | v << 8 | v << 16 | (twice ^ v) << 24;
    }
}

static inline uint32_t rotl(uint32_t x, int n) { return x << n | x >> (32 - n); }

/* s <- MixColumns(ShiftRows(SubBytes(s))) xor k (aesenc; without MixColumns when last) on the columns s[c], byte r
   of s[c] (from the lowest) row r: out column c = sum_r rot_8r(TABLE[row r of column c + r]), MixColumns' matrix
   (2 3 1 1) circulant. */
static inline void aes_round(uint32_t s[4], const uint32_t k[4], int last) {
    uint32_t t[4];
    for (int c = 0; c < 4; c++) {
        uint32_t b0 = s[c] & 0xFF, b1 = s[(c + 1) & 3] >> 8 & 0xFF, b2 = s[(c + 2) & 3] >> 16 & 0xFF,
                 b3 = s[(c + 3) & 3] >> 24;
        t[c] = last ? SBOX[b0] | (uint32_t)SBOX[b1] << 8 | (uint32_t)SBOX[b2] << 16 | (uint32_t)SBOX[b3] << 24
                    : TABLE[b0] ^ rotl(TABLE[b1], 8) ^ rotl(TABLE[b2], 16) ^ rotl(TABLE[b3], 24);
    }
    for (int c = 0; c < 4; c++)
        s[c] = t[c] ^ k[c];
}

/* The 128-bit block (lo, hi) as four 32-bit little-endian columns. */
static inline void columns(uint32_t c[4], uint64_t lo, uint64_t hi) {
    c[0] = (uint32_t)lo, c[1] = (uint32_t)(lo >> 32), c[2] = (uint32_t)hi, c[3] = (uint32_t)(hi >> 32);
}

static void ars(uint32_t w[4 * LANES], uint64_t key, uint64_t j0) {
    uint32_t k[7][4];
    for (int r = 0; r < 7; r++)
        columns(k[r], key + (r + 1) * WEYL_LO, (r + 1) * WEYL_HI);
    for (int c = 0; c < LANES; c++) {
        uint32_t *v = w + 4 * c;
        columns(v, (j0 + c) ^ key, 0);
        for (int r = 0; r < 7; r++)
            aes_round(v, k[r], r == 6);
    }
}
#endif

static inline f32x8 splat(float x) { return (f32x8){0} + x; }

/* Each step below runs on NP vectors one after the other: NP chains of dependent operations in flight. */
#define NP (LANES / 4)
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

/* Numbers 4 j0 .. 4 j0 + BATCH - 1 of the key's draw of the law into out. */
static void batch(float *out, uint64_t key, uint64_t j0, int law, float scale) {
    u32x8 v[2 * NP]; /* the words in counter order, 8 (two counters) a vector (GCC's vectors alias their elements) */
    ars((uint32_t *)v, key, j0);
    if (law == GAUSSIAN) { /* a: the even words (w0, w2) of the pair v[2 p], v[2 p + 1]; b: the odd ones */
        const u32x8 EVEN = {0, 2, 8, 10, 4, 6, 12, 14}, LOW = {0, 8, 1, 9, 4, 12, 5, 13};
        u32x8 a[NP], b[NP];
        f32x8 zc[NP], zs[NP];
        EACH a[p] = __builtin_shuffle(v[2 * p], v[2 * p + 1], EVEN), b[p] = __builtin_shuffle(v[2 * p], v[2 * p + 1], EVEN + 1);
        box_muller(a, b, zc, zs);
        EACH { /* each number back in its word's place */
            u32x8 c = (u32x8)(zc[p] * scale), s = (u32x8)(zs[p] * scale);
            v[2 * p] = __builtin_shuffle(c, s, LOW), v[2 * p + 1] = __builtin_shuffle(c, s, LOW + 2);
        }
    } else {
        for (int i = 0; i < 2 * NP; i++)
            v[i] = law == UNIFORM ? /* (2 k + 1) sqrt(3) 2^-24, k = int32(w) / 2^8 in [-2^23, 2^23) */
                (u32x8)(__builtin_convertvector(2 * ((i32x8)v[i] >> 8) + 1, f32x8) * 0x1.bb67aep-24f * scale)
                : law == RADEMACHER ? (u32x8)((f32x8)(0x3F800000u | (v[i] & 0x80000000u)) * scale)
                : v[i]; /* rademacher: -1 where the top bit is set */
    }
    memcpy(out, v, sizeof v);
}

/* out[k n + i] = scale x number start + i of the draw keyed by keys[k] of the law (0 bits, as float32's bytes,
   unscaled; 1 gaussian; 2 uniform; 3 rademacher), for k < nkeys, i < n, the product rounded to float32; the
   batches split over `threads` OpenMP threads (torch's, when built with OpenMP) where the draw is large.
   The 2 MiB pages of out are marked for transparent huge pages first (madvise, a hint): out is usually
   fresh memory, and 4 KiB page faults cost more than the drawing (benchmarks/README.md, "Engine"). */
void reslimit_random(float *out, const uint64_t *keys, int64_t nkeys, int64_t n, int64_t start, int law,
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
