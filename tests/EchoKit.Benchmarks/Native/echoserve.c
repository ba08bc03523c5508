/*
 * echoserve: the floor for the benchmark's echo servers (`--servers c-epoll`). A plain single-threaded,
 * level-triggered epoll echo server on 127.0.0.1: a non-blocking accept4 loop, TCP_NODELAY, one 64 KiB buffer per
 * connection, one read per readable connection per turn of the loop and the bytes written straight back. What the
 * socket does not take stays in the buffer and the connection waits for EPOLLOUT, not EPOLLIN, until it is sent, so
 * memory stays bounded (64 KiB per connection) whatever the client does. EOF or an error closes the connection.
 *
 *   echoserve PORT [127.0.0.1]
 *
 * The benchmark compiles it with gcc at run time (Orchestration/NativeBuild.cs) and runs it in place of
 * `serve NAME --port N`, with the same protocol (Orchestration/ServerProcess.cs, ServeCommand.cs):
 *   - prints "READY <port>" on stdout once it listens;
 *   - answers a line "allocated" on stdin with "ALLOCATED <bytes>": the bytes it has malloc'd so far (one struct conn,
 *     about 64 KiB, per accepted connection; nothing per message), the C counterpart of GC.GetTotalAllocatedBytes;
 *   - exits 0 when stdin ends (the orchestrator closes it) or on SIGTERM/SIGINT.
 * By hand:
 *
 *   gcc -O2 -Wall -Wextra -Werror -o echoserve echoserve.c && ./echoserve 7100
 *   ./echoload 127.0.0.1 7100 100 32 16 1 5        # the rate load, with the benchmark's C client
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

struct conn {
    int fd;
    int len; /* bytes in buf still to be written back, from off */
    int off;
    char buf[BUF_SIZE];
};

/* epoll tags for the descriptors that are not connections. */
static char listen_tag, stdin_tag, signal_tag;

static int ep;
static unsigned long long allocated;

static int watch(int fd, int op, unsigned events, void *ptr) {
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    return epoll_ctl(ep, op, fd, &ev);
}

static void drop(struct conn *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

static void accept_all(int ls) {
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("echoserve: accept4");
            return; /* EMFILE and the like: the listener stays readable and the next turn retries */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) { close(fd); continue; }
        allocated += sizeof *c;
        c->fd = fd;
        c->len = c->off = 0;
        if (watch(fd, EPOLL_CTL_ADD, EPOLLIN, c) < 0) { perror("echoserve: epoll_ctl"); drop(c); }
    }
}

/* Writes what is pending; returns -1 when the connection is dead. */
static int flush(struct conn *c) {
    while (c->off < c->len) {
        ssize_t w = send(c->fd, c->buf + c->off, (size_t)(c->len - c->off), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->off += (int)w;
    }
    c->len = c->off = 0;
    return 0;
}

static void serve(struct conn *c) {
    int waiting_out = c->len > 0;
    if (!waiting_out) {
        ssize_t r = read(c->fd, c->buf, BUF_SIZE);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (r <= 0) { drop(c); return; } /* EOF or error */
        c->len = (int)r;
        c->off = 0;
    }
    if (flush(c) < 0) { drop(c); return; }
    int pending = c->len > 0;
    if (pending != waiting_out && watch(c->fd, EPOLL_CTL_MOD, pending ? EPOLLOUT : EPOLLIN, c) < 0) drop(c);
}

/* Reads stdin; returns 1 when it ended. Answers each "allocated" line. */
static int read_stdin(void) {
    static char line[256];
    static size_t used;
    ssize_t r = read(STDIN_FILENO, line + used, sizeof line - used);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? 0 : 1;
    if (r == 0) return 1;
    used += (size_t)r;
    char *start = line, *nl;
    while ((nl = memchr(start, '\n', used - (size_t)(start - line)))) {
        *nl = '\0';
        char *s = start, *e = nl;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
        if (e - s == 9 && memcmp(s, "allocated", 9) == 0) {
            printf("ALLOCATED %llu\n", allocated);
            fflush(stdout);
        }
        start = nl + 1;
    }
    used -= (size_t)(start - line);
    memmove(line, start, used);
    if (used == sizeof line) used = 0; /* an overlong line: drop it */
    return 0;
}

static int parse_port(const char *s) {
    char *end;
    errno = 0;
    long port = strtol(s, &end, 10);
    return errno == 0 && *s && !*end && port >= 1 && port <= 65535 ? (int)port : -1;
}

int main(int argc, char **argv) {
    int port = argc >= 2 && argc <= 3 ? parse_port(argv[1]) : -1;
    if (port < 0) {
        fprintf(stderr, "usage: echoserve PORT [127.0.0.1]   (PORT 1-65535)\n");
        return 2;
    }
    if (argc == 3 && strcmp(argv[2], "127.0.0.1") != 0) {
        fprintf(stderr, "echoserve: listens on 127.0.0.1 only, not '%s'\n", argv[2]);
        return 2;
    }

    /* SIGPIPE: a reader of stdout that went away must not kill us (sockets use MSG_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (ls < 0) { perror("echoserve: socket"); return 1; }
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 4096) < 0) {
        fprintf(stderr, "echoserve: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || sfd < 0 || watch(ls, EPOLL_CTL_ADD, EPOLLIN, &listen_tag) < 0 || watch(sfd, EPOLL_CTL_ADD, EPOLLIN, &signal_tag) < 0) {
        perror("echoserve: epoll");
        return 1;
    }
    /* stdin: the orchestrator's pipe (or a terminal). A file or /dev/null cannot be polled: then only a signal stops us. */
    if (watch(STDIN_FILENO, EPOLL_CTL_ADD, EPOLLIN, &stdin_tag) < 0 && errno != EPERM) {
        perror("echoserve: epoll stdin");
        return 1;
    }

    printf("READY %d\n", port);
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("echoserve: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &listen_tag) accept_all(ls);
            else if (p == &stdin_tag) { if (read_stdin()) return 0; }
            else if (p == &signal_tag) return 0;
            else serve(p);
        }
    }
}
