// Service: what a worker does with each connection (hello, echo; http later).
#pragma once

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
};

// `message` is the hello text already expanded for this worker.
std::unique_ptr<Service> make_service(ServiceKind kind, std::string message);

}  // namespace herdless
