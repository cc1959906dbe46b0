/*
 * Why this file exists: valgrind 3.19 dies with an internal SIGSEGV when libdispatch's
 * signal thread calls sigsuspend() with a mask that lives in read-only memory (valgrind
 * writes to the mask it is given). Preloading this sigsuspend, which copies the mask to a
 * local first and makes the system call itself, lets the Swift binaries run under
 * callgrind. Used by scripts/callgrind-relay.sh only; never linked into the product.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy;
    memcpy(&copy, mask, sizeof copy);
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8);
}
