// Blocking test clients with timeouts: TCP (connect, send, read until the server closes) and
// UDP (send a datagram, wait for the one in reply).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "herdless/address.h"
#include "herdless/error.h"
#include "herdless/fd.h"

namespace herdless::testutil {

// Connects (blocking, bounded by `timeout`) and returns the socket, with SO_RCVTIMEO set.
Result<Fd> connect_to(const ListenAddress& server, std::chrono::milliseconds timeout = std::chrono::seconds(2));

// Connects, optionally sends `request`, reads until EOF; the reply.
Result<std::string> fetch(const ListenAddress& server, const std::string& request = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(2));

// Reads until EOF or `want` bytes or the socket's timeout.
Result<std::string> read_some(int fd, size_t want);

// UDP: a socket connected to `server` (so it hears only the server), with timeouts.
Result<Fd> udp_socket_to(const ListenAddress& server, std::chrono::milliseconds timeout = std::chrono::seconds(2));
// Sends one datagram and waits (up to the socket's timeout) for one in reply.
Result<std::string> udp_exchange(int fd, std::string_view datagram);
// Waits (up to the socket's timeout) for one datagram.
Result<std::string> udp_receive(int fd);
// From a new socket (a new source port): sends `datagram`, returns the replying worker.
Result<int> udp_worker_of(const ListenAddress& server, std::string_view datagram);

// The N of "worker=N" in a reply, or -1.
int worker_of(const std::string& reply);

}  // namespace herdless::testutil
