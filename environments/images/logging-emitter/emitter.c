/*
 * emitter: writes numbered, timestamped log lines to stdout (one write(2) per line)
 * and measures how long each write takes (labkit chapter 06, labkit's own tool).
 *
 *   emitter --token T [--count N] [--rate R] [--size S] [--error-every K]
 *           [--wait-ms W] [--summary FILE] [--out FILE]
 *
 * Line (exactly S bytes incl. '\n' when S is large enough):
 *   "<T> seq=<n> t=<sec>.<nsec> level=INFO|ERROR pad=xxxx...\n"
 * t is CLOCK_REALTIME taken just before the write, comparable across containers
 * of one host kernel.  --rate 0 means as fast as possible; otherwise line i is due at
 * start + i/R and the emitter sleeps (absolute clock) only when it is ahead.
 * The summary (JSON) goes to --summary, never to stdout/stderr, so it is not logged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t pct(const uint64_t *sorted, long n, double p) {
    if (n == 0) return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return sorted[i];
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: emitter --token T [--count N] [--rate R] [--size S] [--error-every K] "
                    "[--wait-ms W] [--summary FILE] [--out FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *token = NULL, *summary = NULL, *out = NULL;
    long count = 1000, size = 100, error_every = 0, wait_ms = 0;
    double rate = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--token")) token = v;
        else if (!strcmp(a, "--count")) count = atol(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--size")) size = atol(v);
        else if (!strcmp(a, "--error-every")) error_every = atol(v);
        else if (!strcmp(a, "--wait-ms")) wait_ms = atol(v);
        else if (!strcmp(a, "--summary")) summary = v;
        else if (!strcmp(a, "--out")) out = v;
        else usage();
    }
    if (!token || count < 0 || size < 1 || size > 65536) usage();

    int fd = 1;
    if (out) {
        FILE *f = fopen(out, "w");
        if (!f) { perror(out); return 1; }
        fd = fileno(f);
    }
    uint64_t *lat = calloc((size_t)(count ? count : 1), sizeof(uint64_t));
    char *line = malloc((size_t)size + 256);
    if (!lat || !line) { perror("malloc"); return 1; }

    if (wait_ms > 0) {
        struct timespec d = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }

    long slow_1ms = 0, errors = 0;
    int64_t start_mono = now_ns(CLOCK_MONOTONIC);
    int64_t start_real = now_ns(CLOCK_REALTIME);
    int64_t period = rate > 0 ? (int64_t)(1e9 / rate) : 0;
    for (long i = 0; i < count; i++) {
        if (period) {
            int64_t due = start_mono + (int64_t)((double)i * 1e9 / rate);
            if (now_ns(CLOCK_MONOTONIC) < due) {
                struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            }
        }
        int is_err = error_every > 0 && (i % error_every) == error_every - 1;
        int64_t t_real = now_ns(CLOCK_REALTIME);
        int n = snprintf(line, (size_t)size + 256, "%s seq=%ld t=%lld.%09lld level=%s pad=", token, i,
                         (long long)(t_real / 1000000000LL), (long long)(t_real % 1000000000LL),
                         is_err ? "ERROR" : "INFO");
        while (n < size - 1) line[n++] = 'x';
        line[n++] = '\n';
        int64_t w0 = now_ns(CLOCK_MONOTONIC);
        if (write_all(fd, line, (size_t)n) < 0) { errors++; break; }
        int64_t dt = now_ns(CLOCK_MONOTONIC) - w0;
        lat[i] = dt > 0 ? (uint64_t)dt : 0;
        if (dt > 1000000) slow_1ms++;
    }
    int64_t end_mono = now_ns(CLOCK_MONOTONIC);
    double secs = (double)(end_mono - start_mono) / 1e9;
    long written = count - errors;

    if (summary) {
        qsort(lat, (size_t)written, sizeof(uint64_t), cmp_u64);
        FILE *s = fopen(summary, "w");
        if (!s) { perror(summary); return 1; }
        fprintf(s,
                "{\"token\":\"%s\",\"count\":%ld,\"written\":%ld,\"size\":%ld,\"rate_target\":%.1f,"
                "\"start_real_ns\":%lld,\"emit_seconds\":%.6f,\"rate_achieved\":%.1f,"
                "\"write_ns_p50\":%llu,\"write_ns_p99\":%llu,\"write_ns_p999\":%llu,\"write_ns_max\":%llu,"
                "\"writes_over_1ms\":%ld,\"write_errors\":%ld}\n",
                token, count, written, size, rate, (long long)start_real, secs,
                secs > 0 ? (double)written / secs : 0.0, (unsigned long long)pct(lat, written, 0.50),
                (unsigned long long)pct(lat, written, 0.99), (unsigned long long)pct(lat, written, 0.999),
                (unsigned long long)(written ? lat[written - 1] : 0), slow_1ms, errors);
        fclose(s);
    }
    return errors ? 1 : 0;
}
