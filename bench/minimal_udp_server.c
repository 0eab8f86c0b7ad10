/* minimal_udp_server: the reference "minimal C recvmmsg server" for bench/udp_rate.sh.
 *
 *   minimal_udp_server HOST PORT [THREADS [echo|hello [MESSAGE]]]
 *
 * THREADS threads (0 or absent: one per online CPU), each with its own SO_REUSEPORT UDP
 * socket bound to HOST:PORT (an IPv4 or IPv6 literal), each a blocking loop of recvmmsg
 * (up to 64 datagrams, MSG_WAITFORONE) and sendmmsg of the replies, every reply to the
 * address its request came from. `echo` (the default) sends each datagram back as it came;
 * `hello` answers every datagram with MESSAGE ("hello world.\n" by default). With PORT 0
 * the first socket takes a kernel-chosen port and the others bind that port. Once every
 * socket is bound it prints "listening on udp://HOST:PORT\n" on stdout. Runs until SIGTERM
 * or SIGINT, then exits 0 (the sockets have a 100 ms receive timeout, so every thread sees
 * the stop within 100 ms).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define BATCH 64
#define DATAGRAM_BYTES 65536 /* any UDP payload fits */

struct worker {
  pthread_t thread;
  int socket;
};

static const char *message = "hello world.\n";
static size_t message_length;
static int echo = 1;
static atomic_int stopping; /* set by main once a stop signal arrived */

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* socket + SO_REUSEPORT + 100 ms receive timeout + bind(address), blocking. */
static int open_socket(const struct sockaddr_storage *address, socklen_t length) {
  int fd = socket(address->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("setsockopt SO_REUSEPORT");
  struct timeval timeout = {.tv_sec = 0, .tv_usec = 100 * 1000};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0) die("setsockopt SO_RCVTIMEO");
  if (bind(fd, (const struct sockaddr *)address, length) < 0) die("bind");
  return fd;
}

static uint16_t bound_port(int fd) {
  struct sockaddr_storage address;
  socklen_t length = sizeof address;
  if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) die("getsockname");
  if (address.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
  return ntohs(((struct sockaddr_in *)&address)->sin_port);
}

/* Sends replies[0..count) with as few sendmmsg calls as it takes; a reply the kernel
 * refuses (the sender's address became unusable, ...) is dropped, as UDP may. */
static void send_all(int fd, struct mmsghdr *replies, unsigned count) {
  unsigned done = 0;
  while (done < count) {
    int sent = sendmmsg(fd, replies + done, count - done, 0);
    if (sent > 0) {
      done += (unsigned)sent;
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else {
      ++done; /* the first one failed: skip it */
    }
  }
}

static void *run_worker(void *arg) {
  struct worker *self = arg;
  char(*buffers)[DATAGRAM_BYTES] = malloc(BATCH * DATAGRAM_BYTES); /* only what arrives is touched */
  if (buffers == NULL) die("malloc");
  struct sockaddr_storage peers[BATCH];
  struct iovec requests_iov[BATCH], replies_iov[BATCH];
  struct mmsghdr requests[BATCH], replies[BATCH];
  memset(requests, 0, sizeof requests);
  memset(replies, 0, sizeof replies);
  for (int i = 0; i < BATCH; ++i) {
    requests_iov[i].iov_base = buffers[i];
    requests_iov[i].iov_len = DATAGRAM_BYTES;
    requests[i].msg_hdr.msg_iov = &requests_iov[i];
    requests[i].msg_hdr.msg_iovlen = 1;
    requests[i].msg_hdr.msg_name = &peers[i];
    requests[i].msg_hdr.msg_namelen = sizeof peers[i];
    replies[i].msg_hdr.msg_iov = &replies_iov[i];
    replies[i].msg_hdr.msg_iovlen = 1;
    replies[i].msg_hdr.msg_name = &peers[i];
    replies_iov[i].iov_base = echo ? buffers[i] : (void *)message;
    replies_iov[i].iov_len = message_length;
  }
  while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
    /* Blocks for the first datagram (up to the receive timeout), then takes what is queued. */
    int n = recvmmsg(self->socket, requests, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      die("recvmmsg");
    }
    for (int i = 0; i < n; ++i) {
      replies[i].msg_hdr.msg_namelen = requests[i].msg_hdr.msg_namelen;
      requests[i].msg_hdr.msg_namelen = sizeof peers[i]; /* for the next recvmmsg */
      if (echo) replies_iov[i].iov_len = requests[i].msg_len;
    }
    send_all(self->socket, replies, (unsigned)n);
  }
  free(buffers);
  return NULL;
}

static long parse_number(const char *text, long min, long max, const char *what) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
    fprintf(stderr, "minimal_udp_server: invalid %s: %s\n", what, text);
    exit(2);
  }
  return value;
}

/* HOST (IPv4 or IPv6 literal) and PORT as a socket address; its length in *length. */
static struct sockaddr_storage parse_address(const char *host, uint16_t port, socklen_t *length) {
  struct sockaddr_storage address;
  memset(&address, 0, sizeof address);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *length = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *length = sizeof *v6;
  } else {
    fprintf(stderr, "minimal_udp_server: invalid host (want an IPv4 or IPv6 literal): %s\n", host);
    exit(2);
  }
  return address;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 6) {
    fprintf(stderr, "usage: minimal_udp_server HOST PORT [THREADS [echo|hello [MESSAGE]]]\n");
    return 2;
  }
  uint16_t port = (uint16_t)parse_number(argv[2], 0, 65535, "port");
  int threads = argc > 3 ? (int)parse_number(argv[3], 0, MAX_THREADS, "thread count") : 0;
  if (threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
  }
  if (argc > 4) {
    if (strcmp(argv[4], "echo") == 0) {
      echo = 1;
    } else if (strcmp(argv[4], "hello") == 0) {
      echo = 0;
    } else {
      fprintf(stderr, "minimal_udp_server: invalid mode (want echo or hello): %s\n", argv[4]);
      return 2;
    }
  }
  if (argc > 5) message = argv[5];
  message_length = strlen(message);
  socklen_t length = 0;
  struct sockaddr_storage address = parse_address(argv[1], port, &length);

  /* Block the stop signals in every thread; main waits for them with sigwait. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) die("pthread_sigmask");

  static struct worker workers[MAX_THREADS];
  for (int i = 0; i < threads; ++i) {
    workers[i].socket = open_socket(&address, length);
    if (i == 0 && port == 0) {
      port = bound_port(workers[0].socket);
      address = parse_address(argv[1], port, &length);
    }
  }
  for (int i = 0; i < threads; ++i) {
    if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) die("pthread_create");
  }
  const int v6 = address.ss_family == AF_INET6;
  printf("listening on udp://%s%s%s:%u\n", v6 ? "[" : "", argv[1], v6 ? "]" : "", (unsigned)port);
  fflush(stdout);

  int signal_number = 0;
  if (sigwait(&stop_signals, &signal_number) != 0) die("sigwait");
  atomic_store(&stopping, 1);
  for (int i = 0; i < threads; ++i) {
    pthread_join(workers[i].thread, NULL);
    close(workers[i].socket);
  }
  return 0;
}
