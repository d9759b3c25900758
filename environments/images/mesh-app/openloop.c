/* openloop: labkit's open-loop HTTP/1.1 load generator (engine tier, chapter 07).
 *
 * Request i is due at t0 + i/rate, whatever happened to earlier requests. Latency is measured
 * from that INTENDED send time, so a stall in the server shows up in the latency of every request
 * that should have been sent during it (no coordinated omission). A pool of keep-alive
 * connections carries the requests; when every connection is busy a due request waits in a FIFO,
 * and that wait counts in its latency (it is the system's queue, not the generator's).
 *
 * The generator checks itself: "loop lag" is how late the event loop noticed a due request
 * (now - intended when it was queued). If the machine cannot keep the schedule, loop lag grows
 * and the result is marked generator_ok=false instead of being reported as the system's latency.
 *
 * usage: openloop -h HOST -p PORT -r RATE -d SECONDS [-c CONNS] [-u PATH] [-H 'Name: value']
 *                 [-w WARMUP_S] [-t TIMEOUT_MS] [-L MAX_LOOP_LAG_P99_MS]
 * prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

typedef struct {
    int fd;
    enum state st;
    uint64_t intended, sent, retry_at;
    size_t len;
    char buf[65536];
} conn_t;

typedef struct { const char *name; long n; } errkind_t;

static struct {
    const char *host, *path, *header;
    int port, conns, timeout_ms;
    double rate, duration, warmup, max_lag_ms;
} cfg = {NULL, "/", NULL, 0, 32, 5000, 100, 10, 0, 1.0};

static struct sockaddr_storage addr;
static socklen_t addrlen;
static char req[2048];
static size_t reqlen;
static int ep;
static conn_t *conns;
static int *idle, nidle;

static uint64_t *pending; static long phead, ptail;       /* FIFO of intended times */
static double *lat, *lag, *qwait; static long nlat, nlag, nqwait;
static long sent, completed, ok, inflight, pool_exhausted, req_errors, connect_failures;
static errkind_t errs[32]; static int nerrs;
static long status_counts[600];

#define SERIES_MAX 3600
static struct { long sent, ok, err; double max_ms; } series[SERIES_MAX];

static uint64_t now_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void add_err(const char *name) {
    for (int i = 0; i < nerrs; i++) if (!strcmp(errs[i].name, name)) { errs[i].n++; return; }
    if (nerrs < 32) { errs[nerrs].name = strdup(name); errs[nerrs].n = 1; nerrs++; }
}

static uint64_t t0, warm_end;
static int bucket(uint64_t t) { long b = (long)((t - t0) / 1000000000ull); return b < 0 ? 0 : b >= SERIES_MAX ? SERIES_MAX - 1 : (int)b; }

static void conn_start(int i, uint64_t now) {
    conn_t *c = &conns[i];
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(c->fd, (struct sockaddr *)&addr, addrlen);
    if (r < 0 && errno != EINPROGRESS) {
        char e[96]; snprintf(e, sizeof e, "connect: %s", strerror(errno)); add_err(e); connect_failures++;
        close(c->fd); c->fd = -1; c->st = C_DOWN; c->retry_at = now + 10000000ull; return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->st = C_CONNECTING; c->len = 0;
}

static void conn_fail(int i, const char *why, uint64_t now) {
    conn_t *c = &conns[i];
    if (c->st == C_BUSY) {                   /* the request in flight is lost: count it */
        inflight--; add_err(why); req_errors++;
        series[bucket(c->intended)].err++;
    } else if (c->st == C_CONNECTING) {
        add_err(why); connect_failures++;       /* an attempt, not a request: counted apart */
    }
    if (c->st == C_IDLE) {                   /* drop it from the idle stack */
        for (int k = 0; k < nidle; k++) if (idle[k] == i) { idle[k] = idle[--nidle]; break; }
    }
    if (c->fd >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); }
    c->fd = -1; c->st = C_DOWN; c->retry_at = now + 10000000ull;   /* reconnect after 10 ms */
}

static void set_idle(int i) {
    conn_t *c = &conns[i];
    c->st = C_IDLE; c->len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    idle[nidle++] = i;
}

static void dispatch(uint64_t now) {
    while (phead < ptail && nidle > 0) {
        int i = idle[--nidle];
        conn_t *c = &conns[i];
        c->intended = pending[phead++];
        ssize_t w = send(c->fd, req, reqlen, MSG_NOSIGNAL);
        if (w != (ssize_t)reqlen) {          /* a broken idle connection: requeue, reconnect */
            phead--; c->st = C_IDLE; conn_fail(i, "send failed on idle connection", now);
            continue;
        }
        c->sent = now; c->st = C_BUSY; c->len = 0; inflight++; sent++;
        series[bucket(c->intended)].sent++;
        if (c->intended >= warm_end) qwait[nqwait++] = (double)(now - c->intended) / 1e6;
    }
    if (phead < ptail) pool_exhausted++;
}

/* returns 1 when a full response is in c->buf */
static int parse_done(conn_t *c, int *status) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t hlen = (size_t)(end - c->buf) + 4;
    *status = (c->len > 12) ? atoi(c->buf + 9) : 0;
    long clen = 0;
    for (char *p = c->buf; p < end; ) {
        char *nl = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!nl) break;
        if ((size_t)(nl - p) > 15 && !strncasecmp(p, "content-length:", 15)) clen = atol(p + 15);
        p = nl + 2;
    }
    return c->len >= hlen + (size_t)clen;
}

static void on_readable(int i, uint64_t now) {
    conn_t *c = &conns[i];
    for (;;) {
        if (c->len >= sizeof c->buf) { conn_fail(i, "response too large", now); return; }
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r > 0) { c->len += (size_t)r; continue; }
        if (r == 0) {
            conn_fail(i, c->st == C_BUSY ? "connection closed mid-request (EOF)" : "idle connection closed by peer", now);
            return;
        }
        if (errno == EAGAIN) break;
        char e[96]; snprintf(e, sizeof e, "recv: %s", strerror(errno)); conn_fail(i, e, now); return;
    }
    if (c->st != C_BUSY) { c->len = 0; return; }
    int status;
    if (!parse_done(c, &status)) return;
    uint64_t t = now_ns();
    double ms = (double)(t - c->intended) / 1e6;
    completed++; inflight--;
    if (status >= 0 && status < 600) status_counts[status]++;
    int b = bucket(c->intended);
    if (status >= 200 && status < 300) { ok++; series[b].ok++; }
    else { char e[32]; snprintf(e, sizeof e, "http %d", status); add_err(e); series[b].err++; req_errors++; }
    if (ms > series[b].max_ms) series[b].max_ms = ms;
    if (c->intended >= warm_end && status >= 200 && status < 300) lat[nlat++] = ms;
    set_idle(i);
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static double pct(double *v, long n, double p) {
    if (n == 0) return NAN;
    long k = (long)ceil(p / 100.0 * (double)n) - 1; if (k < 0) k = 0; if (k >= n) k = n - 1;
    return v[k];
}
static void print_num(const char *key, double x) {   /* JSON has no NaN: an empty distribution prints null */
    if (isnan(x)) printf("\"%s\":null", key); else printf("\"%s\":%.4f", key, x);
}
static void print_dist(const char *name, double *v, long n, int last) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    double sum = 0; for (long k = 0; k < n; k++) sum += v[k];
    printf("\"%s\":{\"n\":%ld,", name, n);
    print_num("p50", pct(v, n, 50)); putchar(','); print_num("p90", pct(v, n, 90)); putchar(',');
    print_num("p99", pct(v, n, 99)); putchar(','); print_num("p999", pct(v, n, 99.9)); putchar(',');
    print_num("max", n ? v[n - 1] : NAN); putchar(','); print_num("mean", n ? sum / (double)n : NAN);
    printf("}%s", last ? "" : ",");
}

static void usage(void) {
    fprintf(stderr, "usage: openloop -h HOST -p PORT -r RATE -d SECONDS [-c CONNS] [-u PATH] "
                    "[-H 'Name: value'] [-w WARMUP_S] [-t TIMEOUT_MS] [-L MAX_LOOP_LAG_P99_MS]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "h:p:r:d:c:u:H:w:t:L:")) != -1) {
        switch (o) {
        case 'h': cfg.host = optarg; break;
        case 'p': cfg.port = atoi(optarg); break;
        case 'r': cfg.rate = atof(optarg); break;
        case 'd': cfg.duration = atof(optarg); break;
        case 'c': cfg.conns = atoi(optarg); break;
        case 'u': cfg.path = optarg; break;
        case 'H': cfg.header = optarg; break;
        case 'w': cfg.warmup = atof(optarg); break;
        case 't': cfg.timeout_ms = atoi(optarg); break;
        case 'L': cfg.max_lag_ms = atof(optarg); break;
        default: usage();
        }
    }
    if (!cfg.host || cfg.port <= 0 || cfg.rate <= 0 || cfg.duration <= 0 || cfg.conns <= 0) usage();
    if (cfg.duration > SERIES_MAX - 10) { fprintf(stderr, "duration too long\n"); return 2; }
    if (cfg.warmup < 0 || cfg.warmup >= cfg.duration) { fprintf(stderr, "the warm-up must be shorter than the duration\n"); return 2; }

    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    char portstr[16]; snprintf(portstr, sizeof portstr, "%d", cfg.port);
    int gai = getaddrinfo(cfg.host, portstr, &hints, &ai);
    if (gai) { printf("{\"error\":\"resolve %s: %s\"}\n", cfg.host, gai_strerror(gai)); return 1; }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen); addrlen = ai->ai_addrlen; freeaddrinfo(ai);

    reqlen = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s%sUser-Agent: labkit-openloop\r\n\r\n",
                              cfg.path, cfg.host, cfg.port, cfg.header ? cfg.header : "", cfg.header ? "\r\n" : "");

    long total = (long)(cfg.rate * cfg.duration);
    pending = calloc((size_t)total + 1, sizeof *pending);
    lat = calloc((size_t)total + 1, sizeof *lat);
    lag = calloc((size_t)total + 1, sizeof *lag);
    qwait = calloc((size_t)total + 1, sizeof *qwait);
    conns = calloc((size_t)cfg.conns, sizeof *conns);
    idle = calloc((size_t)cfg.conns, sizeof *idle);
    ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = 0xffffffffu};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    uint64_t start = now_ns();
    for (int i = 0; i < cfg.conns; i++) { conns[i].fd = -1; conn_start(i, start); }
    /* wait up to 2 s for the pool to connect before the clock starts */
    while (nidle < cfg.conns && now_ns() - start < 2000000000ull) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 50);
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32; if (i == 0xffffffffu) continue;
            conn_t *c = &conns[i];
            int err = 0; socklen_t el = sizeof err; getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err || (evs[k].events & (EPOLLERR | EPOLLHUP))) {
                char e[96]; snprintf(e, sizeof e, "connect: %s", strerror(err ? err : ECONNRESET));
                conn_fail((int)i, e, now_ns());
            } else if (c->st == C_CONNECTING) set_idle((int)i);
        }
        uint64_t now = now_ns();
        for (int i = 0; i < cfg.conns; i++) if (conns[i].st == C_DOWN && now >= conns[i].retry_at) conn_start(i, now);
    }
    if (nidle == 0) {
        printf("{\"error\":\"no connection to %s:%d could be opened\",\"errors\":{", cfg.host, cfg.port);
        for (int k = 0; k < nerrs; k++) printf("%s\"%s\":%ld", k ? "," : "", errs[k].name, errs[k].n);
        printf("}}\n");
        return 1;
    }

    struct rusage ru0; getrusage(RUSAGE_SELF, &ru0);
    double interval = 1e9 / cfg.rate;
    t0 = now_ns() + 1000000ull;
    warm_end = t0 + (uint64_t)(cfg.warmup * 1e9);
    uint64_t end = t0 + (uint64_t)(cfg.duration * 1e9);
    uint64_t hard_end = end + (uint64_t)cfg.timeout_ms * 1000000ull + 500000000ull;
    long next = 0;
    uint64_t last_enqueue = t0;

    for (;;) {
        uint64_t now = now_ns();
        while (next < total) {
            uint64_t due = t0 + (uint64_t)((double)next * interval);
            if (due > now) break;
            pending[ptail++] = due;
            lag[nlag++] = (double)(now - due) / 1e6;
            last_enqueue = now;
            next++;
        }
        dispatch(now);
        /* timeouts and reconnects */
        for (int i = 0; i < cfg.conns; i++) {
            conn_t *c = &conns[i];
            if (c->st == C_BUSY && now - c->sent > (uint64_t)cfg.timeout_ms * 1000000ull) conn_fail(i, "timeout", now);
            else if (c->st == C_DOWN && now >= c->retry_at && now < end) conn_start(i, now);
        }
        if (next >= total && phead >= ptail && inflight == 0) break;
        if (now > hard_end) {
            for (long k = phead; k < ptail; k++) { add_err("never sent (no connection)"); req_errors++; series[bucket(pending[k])].err++; }
            break;
        }

        uint64_t wake = next < total ? t0 + (uint64_t)((double)next * interval) : now + 10000000ull;
        if (wake > now + 10000000ull) wake = now + 10000000ull;        /* at least every 10 ms */
        struct itimerspec its = {0};
        its.it_value.tv_sec = (time_t)(wake / 1000000000ull);
        its.it_value.tv_nsec = (long)(wake % 1000000000ull);
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);

        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 20);
        uint64_t tn = now_ns();
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            if (i == 0xffffffffu) { uint64_t x; if (read(tfd, &x, sizeof x) < 0) {} continue; }
            conn_t *c = &conns[i];
            if (c->st == C_CONNECTING) {
                int err = 0; socklen_t el = sizeof err; getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err || (evs[k].events & (EPOLLERR | EPOLLHUP))) {
                    char e[96]; snprintf(e, sizeof e, "connect: %s", strerror(err ? err : ECONNRESET));
                    conn_fail((int)i, e, tn);
                } else set_idle((int)i);
                continue;
            }
            if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) on_readable((int)i, tn);
        }
    }
    (void)last_enqueue;
    struct rusage ru1; getrusage(RUSAGE_SELF, &ru1);
    double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec)
                 + (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

    /* self-check: loop lag */
    qsort(lag, (size_t)nlag, sizeof *lag, cmp);
    double lag99 = pct(lag, nlag, 99);
    long errors = req_errors;     /* requests that failed; connect attempts are in connect_failures */
    const char *why = "";
    int gen_ok = 1;
    if (nlag < total) { gen_ok = 0; why = "did not schedule every request"; }
    else if (lag99 > cfg.max_lag_ms) { gen_ok = 0; why = "loop lag p99 above limit: this machine cannot keep the schedule at this rate"; }
    else if (cpu_s / cfg.duration > 0.9) { gen_ok = 0; why = "generator used >90% of a core"; }

    printf("{\"tool\":\"labkit-openloop\",\"target\":\"%s:%d%s\",\"requested_rate\":%.1f,\"duration_s\":%.1f,"
           "\"warmup_s\":%.1f,\"conns\":%d,\"scheduled\":%ld,\"sent\":%ld,\"completed\":%ld,\"ok\":%ld,\"errors_total\":%ld,"
           "\"connect_failures\":%ld,\"achieved_rate\":%.1f,\"pool_exhausted_events\":%ld,\"generator_cpu_s\":%.3f,\"generator_ok\":%s,\"generator_problem\":\"%s\",",
           cfg.host, cfg.port, cfg.path, cfg.rate, cfg.duration, cfg.warmup, cfg.conns, total, sent, completed, ok, errors,
           connect_failures, (double)sent / cfg.duration, pool_exhausted, cpu_s, gen_ok ? "true" : "false", why);
    printf("\"errors\":{");
    for (int k = 0; k < nerrs; k++) printf("%s\"%s\":%ld", k ? "," : "", errs[k].name, errs[k].n);
    printf("},\"status\":{");
    int first = 1;
    for (int s = 0; s < 600; s++) if (status_counts[s]) { printf("%s\"%d\":%ld", first ? "" : ",", s, status_counts[s]); first = 0; }
    printf("},");
    print_dist("latency_ms", lat, nlat, 0);
    print_dist("queue_wait_ms", qwait, nqwait, 0);
    /* lag already sorted; print_dist sorts again, harmless */
    print_dist("loop_lag_ms", lag, nlag, 0);
    printf("\"series\":[");
    int nb = (int)ceil(cfg.duration);
    for (int b = 0; b < nb && b < SERIES_MAX; b++)
        printf("%s{\"t\":%d,\"sent\":%ld,\"ok\":%ld,\"err\":%ld,\"max_ms\":%.3f}", b ? "," : "", b,
               series[b].sent, series[b].ok, series[b].err, series[b].max_ms);
    printf("]}\n");
    return 0;
}
