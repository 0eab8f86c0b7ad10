// AdminServer: the supervisor's small HTTP endpoint: GET /metrics (Prometheus text) and
// GET /stats (JSON). Runs in the supervisor's loop; one request per connection, read with the
// same strict parser as the http service (http/request_parser.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "herdless/address.h"
#include "herdless/tcp_connection.h"
#include "herdless/event_loop.h"
#include "herdless/http/request_parser.h"
#include "herdless/stats_snapshot.h"

namespace herdless {

class AdminServer final : public ConnectionOwner {
 public:
  using SnapshotFn = std::function<StatsSnapshot()>;

  // `inherited_fd` >= 0 adopts a listening socket handed over by a binary upgrade.
  static Result<std::unique_ptr<AdminServer>> create(EventLoop& loop, const ListenAddress& address,
                                                     SnapshotFn snapshot, int inherited_fd = -1);
  ~AdminServer() override;

  const ListenAddress& address() const { return bound_; }
  int listen_fd() const { return listen_.get(); }

  EventLoop& loop() override { return loop_; }
  void on_data(TcpConnection& conn, std::string_view data) override;
  void on_peer_closed(TcpConnection& conn) override;
  void on_activity(TcpConnection&) override {}
  // The admin endpoint never lingers (its refusals use finish()); were it to, close at once
  // rather than keep an untimed connection.
  void on_lingering(TcpConnection& conn) override { conn.close(); }
  void on_closed(TcpConnection& conn, bool error) override;

  // The response to one request head ("GET /stats HTTP/1.1\r\nHost: x", without the blank line
  // that ends it), status line included.
  std::string respond(std::string_view request_head) const;

 private:
  AdminServer(EventLoop& loop, SnapshotFn snapshot);
  void accept_ready();
  // The response to a request the parser has read (request_done) or refused (error).
  std::string respond(const http::RequestParser& parser, http::RequestParser::Event event) const;

  static constexpr size_t kMaxConnections = 64;

  EventLoop& loop_;
  SnapshotFn snapshot_;
  Fd listen_;
  ListenAddress bound_;
  CallbackHandler accept_handler_;
  std::unordered_map<TcpConnection*, http::RequestParser> requests_;  // each connection's request
};

}  // namespace herdless
