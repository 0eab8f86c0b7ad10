/* minimal_server: the reference "minimal C server" for bench/accept_rate.sh.
 *
 *   minimal_server PORT THREADS [MESSAGE]
 *
 * THREADS threads, each with its own SO_REUSEPORT listener on 127.0.0.1:PORT and its own
 * epoll loop: accept4 (non-blocking) until EAGAIN, write MESSAGE ("hello world.\n" by
 * default), close. It never reads, so a client that sends data may see a reset. With PORT 0
 * the first listener takes a kernel-chosen port, printed as "port N\n" on stdout, and the
 * others bind that port. Runs until SIGTERM or SIGINT, then exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 1024

struct worker {
  pthread_t thread;
  int listener;
};

static const char *message = "hello world.\n";
static size_t message_length;
static int stop_fd = -1; /* eventfd: readable once a stop signal arrived; never drained */

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* socket + SO_REUSEPORT + bind(127.0.0.1:port) + listen, non-blocking. */
static int open_listener(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("setsockopt SO_REUSEPORT");
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  return fd;
}

static uint16_t bound_port(int fd) {
  struct sockaddr_in address;
  socklen_t length = sizeof address;
  if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) die("getsockname");
  return ntohs(address.sin_port);
}

/* Accepts until EAGAIN; each connection gets the message and is closed at once. */
static void accept_all(int listener) {
  for (;;) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return; /* EAGAIN, or EMFILE and the like: back to epoll */
    }
    ssize_t written = send(fd, message, message_length, MSG_NOSIGNAL);
    (void)written; /* a client that already left is not our problem */
    close(fd);
  }
}

static void *run_worker(void *arg) {
  struct worker *self = arg;
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) die("epoll_create1");
  struct epoll_event event = {.events = EPOLLIN, .data.fd = self->listener};
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, self->listener, &event) < 0) die("epoll_ctl listener");
  event.data.fd = stop_fd;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, stop_fd, &event) < 0) die("epoll_ctl stop");
  for (;;) {
    struct epoll_event events[16];
    int n = epoll_wait(epoll, events, 16, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == stop_fd) {
        close(epoll);
        return NULL;
      }
      accept_all(self->listener);
    }
  }
}

static long parse_number(const char *text, long min, long max, const char *what) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
    fprintf(stderr, "minimal_server: invalid %s: %s\n", what, text);
    exit(2);
  }
  return value;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: minimal_server PORT THREADS [MESSAGE]\n");
    return 2;
  }
  uint16_t port = (uint16_t)parse_number(argv[1], 0, 65535, "port");
  int threads = (int)parse_number(argv[2], 1, MAX_THREADS, "thread count");
  if (argc == 4) message = argv[3];
  message_length = strlen(message);

  /* Block the stop signals in every thread; main waits for them with sigwait. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) die("pthread_sigmask");
  stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) die("eventfd");

  static struct worker workers[MAX_THREADS];
  for (int i = 0; i < threads; ++i) {
    workers[i].listener = open_listener(port);
    if (i == 0 && port == 0) {
      port = bound_port(workers[0].listener);
      printf("port %u\n", (unsigned)port);
      fflush(stdout);
    }
  }
  for (int i = 0; i < threads; ++i) {
    if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) die("pthread_create");
  }

  int signal_number = 0;
  if (sigwait(&stop_signals, &signal_number) != 0) die("sigwait");
  uint64_t one = 1;
  if (write(stop_fd, &one, sizeof one) != (ssize_t)sizeof one) die("write eventfd");
  for (int i = 0; i < threads; ++i) {
    pthread_join(workers[i].thread, NULL);
    close(workers[i].listener);
  }
  close(stop_fd);
  return 0;
}
