// Blocking test clients: connect, send, read until the server closes, with timeouts.
#pragma once

#include <chrono>
#include <string>

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

// The N of "worker=N" in a reply, or -1.
int worker_of(const std::string& reply);

}  // namespace herdless::testutil
