#!/usr/bin/env bash
# What waking a sleeping thread costs on this machine, in CPU time: the floor under any
# relay that hands each message from one thread to another at a paced rate.
#
# Two threads: one sleeps 1 ms, then writes an eventfd; the other waits for it in
# epoll_wait, as an event loop does. Prints the CPU time (user + system, both threads) per
# round: two threads woken from sleep. Needs a C compiler.
#
# Usage: scripts/wake-cost.sh [ROUNDS]   (default 4000, about 4 s)
set -euo pipefail
rounds="${1:-4000}"
command -v cc >/dev/null || { echo "wake-cost: a C compiler (cc) is needed" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/wake.c" <<'C'
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int efd;

static void *waiter(void *unused) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    for (;;) {
        struct epoll_event out;
        uint64_t value;
        if (epoll_wait(ep, &out, 1, -1) == 1 && read(efd, &value, sizeof value) < 0) return NULL;
    }
}

static double seconds(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

int main(int argc, char **argv) {
    int rounds = atoi(argv[1]);
    efd = eventfd(0, EFD_NONBLOCK);
    pthread_t thread;
    pthread_create(&thread, NULL, waiter, NULL);
    struct timespec pause = {0, 1000000};
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    for (int i = 0; i < rounds; i++) {
        uint64_t one = 1;
        nanosleep(&pause, NULL);
        if (write(efd, &one, sizeof one) < 0) return 1;
    }
    getrusage(RUSAGE_SELF, &after);
    double cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_stime);
    printf("CPU per round (two threads woken from sleep): %.1f us over %d rounds\n", cpu * 1e6 / rounds, rounds);
    return 0;
}
C
cc -O2 -pthread -o "$work/wake" "$work/wake.c"
"$work/wake" "$rounds"
