/* A tiny C library that blocks the way C libraries do: it calls libc's
 * usleep, recv and poll directly. The monkey tests dlopen it and call it
 * from coroutines: under patch_all these calls must park the coroutine,
 * not the thread. */
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

int blk_sleep_ms(int ms) { return usleep((useconds_t)ms * 1000); }

long blk_recv(int fd, char *buf, long len) { return (long)recv(fd, buf, (size_t)len, 0); }

int blk_poll_in(int fd, int timeout_ms) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, timeout_ms);
}
