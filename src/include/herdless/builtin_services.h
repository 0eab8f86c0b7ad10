// The built-in services of `herdless serve`, written on the public Service and
// DatagramService interfaces (service.h, datagram_service.h) like a library user's: hello,
// echo, or http (a fixed response over HTTP/1.1, see http/http_service.h); UDP: hello, echo.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "herdless/datagram_service.h"
#include "herdless/serve_config.h"
#include "herdless/service.h"

namespace herdless {

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
// hello: the message to every datagram; echo: each datagram back (http: as hello, the body).
std::unique_ptr<DatagramService> make_datagram_service(const ServiceOptions& options);

}  // namespace herdless
