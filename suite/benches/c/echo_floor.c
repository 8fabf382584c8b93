/*
 * The floor for the echo bench: the least a server can do per round trip on
 * Linux. One thread, one level-triggered epoll set; per readable connection
 * exactly one recv and one send, per wake one epoll_wait for all ready
 * connections. No framework, no allocation, no readiness bookkeeping.
 *
 * Built by benches/echo.rs at bench time (see there) and called through
 * dlopen; it serves the listening socket it is given until the process ends.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int echo_floor_serve(int lfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	int fl = fcntl(lfd, F_GETFL);
	if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		return -1;
	struct epoll_event evs[256];
	static char buf[4096];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (;;) {
					int c = accept4(lfd, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (c < 0)
						break;
					int one = 1;
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
						close(c);
				}
				continue;
			}
			ssize_t r = recv(fd, buf, sizeof buf, 0);
			if (r > 0) {
				/* Round trips are small: the send never blocks here. */
				ssize_t off = 0;
				while (off < r) {
					ssize_t s = send(fd, buf + off, r - off, MSG_NOSIGNAL);
					if (s < 0) {
						if (errno == EINTR)
							continue;
						break;
					}
					off += s;
				}
				if (off < r)
					close(fd); /* closing drops it from the epoll set */
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(fd);
			}
		}
	}
}
