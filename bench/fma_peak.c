/* One core's AVX2 fp32 FMA peak, measured: 12 independent chains of 8-lane fused multiply-adds
 * (enough to keep two FMA units busy through a 4-5 cycle latency), best of 10 runs of about
 * 30 ms of the thread's CPU time (time the machine gave to other processes is not counted).
 * Prints GFLOP/s (2 flops per lane per FMA). Built and run by bench/kernel_efficiency.py:
 *     cc -O2 -mavx2 -mfma fma_peak.c -o fma_peak && ./fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define CHAINS 12
#define ITERATIONS 20000000L

static double seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec * 1e-9;
}

int main(void) {
    __m256 acc[CHAINS];
    const __m256 scale = _mm256_set1_ps(0.999999f), shift = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    double best = 0;
    for (int run = 0; run < 10; run++) {
        double started = seconds();
        for (long i = 0; i < ITERATIONS; i++) {
#pragma GCC unroll 12
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], scale, shift);
        }
        double rate = ITERATIONS * CHAINS * 16.0 / (seconds() - started) / 1e9;
        if (rate > best) best = rate;
    }
    /* The sum keeps the compiler from dropping the chains. */
    float lanes[8], sum = 0;
    for (int c = 0; c < CHAINS; c++) {
        _mm256_storeu_ps(lanes, acc[c]);
        sum += lanes[0];
    }
    printf("%.3f %g\n", best, sum);
    return 0;
}
