// TcpConnection: the public Connection (connection.h) of one accepted TCP connection inside a
// worker's (or the admin endpoint's) loop: buffered writes with
// backpressure (stop reading while too much output is pending), close-after-flush (plain or
// lingering), edge-triggered epoll interest, and a place in the worker's idle list.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "herdless/connection.h"
#include "herdless/event_loop.h"
#include "herdless/fd.h"

namespace herdless {

class ConnectionOwner;

class TcpConnection final : public Connection, public EventHandler {
 public:
  // Output pending above this stops reading until it drains (backpressure).
  static constexpr size_t kHighWatermark = 256 * 1024;
  // Bounds of finish_lingering(); the owner closes a silent peer's connection at the deadline.
  static constexpr int64_t kLingerTimeNs = 5'000'000'000;
  static constexpr size_t kLingerMaxBytes = 1024 * 1024;

  // `worker`: the index Connection::worker() reports.
  TcpConnection(ConnectionOwner& owner, int fd, int worker = 0);

  // Sends now what the socket takes and buffers the rest.
  void write(std::string_view data) override;
  // Closes once all output is sent (at once when none is pending).
  void finish() override;
  // Like finish(), but for a response that refuses a request the peer may still be sending
  // (RFC 9112 9.6): once the output is sent, shuts down writing and reads and drops what
  // arrives until the peer closes, kLingerTime passes or kLingerMaxBytes were dropped, so
  // that a close with unread input (a reset) does not destroy the response at the peer.
  void finish_lingering() override;
  // Closes now (an error, an idle timeout, the end of a drain).
  void close() override;

  bool closed() const override { return !fd_; }
  size_t pending_output() const override { return out_.size() - out_offset_; }
  void set_no_delay(bool on) override;
  SocketAddress peer() const override;
  SocketAddress local() const override;
  bool lingering() const { return lingering_; }
  int64_t linger_deadline_ns() const { return linger_deadline_ns_; }
  int fd() const { return fd_.get(); }
  int64_t last_active_ns() const override { return last_active_ns_; }

  // Registers, updates or drops the epoll interest to match wanted_events().
  void refresh_interest();

  // The epoll interest this connection needs now (0: none, e.g. a hello fully sent).
  uint32_t wanted_events() const;
  void on_events(uint32_t events) override;

  // Intrusive links of the owner's lists (see connection_list.h): by last activity, and
  // lingering closes by deadline.
  TcpConnection* idle_prev = nullptr;
  TcpConnection* idle_next = nullptr;
  TcpConnection* linger_prev = nullptr;
  TcpConnection* linger_next = nullptr;

 private:
  void flush();
  void fail();  // a socket error: close and count it
  void shut(bool error);
  void read_ready(bool until_empty);  // until_empty: a short read does not prove the queue empty (FIN, urgent data)
  void start_linger();
  void discard_input();
  void touch();

  ConnectionOwner& owner_;
  Fd fd_;
  std::string out_;
  size_t out_offset_ = 0;
  bool finishing_ = false;
  bool linger_on_finish_ = false;
  bool lingering_ = false;  // output sent and write side shut: dropping input until EOF
  size_t linger_bytes_ = 0;
  int64_t linger_deadline_ns_ = 0;
  bool reading_ = true;
  bool registered_ = false;
  bool rearm_ = false;  // stopped reading with data maybe left: re-register (edge-triggered)
  uint32_t registered_events_ = 0;
  int64_t last_active_ns_ = 0;
};

// What a Connection needs from the worker that owns it.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual EventLoop& loop() = 0;
  // Bytes arrived (a view into a buffer valid only during the call).
  virtual void on_data(TcpConnection& conn, std::string_view data) = 0;
  // The peer closed its side (read returned 0).
  virtual void on_peer_closed(TcpConnection& conn) = 0;
  virtual void on_activity(TcpConnection& conn) = 0;
  // The connection began a lingering close: close it at conn.linger_deadline_ns() if the peer
  // has not closed by then (a silent peer raises no event that would end it).
  virtual void on_lingering(TcpConnection& conn) = 0;
  // The connection closed itself; the owner frees it after the current batch.
  virtual void on_closed(TcpConnection& conn, bool error) = 0;
};

}  // namespace herdless
