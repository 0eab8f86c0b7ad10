// Service: a TCP protocol server's code, run inside a herdless worker. The server calls a
// ServiceFactory once in each worker (and again for each new worker after a reload or a crash;
// a stall rescue replaces a worker's listening sockets, not the worker: no new call); that
// worker's connections then all go to the one Service object, on the
// worker's own thread, one callback at a time: no callback needs a lock for the service's own
// members. A Service outlives every connection it was given.
//
// The callbacks of one connection come in this order:
//   on_open, then on_data any number of times, then on_peer_closed (only when the peer shuts
//   its side first), then on_close (always, exactly once, whoever closed).
// A callback must not block (no sleep, no blocking I/O, no long computation): the worker's
// other connections wait while it runs, and a worker that stops accepting for
// --stall-threshold is taken for stalled and skipped by the steering.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "herdless/connection.h"
#include "herdless/worker_context.h"

namespace herdless {

class Service {
 public:
  virtual ~Service() = default;
  // A connection was accepted. The service may write, close, or set its state here.
  virtual void on_open(Connection& conn) = 0;
  // Bytes arrived: as the socket delivered them, not framed (a request may arrive in several
  // calls, several requests in one). `data` is valid only during the call: keep what is
  // needed in the connection's state.
  virtual void on_data(Connection& conn, std::string_view data) = 0;
  // The peer shut its side (it sends nothing more); the connection can still write. By
  // default: finish sending and close.
  virtual void on_peer_closed(Connection& conn) { conn.finish(); }
  // The connection is closed (by either side, an error, the idle timeout or the end of a
  // drain); its state is still there and is destroyed after this call. Writing does nothing.
  virtual void on_close(Connection& /*conn*/) {}
  // The worker's housekeeping tick, about every 20 ms, with the monotonic time in ns: for the
  // service's own deadlines (timers from WorkerContext serve the same purpose one by one).
  virtual void on_tick(int64_t /*now_ns*/) {}
  // The worker has begun to drain (a reload replaced it, or the server is stopping): it has
  // taken what waited in its queue (those connections were opened first) and accepts nothing
  // more; its open connections have until --drain-timeout to finish, then they are closed.
  // Called once. By default nothing: request/response connections end by themselves; a
  // protocol whose connections stay open (subscriptions, streams) should tell its clients and
  // finish() them here.
  virtual void on_drain() {}
};

// Makes the Service of one worker. Called in that worker (its process, or its thread in
// --mode thread) before it accepts anything; `context` stays valid for the service's life.
// A null result stops the worker with an error (it is restarted with back-off).
using ServiceFactory = std::function<std::unique_ptr<Service>(WorkerContext& context)>;

}  // namespace herdless
