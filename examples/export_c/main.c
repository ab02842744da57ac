/* Classify handwritten digits with the LeNet-5 that `graphc demo` trained and exported,
   or fine-tune it for a few steps and save it: plain C, no Python, no graphc.

     make EXPORT=../../graphc-demo/lenet-export
     ./lenet_c classify ../../graphc-demo/lenet-export ../../graphc-demo/heldout-digits.bin
     ./lenet_c finetune ../../graphc-demo/lenet-export ../../graphc-demo/heldout-digits.bin \
         20 finetuned.safetensors

   The digits file (written by `graphc demo`) holds "GCDIGIT1", the count, height and
   width as little-endian int64, then the images (float32, already mean-subtracted as
   the model was trained) and the labels (int32). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lenet.h"

#define BATCH 100
#define TRAIN_BATCH 32

typedef struct {
    int64_t count, height, width;
    float *images;
    int32_t *labels;
} digits;

static int read_digits(const char *path, digits *d) {
    char magic[8];
    int64_t dims[3];
    size_t pixels;
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 0;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "GCDIGIT1", 8) != 0 ||
        fread(dims, sizeof(int64_t), 3, f) != 3 || dims[0] < 1 ||
        dims[1] != lenet_info()->inputs[0].shape[1] || dims[2] != lenet_info()->inputs[0].shape[2]) {
        fprintf(stderr, "%s: not a file of digits the size this model takes\n", path);
        fclose(f);
        return 0;
    }
    d->count = dims[0];
    d->height = dims[1];
    d->width = dims[2];
    pixels = (size_t) (d->count * d->height * d->width);
    d->images = (float *) malloc(pixels * sizeof(float));
    d->labels = (int32_t *) malloc((size_t) d->count * sizeof(int32_t));
    if (!d->images || !d->labels || fread(d->images, sizeof(float), pixels, f) != pixels ||
        fread(d->labels, sizeof(int32_t), (size_t) d->count, f) != (size_t) d->count) {
        fprintf(stderr, "%s: truncated\n", path);
        fclose(f);
        return 0;
    }
    fclose(f);
    return 1;
}

static int open_model(const char *weights, lenet_context **ctx) {
    int status = lenet_create(weights, ctx);
    if (status != LENET_OK) {
        fprintf(stderr, "cannot load %s (status %d): %s\n", weights, status,
                lenet_last_error(*ctx));
        lenet_destroy(*ctx);
        return 0;
    }
    return 1;
}

/* How many digits the model labels right. */
static int64_t count_correct(lenet_context *ctx, const digits *d) {
    float probs[BATCH * 10];
    int64_t start, correct = 0, size = d->height * d->width;
    for (start = 0; start < d->count; start += BATCH) {
        int64_t n = d->count - start < BATCH ? d->count - start : BATCH, i;
        if (lenet_run(ctx, n, d->images + start * size, probs) != LENET_OK) {
            fprintf(stderr, "run failed: %s\n", lenet_last_error(ctx));
            return -1;
        }
        for (i = 0; i < n; i++) {
            int best = 0, k;
            for (k = 1; k < 10; k++)
                if (probs[i * 10 + k] > probs[i * 10 + best]) best = k;
            correct += best == d->labels[start + i];
        }
    }
    return correct;
}

static int classify(lenet_context *ctx, const digits *d) {
    int64_t correct = count_correct(ctx, d);
    if (correct < 0) return 1;
    printf("accuracy: %.1f%% (%lld of %lld digits)\n", 100.0 * (double) correct / (double) d->count,
           (long long) correct, (long long) d->count);
    return 0;
}

static int finetune(lenet_context *ctx, const digits *d, int steps, const char *out) {
    int64_t size = d->height * d->width;
    int step;
    lenet_context *again;
    int result;
    if (d->count < TRAIN_BATCH) {
        fprintf(stderr, "fine-tuning needs at least %d digits\n", TRAIN_BATCH);
        return 1;
    }
    for (step = 0; step < steps; step++) {
        /* consecutive batches of 32, from the start again when they run out */
        int64_t start = (int64_t) step * TRAIN_BATCH % (d->count - TRAIN_BATCH + 1);
        float loss;
        if (lenet_train_step(ctx, TRAIN_BATCH, d->images + start * size, d->labels + start,
                             &loss) != LENET_OK) {
            fprintf(stderr, "train step failed: %s\n", lenet_last_error(ctx));
            return 1;
        }
        printf("step %d loss %.9g\n", step + 1, (double) loss);
    }
    if (lenet_save(ctx, out) != LENET_OK) {
        fprintf(stderr, "cannot save: %s\n", lenet_last_error(ctx));
        return 1;
    }
    printf("saved the fine-tuned weights to %s\n", out);
    if (!open_model(out, &again)) return 1;          /* they load like the exported ones */
    result = classify(again, d);
    lenet_destroy(again);
    return result;
}

int main(int argc, char **argv) {
    digits d;
    lenet_context *ctx;
    char weights[4096];
    int result;
    if (argc < 4 || (strcmp(argv[1], "classify") != 0 && strcmp(argv[1], "finetune") != 0) ||
        (strcmp(argv[1], "finetune") == 0 && argc != 6)) {
        fprintf(stderr, "usage: %s classify EXPORT_DIR DIGITS\n"
                        "       %s finetune EXPORT_DIR DIGITS STEPS OUT.safetensors\n",
                argv[0], argv[0]);
        return 2;
    }
    snprintf(weights, sizeof weights, "%s/lenet.safetensors", argv[2]);
    if (!read_digits(argv[3], &d) || !open_model(weights, &ctx)) return 1;
    printf("%s, graphc %s, target %s\n", lenet_info()->name, lenet_info()->graphc_version,
           lenet_info()->target);
    result = strcmp(argv[1], "classify") == 0 ? classify(ctx, &d)
                                              : finetune(ctx, &d, atoi(argv[4]), argv[5]);
    lenet_destroy(ctx);
    free(d.images);
    free(d.labels);
    return result;
}
