// The http service (--service http): answers every GET with 200 and --http-body, and HEAD
// with the same headers and no body, over HTTP/1.1 keep-alive connections; the job nginx's
// `return 200 "..."` does. Pipelined requests are answered in order, in one write per read;
// HTTP/1.0 and "Connection: close" are honoured; request bodies are read and discarded up to
// --http-max-body. Other methods get 405; malformed requests get 400 (413, 431, 501, 505 for
// limits and unsupported framing) and the connection closes after the response.
#pragma once

#include <memory>

#include "herdless/builtin_services.h"

namespace herdless {

std::unique_ptr<Service> make_http_service(const ServiceOptions& options);

}  // namespace herdless
