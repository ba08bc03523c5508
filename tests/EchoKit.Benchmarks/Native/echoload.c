/*
 * echoload: a lean, single-threaded epoll echo load client (Linux only, libc only).
 *
 *   echoload HOST PORT CONNECTIONS SIZE INFLIGHT WARMUP_S DURATION_S [proxy-v2]
 *
 * HOST is 127.0.0.1 or ::1. Each of CONNECTIONS connections keeps INFLIGHT messages of SIZE bytes in flight (closed
 * loop: a new message is sent when one completes). Message s of connection c is a pattern derived from (c, s): its
 * first 12 bytes are c (u32 LE) and s (u64 LE), the rest a slice of a fixed pseudo-random table at an offset hashed
 * from (c, s); every echoed byte is compared. Echo is in order, so message s completes when (s+1)*SIZE bytes have come
 * back; its latency is that time minus the time its last byte was handed to send() (CLOCK_MONOTONIC). Latencies of
 * messages that complete inside the measured window (after WARMUP_S, for DURATION_S) go into a log-linear histogram
 * (128 linear sub-buckets per power of two: under 0.4 % error, 1 us to 10 s).
 *
 * stdout: "WINDOW START" when the measured window begins, "WINDOW END" when it ends (so a caller can sample the
 * server around it), then one JSON object. Progress and problems go to stderr. Exit code 0 unless the arguments are
 * wrong or setup fails (load errors are reported in the JSON, not in the exit code).
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -o echoload echoload.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 10000
#define MAX_SIZE (1 << 20)
#define MAX_INFLIGHT 1024
#define MAX_SECONDS 3600.0
#define STAMP 12
#define TABLE_SIZE (2 * MAX_SIZE)
#define RECV_BUFFER (256 * 1024)
#define MAX_IOV 64
#define MAX_EVENTS 1024

/* Histogram: values in ns; exact below 256, then 128 linear sub-buckets per power of two up to 2^34 ns (> 10 s). */
#define SUB_BITS 7
#define SUB (1 << SUB_BITS)
#define MAX_MSB 33
#define BUCKETS (2 * SUB + (MAX_MSB - SUB_BITS) * SUB)
#define MAX_VALUE_NS 10000000000ULL

enum conn_state { CONNECTING, OPEN, DEAD };

struct conn {
    int fd;
    uint32_t id;
    enum conn_state state;
    int want_out;        /* EPOLLOUT is registered */
    uint64_t sent;       /* payload bytes handed to send() */
    uint64_t received;   /* payload bytes received and verified */
    uint64_t *sent_at;   /* ns, per message slot (sequence % inflight) */
};

static struct {
    int family;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
    socklen_t addr_len;
    int port;
    int connections;
    uint64_t size;
    int inflight;
    double warmup;
    double duration;
    int proxy_v2;
} opt;

static unsigned char *table;
static unsigned char *recv_buffer;
static struct conn *conns;
static int epoll_fd;
static int alive;

static uint64_t histogram[BUCKETS];
static uint64_t recorded, max_ns;
static uint64_t messages;      /* completed inside the window */
static uint64_t errors, mismatches;
static char first_error[256];
static int recording;          /* the measured window is open */
static uint64_t window_end_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Where in the table message (c, s) takes its bytes from: byte j (j >= STAMP) is table[offset + j]. */
static uint64_t table_offset(uint32_t c, uint64_t s)
{
    return mix64(((uint64_t)c << 40) ^ (s * 0x9e3779b97f4a7c15ULL) ^ 0x5eed) % (TABLE_SIZE - MAX_SIZE);
}

static void make_stamp(uint32_t c, uint64_t s, unsigned char *out)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (unsigned char)(c >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        out[4 + i] = (unsigned char)(s >> (8 * i));
    }
}

static void fail_conn(struct conn *c, const char *fmt, ...)
{
    if (c->state == DEAD) {
        return;
    }
    errors++;
    if (first_error[0] == '\0') {
        char text[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        snprintf(first_error, sizeof first_error, "connection %u: %s", c->id, text);
        fprintf(stderr, "echoload: %s\n", first_error);
    }
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
    c->state = DEAD;
    alive--;
}

static void record(uint64_t ns)
{
    if (ns > MAX_VALUE_NS) {
        ns = MAX_VALUE_NS;
    }
    if (ns > max_ns) {
        max_ns = ns;
    }
    unsigned idx;
    if (ns < 2 * SUB) {
        idx = (unsigned)ns;
    } else {
        int msb = 63 - __builtin_clzll(ns);
        int shift = msb - SUB_BITS;
        idx = 2 * SUB + (unsigned)(msb - SUB_BITS - 1) * SUB + (unsigned)((ns >> shift) - SUB);
    }
    histogram[idx]++;
    recorded++;
}

/* The middle of bucket idx, in ns. */
static double bucket_value(unsigned idx)
{
    if (idx < 2 * SUB) {
        return idx;
    }
    unsigned k = idx - 2 * SUB;
    int msb = (int)(k / SUB) + SUB_BITS + 1;
    uint64_t mant = SUB + k % SUB;
    int shift = msb - SUB_BITS;
    return (double)(mant << shift) + (double)(1ULL << shift) / 2.0;
}

static double percentile_us(double p)
{
    if (recorded == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(p * (double)recorded);
    if ((double)rank < p * (double)recorded) {
        rank++;
    }
    if (rank < 1) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += histogram[i];
        if (seen >= rank) {
            double v = bucket_value(i);
            return (v > (double)max_ns ? (double)max_ns : v) / 1000.0;
        }
    }
    return (double)max_ns / 1000.0;
}

static void set_out(struct conn *c, int on)
{
    if (c->want_out == on) {
        return;
    }
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        fail_conn(c, "epoll_ctl: %s", strerror(errno));
        return;
    }
    c->want_out = on;
}

/* Sends what the closed loop allows: up to (completed + inflight) messages in total. */
static void try_send(struct conn *c)
{
    unsigned char stamps[MAX_IOV][STAMP];
    struct iovec iov[MAX_IOV];
    while (c->state == OPEN) {
        uint64_t allowed = (c->received / opt.size + (uint64_t)opt.inflight) * opt.size;
        if (c->sent >= allowed) {
            set_out(c, 0);
            return;
        }

        int n = 0, stamp_count = 0;
        uint64_t pos = c->sent;
        while (pos < allowed && n + 2 <= MAX_IOV) {
            uint64_t s = pos / opt.size, o = pos % opt.size;
            uint64_t end = opt.size;
            if (o < STAMP && o < opt.size) {
                uint64_t stop = end < STAMP ? end : STAMP;
                make_stamp(c->id, s, stamps[stamp_count]);
                iov[n].iov_base = stamps[stamp_count] + o;
                iov[n].iov_len = stop - o;
                n++;
                stamp_count++;
                o = stop;
            }
            if (o < end) {
                iov[n].iov_base = table + table_offset(c->id, s) + o;
                iov[n].iov_len = end - o;
                n++;
            }
            pos = (s + 1) * opt.size;
        }

        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_out(c, 1);
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            fail_conn(c, "send: %s", strerror(errno));
            return;
        }
        uint64_t before = c->sent, after = before + (uint64_t)w;
        uint64_t t = now_ns();
        for (uint64_t s = before / opt.size; (s + 1) * opt.size <= after; s++) {
            c->sent_at[s % (uint64_t)opt.inflight] = t;
        }
        c->sent = after;
        if (after < pos) {
            set_out(c, 1); /* the socket buffer is full: wait for EPOLLOUT */
            return;
        }
    }
}

/* Checks data (the bytes at payload offset pos of connection c) against the pattern; 0 when they match. */
static int verify(const struct conn *c, uint64_t pos, const unsigned char *data, uint64_t len)
{
    uint64_t s = pos / opt.size, o = pos % opt.size;
    if (o < STAMP) {
        unsigned char stamp[STAMP];
        make_stamp(c->id, s, stamp);
        uint64_t take = (STAMP - o) < len ? (STAMP - o) : len;
        if (memcmp(data, stamp + o, take) != 0) {
            return 1;
        }
        data += take;
        o += take;
        len -= take;
    }
    return len > 0 && memcmp(data, table + table_offset(c->id, s) + o, len) != 0;
}

static void on_readable(struct conn *c)
{
    for (int rounds = 0; rounds < 16 && c->state == OPEN; rounds++) {
        ssize_t r = recv(c->fd, recv_buffer, RECV_BUFFER, 0);
        if (r == 0) {
            fail_conn(c, "the server closed the connection");
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            fail_conn(c, "recv: %s", strerror(errno));
            return;
        }

        uint64_t t = now_ns();
        int in_window = recording && t < window_end_ns;
        if (c->received + (uint64_t)r > c->sent) {
            fail_conn(c, "received %llu bytes more than were sent",
                (unsigned long long)(c->received + (uint64_t)r - c->sent));
            return;
        }
        const unsigned char *p = recv_buffer;
        uint64_t left = (uint64_t)r;
        while (left > 0) {
            uint64_t s = c->received / opt.size, o = c->received % opt.size;
            uint64_t take = opt.size - o < left ? opt.size - o : left;
            if (verify(c, c->received, p, take) != 0) {
                mismatches++;
                fail_conn(c, "echoed bytes of message %llu do not match what was sent", (unsigned long long)s);
                return;
            }
            c->received += take;
            p += take;
            left -= take;
            if (o + take == opt.size && in_window) {
                record(t - c->sent_at[s % (uint64_t)opt.inflight]);
                messages++;
            }
        }
        if ((size_t)r < RECV_BUFFER) {
            return;
        }
    }
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        fail_conn(c, "connect: %s", strerror(err != 0 ? err : errno));
        return;
    }
    c->state = OPEN;
    if (opt.proxy_v2) {
        /* PROXY protocol v2 header naming this connection's own addresses; a fresh socket takes it whole. */
        static const unsigned char signature[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
        unsigned char header[16 + 36];
        struct sockaddr_storage local, peer;
        socklen_t local_len = sizeof local, peer_len = sizeof peer;
        if (getsockname(c->fd, (struct sockaddr *)&local, &local_len) != 0
            || getpeername(c->fd, (struct sockaddr *)&peer, &peer_len) != 0) {
            fail_conn(c, "getsockname/getpeername: %s", strerror(errno));
            return;
        }
        memcpy(header, signature, 12);
        header[12] = 0x21;
        size_t total;
        if (opt.family == AF_INET) {
            const struct sockaddr_in *l = (const struct sockaddr_in *)&local, *r = (const struct sockaddr_in *)&peer;
            header[13] = 0x11;
            memcpy(header + 16, &l->sin_addr, 4);
            memcpy(header + 20, &r->sin_addr, 4);
            memcpy(header + 24, &l->sin_port, 2);
            memcpy(header + 26, &r->sin_port, 2);
            total = 28;
        } else {
            const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)&local, *r = (const struct sockaddr_in6 *)&peer;
            header[13] = 0x21;
            memcpy(header + 16, &l->sin6_addr, 16);
            memcpy(header + 32, &r->sin6_addr, 16);
            memcpy(header + 48, &l->sin6_port, 2);
            memcpy(header + 50, &r->sin6_port, 2);
            total = 52;
        }
        header[14] = (unsigned char)((total - 16) >> 8);
        header[15] = (unsigned char)(total - 16);
        if (send(c->fd, header, total, MSG_NOSIGNAL) != (ssize_t)total) {
            fail_conn(c, "could not send the PROXY header");
            return;
        }
    }
    c->want_out = 1; /* registered for EPOLLOUT while connecting; try_send clears it */
    try_send(c);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: echoload HOST PORT CONNECTIONS SIZE INFLIGHT WARMUP_S DURATION_S [proxy-v2]\n"
        "  HOST 127.0.0.1 or ::1; CONNECTIONS 1-%d; SIZE 1-%d bytes; INFLIGHT 1-%d; WARMUP_S 0-%.0f; DURATION_S (0, %.0f]\n",
        MAX_CONNECTIONS, MAX_SIZE, MAX_INFLIGHT, MAX_SECONDS, MAX_SECONDS);
}

static int parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *text, double min, int min_exclusive, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= min) || (min_exclusive && v == min) || v > MAX_SECONDS) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    long port, connections, size, inflight;
    if (argc != 8 && argc != 9) {
        return -1;
    }
    memset(&opt.addr, 0, sizeof opt.addr);
    if (parse_long(argv[2], 1, 65535, &port) != 0) {
        fprintf(stderr, "echoload: bad port '%s'\n", argv[2]);
        return -1;
    }
    if (strcmp(argv[1], "127.0.0.1") == 0) {
        opt.family = AF_INET;
        opt.addr.v4.sin_family = AF_INET;
        opt.addr.v4.sin_port = htons((uint16_t)port);
        opt.addr.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        opt.addr_len = sizeof opt.addr.v4;
    } else if (strcmp(argv[1], "::1") == 0) {
        opt.family = AF_INET6;
        opt.addr.v6.sin6_family = AF_INET6;
        opt.addr.v6.sin6_port = htons((uint16_t)port);
        opt.addr.v6.sin6_addr = in6addr_loopback;
        opt.addr_len = sizeof opt.addr.v6;
    } else {
        fprintf(stderr, "echoload: host must be 127.0.0.1 or ::1 (loopback only), not '%s'\n", argv[1]);
        return -1;
    }
    if (parse_long(argv[3], 1, MAX_CONNECTIONS, &connections) != 0
        || parse_long(argv[4], 1, MAX_SIZE, &size) != 0
        || parse_long(argv[5], 1, MAX_INFLIGHT, &inflight) != 0
        || parse_seconds(argv[6], 0, 0, &opt.warmup) != 0
        || parse_seconds(argv[7], 0, 1, &opt.duration) != 0) {
        fprintf(stderr, "echoload: an argument is out of range\n");
        return -1;
    }
    if (argc == 9) {
        if (strcmp(argv[8], "proxy-v2") != 0) {
            fprintf(stderr, "echoload: unknown option '%s'\n", argv[8]);
            return -1;
        }
        opt.proxy_v2 = 1;
    }
    opt.port = (int)port;
    opt.connections = (int)connections;
    opt.size = (uint64_t)size;
    opt.inflight = (int)inflight;
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)opt.connections + 32;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_conn(struct conn *c)
{
    c->fd = socket(opt.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail_conn(c, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        fail_conn(c, "TCP_NODELAY: %s", strerror(errno));
        return -1;
    }
    if (connect(c->fd, (const struct sockaddr *)&opt.addr, opt.addr_len) != 0 && errno != EINPROGRESS) {
        fail_conn(c, "connect: %s", strerror(errno));
        return -1;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        fail_conn(c, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    c->want_out = 1;
    return 0;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch < 0x20) {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    table = malloc(TABLE_SIZE);
    recv_buffer = malloc(RECV_BUFFER);
    conns = calloc((size_t)opt.connections, sizeof *conns);
    uint64_t *slots = calloc((size_t)opt.connections * (size_t)opt.inflight, sizeof *slots);
    struct epoll_event *events = calloc(MAX_EVENTS, sizeof *events);
    if (table == NULL || recv_buffer == NULL || conns == NULL || slots == NULL || events == NULL) {
        fprintf(stderr, "echoload: out of memory\n");
        return 1;
    }
    uint64_t x = 0x0123456789abcdefULL;
    for (size_t i = 0; i < TABLE_SIZE; i += 8) {
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t v = mix64(x);
        memcpy(table + i, &v, 8);
    }

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
        perror("echoload: epoll_create1");
        return 1;
    }

    uint64_t start = now_ns();
    uint64_t window_start_ns = start + (uint64_t)(opt.warmup * 1e9);
    window_end_ns = window_start_ns + (uint64_t)(opt.duration * 1e9);
    uint64_t measured_from = 0;

    alive = opt.connections;
    for (int i = 0; i < opt.connections; i++) {
        conns[i].id = (uint32_t)i;
        conns[i].fd = -1;
        conns[i].state = CONNECTING;
        conns[i].sent_at = slots + (size_t)i * (size_t)opt.inflight;
        open_conn(&conns[i]);
    }

    for (;;) {
        uint64_t t = now_ns();
        if (!recording && t >= window_start_ns) {
            recording = 1;
            measured_from = t;
            printf("WINDOW START\n");
            fflush(stdout);
        }
        if (t >= window_end_ns || alive == 0) {
            break;
        }
        uint64_t next = recording ? window_end_ns : window_start_ns;
        int timeout_ms = (int)((next - t + 999999) / 1000000);
        int n = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("echoload: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            uint32_t ev = events[i].events;
            if (c->state == CONNECTING) {
                if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                    on_connected(c);
                }
                continue;
            }
            if (c->state == OPEN && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                on_readable(c);
                try_send(c);
            } else if (c->state == OPEN && (ev & EPOLLOUT)) {
                try_send(c);
            }
        }
    }

    uint64_t end = now_ns();
    if (!recording) {
        measured_from = end; /* every connection failed before the window */
    }
    uint64_t window_end = end < window_end_ns ? end : window_end_ns;
    double seconds = window_end > measured_from ? (double)(window_end - measured_from) / 1e9 : 0;
    printf("WINDOW END\n");

    int open_at_end = 0;
    for (int i = 0; i < opt.connections; i++) {
        if (conns[i].state == OPEN) {
            open_at_end++;
        }
        if (conns[i].state == CONNECTING) {
            errors++;
            if (first_error[0] == '\0') {
                snprintf(first_error, sizeof first_error, "connection %d: never connected", i);
            }
        }
        if (conns[i].fd >= 0) {
            close(conns[i].fd);
        }
    }

    uint64_t bytes = messages * opt.size;
    printf("{\"messages\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"msgs_per_s\":%.1f,\"mib_per_s\":%.3f,"
           "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
           "\"errors\":%llu,\"mismatches\":%llu,\"connections\":%d,\"open_at_end\":%d,\"first_error\":",
        (unsigned long long)messages, (unsigned long long)bytes, seconds,
        seconds > 0 ? (double)messages / seconds : 0.0,
        seconds > 0 ? (double)bytes / 1048576.0 / seconds : 0.0,
        percentile_us(0.50), percentile_us(0.90), percentile_us(0.99), percentile_us(0.999), (double)max_ns / 1000.0,
        (unsigned long long)errors, (unsigned long long)mismatches, opt.connections, open_at_end);
    if (first_error[0] == '\0') {
        printf("null");
    } else {
        json_string(first_error);
    }
    printf("}\n");
    fflush(stdout);
    close(epoll_fd);
    free(events);
    free(slots);
    free(conns);
    free(recv_buffer);
    free(table);
    return 0;
}
