// Generator: the state and epoll loop of one load run (internal to src/load). Requests
// live in a fixed table of slots; every request gets the same timeout counted from its
// start, and starts happen in time order, so a FIFO of deadlines replaces a timer heap.
// Edge-triggered epoll, one registration per socket. The loop is in generator.cc, the
// per-socket I/O in generator_io.cc.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "arrival_schedule.h"
#include "client_socket.h"
#include "herdless/error.h"
#include "herdless/fd.h"
#include "herdless/load/load_options.h"
#include "herdless/load/load_result.h"

namespace herdless::load::detail {

enum class Outcome { completed, timed_out, refused, reset, closed, other };

// The outcome an errno of connect/send/read stands for.
Outcome classify(int error);

struct Connection {
  Fd fd;
  uint32_t serial = 0;  // bumped on every reuse of the slot; stale events carry an old one
  Clock::time_point started;  // latency origin: the intended start in an open loop
  bool connected = false;
  bool alt = false;  // sends LoadOptions::send_alt (an alternative request)
  std::size_t sent = 0;
  std::string head;  // the first bytes of the reply, for "worker=N"
  uint64_t bytes = 0;
};

struct Deadline {
  Clock::time_point at;
  uint32_t slot;
  uint32_t serial;
};

class Generator {
 public:
  Generator(const LoadOptions& options, Fd epoll);
  Result<LoadResult> run();

 private:
  bool hold_mode() const { return options_.mode == LoadOptions::Mode::hold; }
  bool udp_mode() const { return options_.mode == LoadOptions::Mode::udp; }
  bool open_loop() const { return schedule_.open_loop(); }

  // generator.cc: scheduling.
  // Expires deadlines and starts what the current phase allows; false once the run is over.
  bool step(Clock::time_point now);
  bool may_start() const;
  void fill(Clock::time_point now);
  void fill_open_loop(Clock::time_point now);
  void expire(Clock::time_point now);
  Clock::time_point next_wake(Clock::time_point now) const;
  void report_progress(Clock::time_point now);
  void count(Outcome outcome, const Error& error);
  // Whether the request just counted in result_.attempted is an alternative one.
  bool alternative_now() const;
  // The split tally of a request's kind, when the result is split; else nullptr.
  RequestTally* tally(bool alt);
  void attribute(const std::string& head);

  // generator_io.cc: one socket.
  // Starts one request whose latency runs from `started`. False if it failed at once
  // (already counted).
  bool start_one(Clock::time_point started);
  void handle(const epoll_event& event);
  void on_connected(Connection& c);
  bool flush_send(uint32_t slot);
  void read_all(uint32_t slot);
  void read_datagram(uint32_t slot);
  void finish(uint32_t slot, Outcome outcome, const Error& error);

  const LoadOptions& options_;
  Fd epoll_;
  std::vector<Connection> slots_;
  std::vector<uint32_t> free_;
  std::deque<Deadline> deadlines_;
  std::vector<char> buffer_ = std::vector<char>(64 * 1024);
  SourceAddresses sources_;
  ArrivalSchedule schedule_;
  uint64_t started_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t connecting_ = 0;  // hold mode: started but not yet connected
  Clock::time_point begin_;
  Clock::time_point stop_starting_ = Clock::time_point::max();
  Clock::time_point hold_end_ = Clock::time_point::max();
  Clock::time_point paused_until_;
  Clock::time_point ramp_done_;  // hold mode: when the last connection connected or failed
  Clock::time_point next_progress_ = Clock::time_point::max();
  LoadResult result_;
};

}  // namespace herdless::load::detail
