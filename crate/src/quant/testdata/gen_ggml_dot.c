// Generates ggml_dot.bin: ggml's own activation quantizers and generic dot
// products on the shared test vectors, the ground truth for dot/tests.rs.
//
// Built against ggml-org/ggml d99724f (the commit of shared/vectors/ggml):
//   git archive d99724f src include | tar -x -C G
//   gcc -O2 -ffp-contract=off -IG/include -IG/src -IG/src/ggml-cpu \
//       gen_ggml_dot.c G/src/ggml-cpu/quants.c G/src/ggml-quants.c -lm -o gen
//   ./gen VECTORS_DIR > ggml_dot.bin
// (-ffp-contract=off: no fused multiply-add, as the C source reads.)
//
// Output, little-endian: for activation rows A_r = input row 31-r,
//   32 rows of quantize_row_q8_1_ref(A_r)   (16 blocks x 36 bytes each)
//   32 rows of quantize_row_q8_K_ref(A_r)   (2 blocks x 292 bytes each)
//   for each type in TYPES: 32 f32, ggml_vec_dot_TYPE_generic(W_r, A_r)
//   where W_r is row r of VECTORS_DIR/TYPE.bin.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "ggml-common.h"
#include "ggml-impl.h"
#include "ggml-quants.h"

float ggml_table_f32_f16[1 << 16];
void ggml_abort(const char * file, int line, const char * fmt, ...) { (void)file; (void)line; (void)fmt; abort(); }
size_t ggml_row_size(enum ggml_type t, int64_t n) { (void)t; (void)n; abort(); }
const char * ggml_type_name(enum ggml_type t) { (void)t; return "?"; }
size_t ggml_type_size(enum ggml_type t) { (void)t; abort(); }

typedef void (*dot_fn)(int, float *, size_t, const void *, size_t, const void *, size_t, int);
#define DECL(name) void name(int, float *, size_t, const void *, size_t, const void *, size_t, int);
DECL(ggml_vec_dot_q4_0_q8_0_generic) DECL(ggml_vec_dot_q4_1_q8_1_generic)
DECL(ggml_vec_dot_q5_0_q8_0_generic) DECL(ggml_vec_dot_q5_1_q8_1_generic)
DECL(ggml_vec_dot_q8_0_q8_0_generic) DECL(ggml_vec_dot_q2_K_q8_K_generic)
DECL(ggml_vec_dot_q3_K_q8_K_generic) DECL(ggml_vec_dot_q4_K_q8_K_generic)
DECL(ggml_vec_dot_q5_K_q8_K_generic) DECL(ggml_vec_dot_q6_K_q8_K_generic)
DECL(ggml_vec_dot_iq4_nl_q8_0_generic) DECL(ggml_vec_dot_iq4_xs_q8_K_generic)
DECL(ggml_vec_dot_tq1_0_q8_K_generic) DECL(ggml_vec_dot_tq2_0_q8_K_generic)
DECL(ggml_vec_dot_mxfp4_q8_0_generic)

enum act { A_Q8_0, A_Q8_1, A_Q8_K };
static const struct { const char * name; size_t row_bytes; enum act act; dot_fn f; } TYPES[] = {
    {"q4_0", 16 * 18, A_Q8_0, ggml_vec_dot_q4_0_q8_0_generic},
    {"q4_1", 16 * 20, A_Q8_1, ggml_vec_dot_q4_1_q8_1_generic},
    {"q5_0", 16 * 22, A_Q8_0, ggml_vec_dot_q5_0_q8_0_generic},
    {"q5_1", 16 * 24, A_Q8_1, ggml_vec_dot_q5_1_q8_1_generic},
    {"q8_0", 16 * 34, A_Q8_0, ggml_vec_dot_q8_0_q8_0_generic},
    {"q2_K", 2 * 84, A_Q8_K, ggml_vec_dot_q2_K_q8_K_generic},
    {"q3_K", 2 * 110, A_Q8_K, ggml_vec_dot_q3_K_q8_K_generic},
    {"q4_K", 2 * 144, A_Q8_K, ggml_vec_dot_q4_K_q8_K_generic},
    {"q5_K", 2 * 176, A_Q8_K, ggml_vec_dot_q5_K_q8_K_generic},
    {"q6_K", 2 * 210, A_Q8_K, ggml_vec_dot_q6_K_q8_K_generic},
    {"iq4_nl", 16 * 18, A_Q8_0, ggml_vec_dot_iq4_nl_q8_0_generic},
    {"iq4_xs", 2 * 136, A_Q8_K, ggml_vec_dot_iq4_xs_q8_K_generic},
    {"tq1_0", 2 * 54, A_Q8_K, ggml_vec_dot_tq1_0_q8_K_generic},
    {"tq2_0", 2 * 66, A_Q8_K, ggml_vec_dot_tq2_0_q8_K_generic},
    {"mxfp4", 16 * 17, A_Q8_0, ggml_vec_dot_mxfp4_q8_0_generic},
};

enum { ROWS = 32, N = 512 };

static void * slurp(const char * dir, const char * name, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE * f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    void * p = malloc(size);
    if (fread(p, 1, size, f) != size) { fprintf(stderr, "%s: short\n", path); exit(1); }
    fclose(f);
    return p;
}

int main(int argc, char ** argv) {
    if (argc != 2) { fprintf(stderr, "usage: gen VECTORS_DIR\n"); return 1; }
    for (int i = 0; i < (1 << 16); ++i) ggml_table_f32_f16[i] = ggml_compute_fp16_to_fp32((ggml_fp16_t)i);
    float * input = slurp(argv[1], "input.f32", sizeof(float) * ROWS * N);
    static block_q8_0 a80[ROWS][N / 32];
    static block_q8_1 a81[ROWS][N / 32];
    static block_q8_K a8k[ROWS][N / 256];
    memset(a8k, 0, sizeof a8k);
    for (int r = 0; r < ROWS; ++r) {
        const float * x = input + (size_t)(ROWS - 1 - r) * N;
        quantize_row_q8_0_ref(x, a80[r], N);
        quantize_row_q8_1_ref(x, a81[r], N);
        quantize_row_q8_K_ref(x, a8k[r], N);
    }
    fwrite(a81, sizeof a81, 1, stdout);
    fwrite(a8k, sizeof a8k, 1, stdout);
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; ++t) {
        char name[64];
        snprintf(name, sizeof name, "%s.bin", TYPES[t].name);
        uint8_t * w = slurp(argv[1], name, TYPES[t].row_bytes * ROWS);
        for (int r = 0; r < ROWS; ++r) {
            const void * a = TYPES[t].act == A_Q8_0 ? (const void *)a80[r]
                           : TYPES[t].act == A_Q8_1 ? (const void *)a81[r] : (const void *)a8k[r];
            float s;
            TYPES[t].f(N, &s, 0, w + TYPES[t].row_bytes * r, 0, a, 0, 1);
            fwrite(&s, sizeof s, 1, stdout);
        }
        free(w);
    }
    free(input);
    return 0;
}
