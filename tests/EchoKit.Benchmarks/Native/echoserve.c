/*
 * echoserve: the floor for the benchmark's echo servers. A plain single-threaded, level-triggered epoll echo server
 * on 127.0.0.1, one 64 KiB buffer per connection, one read per ready connection per loop, the rest of a write sent on
 * EPOLLOUT before that connection is read again (memory stays bounded). Run by hand beside the others (see
 * docs/BENCHMARKS.md, "One pump and fair turns"):
 *
 *   gcc -O2 -Wall -Wextra -Werror -o echoserve echoserve.c && ./echoserve 7100
 *   ./echoload 127.0.0.1 7100 100 32 16 1 5        # the rate load, with the benchmark's C client
 *
 * Prints "READY <port>" once listening; runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536
struct conn { int fd; int len; int off; char buf[BUF]; };

static void drop(struct conn *c) { close(c->fd); free(c); }

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7100;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (void *)&a, sizeof a) || listen(ls, 1024)) { perror("bind"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("READY %d\n", port); fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c) { close(fd); continue; }
                    c->fd = fd;
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (c->len == 0) {
                ssize_t r = read(c->fd, c->buf, BUF);
                if (r <= 0) { if (r < 0 && errno == EAGAIN) continue; drop(c); continue; }
                c->len = (int)r; c->off = 0;
            }
            ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
            if (w < 0 && errno != EAGAIN) { drop(c); continue; }
            if (w > 0) c->off += (int)w;
            struct epoll_event e = { .data.ptr = c };
            if (c->off < c->len) { e.events = EPOLLOUT; epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e); }
            else { int was_out = evs[i].events & EPOLLOUT; c->len = 0; if (was_out) { e.events = EPOLLIN; epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e); } }
        }
    }
}
