// Service: what a worker does with each connection: hello, echo, or http (a fixed response
// over HTTP/1.1, see http/http_service.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "herdless/connection.h"
#include "herdless/serve_config.h"

namespace herdless {

class Service {
 public:
  virtual ~Service() = default;
  // A connection was accepted.
  virtual void on_open(Connection& conn) = 0;
  // Bytes arrived.
  virtual void on_data(Connection& conn, std::string_view data) = 0;
  // The peer shut its side; by default finish sending and close.
  virtual void on_peer_closed(Connection& conn) { conn.finish(); }
  // The worker's periodic tick (every 20 ms), with its monotonic time: for the service's own
  // deadlines (the http service's request-head timeout).
  virtual void on_tick(int64_t /*now_ns*/) {}
};

// What a worker's service is made from.
struct ServiceOptions {
  ServiceKind kind = ServiceKind::hello;
  std::string message;                    // hello: the text, already expanded for this worker
  std::string http_body = "hello world.";  // http: the body of every 200 response
  uint64_t http_max_body = 1 << 20;        // http: request bodies over this get 413
  // http: a connection whose request line and headers are not all in this long after the
  // request began (the connection opened, or the next request's first byte) is closed.
  std::chrono::milliseconds http_header_timeout{60'000};
  int worker = 0;  // the worker's index, for log lines
};

std::unique_ptr<Service> make_service(const ServiceOptions& options);

}  // namespace herdless
