// Connection: what a TCP service sees of one accepted connection. Every call is made on the
// worker's own thread, from inside a Service callback or a timer of the same worker; a
// Connection is never shared between workers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "herdless/socket_address.h"

namespace herdless {

// What a service keeps per connection (a parser's state, a session): set it in on_open, find
// it again in every later callback; it is destroyed with the connection.
class ConnectionState {
 public:
  virtual ~ConnectionState() = default;
};

class Connection {
 public:
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends what the socket takes now and buffers the rest (no call blocks). While more than
  // 256 KiB wait to be sent, the connection stops reading (backpressure): on_data resumes
  // once the peer has taken the output.
  virtual void write(std::string_view data) = 0;
  // Closes once every buffered byte is sent (at once when none is).
  virtual void finish() = 0;
  // Shuts down: once the output is sent, shuts the write side (the peer reads EOF after the
  // last byte), then reads and drops what the peer still sends until it closes (at most 5 s
  // and 1 MiB), so that unread input does not turn the close into a reset that destroys the
  // answer at the peer. For refusing a request the peer may still be sending.
  virtual void finish_lingering() = 0;
  // Closes now; buffered output is dropped.
  virtual void close() = 0;

  virtual bool closed() const = 0;
  // Bytes written but not yet taken by the socket.
  virtual size_t pending_output() const = 0;
  // Monotonic time (CLOCK_MONOTONIC, ns) of the connection's last read or write.
  virtual int64_t last_active_ns() const = 0;
  // Disables (true) or enables Nagle's algorithm (TCP_NODELAY) for this connection.
  virtual void set_no_delay(bool on) = 0;
  // The client's and our address of the connection (one system call each).
  virtual SocketAddress peer() const = 0;
  virtual SocketAddress local() const = 0;

  // The index of the worker (slot) serving the connection: 0 .. workers - 1.
  int worker() const { return worker_; }

  // The service's per-connection state, if it set one.
  ConnectionState* state() const { return state_.get(); }
  template <class T>
  T* state_as() const { return static_cast<T*>(state_.get()); }
  void set_state(std::unique_ptr<ConnectionState> state) { state_ = std::move(state); }

 protected:
  explicit Connection(int worker) : worker_(worker) {}

 private:
  int worker_;
  std::unique_ptr<ConnectionState> state_;
};

}  // namespace herdless
