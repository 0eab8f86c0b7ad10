// trickle_clients: holds COUNT connections to HOST:PORT that each send an HTTP request head one
// byte per INTERVAL_MS and never finish it (a header value that goes on), for DURATION_S
// seconds; the slow clients of bench/slow_clients.sh. Prints one JSON object: how many
// connected, how many the server closed and how long after their connect, how many were held
// to the end (SIGTERM or SIGINT ends the run early, with the same report). Sends are spread over
// each interval; the open-files soft limit is raised to the hard limit first. Loopback or a
// test namespace only.
//   trickle_clients HOST PORT COUNT INTERVAL_MS DURATION_S
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_asked = 0;
static void ask_stop(int sig) {
  (void)sig;
  stop_asked = 1;
}

static const char kHead[] = "GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  double left = t - now_s();
  if (left <= 0) return;
  struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
  nanosleep(&ts, NULL);
}

struct client {
  int fd;
  unsigned sent;         // bytes of the head sent so far
  double connected_at;
  double closed_after;   // seconds after connect the server closed it, or -1
};

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s HOST PORT COUNT INTERVAL_MS DURATION_S\n", argv[0]);
    return 2;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
    fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
    return 2;
  }
  const int count = atoi(argv[3]);
  const double interval = atof(argv[4]) / 1000.0;
  const double duration = atof(argv[5]);
  if (count <= 0 || interval <= 0 || duration <= 0) return 2;
  signal(SIGTERM, ask_stop);
  signal(SIGINT, ask_stop);
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  struct client* clients = calloc((size_t)count, sizeof *clients);
  if (clients == NULL) return 1;
  for (int i = 0; i < count; ++i) {
    clients[i].fd = -1;
    clients[i].closed_after = -1;
  }
  int connected = 0, connect_failed = 0;
  const double start = now_s();
  for (int i = 0; i < count && !stop_asked; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++connect_failed;
      continue;
    }
    struct timeval tv = {3, 0};  // a blocking connect, bounded
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr*)&to, sizeof to) != 0) {
      close(fd);
      ++connect_failed;
      continue;
    }
    clients[i].fd = fd;
    clients[i].connected_at = now_s();
    ++connected;
  }
  const double connect_seconds = now_s() - start;
  fprintf(stderr, "trickle_clients: %d connected in %.1f s, %d failed\n", connected, connect_seconds, connect_failed);

  // Each interval in 10 slices, a tenth of the clients per slice: no burst of COUNT sends.
  const int slices = 10;
  const double end = now_s() + duration;
  int closed = 0;
  for (double slice_at = now_s(); slice_at < end && !stop_asked; slice_at += interval / slices) {
    sleep_until(slice_at);
    const long step = (long)((slice_at - start) / (interval / slices));
    for (int i = (int)(step % slices); i < count; i += slices) {
      struct client* c = &clients[i];
      if (c->fd < 0 || c->closed_after >= 0) continue;
      char byte;
      const ssize_t got = recv(c->fd, &byte, 1, MSG_DONTWAIT);
      const char next = c->sent < sizeof kHead - 1 ? kHead[c->sent] : 'a';
      if (got == 0 || (got < 0 && errno != EAGAIN) ||
          send(c->fd, &next, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
        c->closed_after = now_s() - c->connected_at;
        ++closed;
        continue;
      }
      ++c->sent;
    }
  }
  double first = -1, last = -1;
  unsigned long bytes = 0;
  for (int i = 0; i < count; ++i) {
    bytes += clients[i].sent;
    if (clients[i].closed_after < 0) continue;
    if (first < 0 || clients[i].closed_after < first) first = clients[i].closed_after;
    if (clients[i].closed_after > last) last = clients[i].closed_after;
  }
  printf("{\"clients\": %d, \"connected\": %d, \"connect_failed\": %d, \"connect_seconds\": %.2f, "
         "\"interval_ms\": %.0f, \"duration_s\": %.1f, \"bytes_sent\": %lu, \"closed_by_server\": %d, "
         "\"closed_after_s_min\": %.2f, \"closed_after_s_max\": %.2f, \"held_to_the_end\": %d}\n",
         count, connected, connect_failed, connect_seconds, interval * 1000, duration, bytes, closed, first, last,
         connected - closed);
  for (int i = 0; i < count; ++i) {
    if (clients[i].fd >= 0) close(clients[i].fd);
  }
  free(clients);
  return 0;
}
