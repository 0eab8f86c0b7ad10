// The epoll loop of the load generator. Connections live in a fixed table of slots; every
// connection gets the same timeout, so start order is deadline order and a FIFO of
// deadlines replaces a timer heap. Edge-triggered epoll: one registration per connection.
#include "herdless/load/load_generator.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <deque>
#include <vector>

#include "client_socket.h"
#include "herdless/fd.h"

namespace herdless::load {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReplyHeadBytes = 1024;  // kept from each reply for "worker=N"
constexpr auto kLocalErrorPause = std::chrono::milliseconds(1);
constexpr auto kMaxWait = std::chrono::milliseconds(250);
constexpr int kMaxEvents = 256;

enum class Outcome { completed, timed_out, refused, reset, closed, other };

Outcome classify(int error) {
  switch (error) {
    case ECONNREFUSED: return Outcome::refused;
    case ECONNRESET:
    case EPIPE: return Outcome::reset;
    case ETIMEDOUT: return Outcome::timed_out;
    default: return Outcome::other;
  }
}

struct Connection {
  Fd fd;
  uint32_t serial = 0;  // bumped on every reuse of the slot; stale events carry an old one
  Clock::time_point started;
  bool connected = false;
  std::size_t sent = 0;
  std::string head;
  uint64_t bytes = 0;
};

struct Deadline {
  Clock::time_point at;
  uint32_t slot;
  uint32_t serial;
};

class Generator {
 public:
  explicit Generator(const LoadOptions& options, Fd epoll);
  Result<LoadResult> run();

 private:
  bool connect_mode() const { return options_.mode == LoadOptions::Mode::connect; }
  bool may_start() const;
  void fill(Clock::time_point now);
  // Starts one connection. False if it failed synchronously (already counted).
  bool start_one();
  void handle(const epoll_event& event);
  void on_connected(Connection& c);
  bool flush_send(uint32_t slot);
  void read_all(uint32_t slot);
  void expire(Clock::time_point now);
  void finish(uint32_t slot, Outcome outcome, const Error& error);
  void count(Outcome outcome, const Error& error);
  void attribute(const std::string& head);
  Clock::time_point next_wake(Clock::time_point now) const;
  // Expires deadlines and starts what the current phase allows; false once the run is over.
  bool step(Clock::time_point now);

  const LoadOptions& options_;
  Fd epoll_;
  std::vector<Connection> slots_;
  std::vector<uint32_t> free_;
  std::deque<Deadline> deadlines_;
  std::vector<char> buffer_ = std::vector<char>(64 * 1024);
  SourceAddresses sources_;
  uint64_t started_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t connecting_ = 0;  // hold mode: started but not yet connected
  Clock::time_point stop_starting_ = Clock::time_point::max();
  Clock::time_point hold_end_ = Clock::time_point::max();
  Clock::time_point paused_until_;
  Clock::time_point ramp_done_;  // hold mode: when the last connection connected or failed
  LoadResult result_;
};

Generator::Generator(const LoadOptions& options, Fd epoll)
    : options_(options),
      epoll_(std::move(epoll)),
      slots_(static_cast<std::size_t>(connect_mode() ? options.concurrency : options.hold_connections)),
      sources_(options.target, options.spread_sources) {
  free_.reserve(slots_.size());
  for (std::size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

bool Generator::may_start() const {
  if (free_.empty()) return false;
  if (connect_mode()) return true;
  return started_ < static_cast<uint64_t>(options_.hold_connections) &&
         connecting_ < static_cast<uint64_t>(options_.concurrency);
}

void Generator::fill(Clock::time_point now) {
  if (now < paused_until_) return;
  while (may_start()) {
    // A synchronous failure would otherwise refill at once: in connect mode, wait a little.
    if (!start_one() && connect_mode()) {
      paused_until_ = now + kLocalErrorPause;
      return;
    }
  }
}

bool Generator::start_one() {
  const uint32_t slot = free_.back();
  ++result_.attempted;
  ++started_;
  const auto started = Clock::now();
  auto fd = start_connect(options_.target, sources_);
  if (!fd) {
    const Error& error = fd.error();
    count(error.call == "connect" ? classify(error.code) : Outcome::other, error);
    return false;
  }
  Connection& c = slots_[slot];
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = (uint64_t{c.serial} << 32) | slot;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd->get(), &event) < 0) {
    count(Outcome::other, Error{"epoll_ctl", errno, options_.target.url()});
    return false;
  }
  free_.pop_back();
  c.fd = std::move(*fd);
  c.started = started;
  deadlines_.push_back({started + options_.timeout, slot, c.serial});
  ++in_flight_;
  if (!connect_mode()) ++connecting_;
  return true;
}

void Generator::handle(const epoll_event& event) {
  const auto slot = static_cast<uint32_t>(event.data.u64 & 0xffffffffu);
  const auto serial = static_cast<uint32_t>(event.data.u64 >> 32);
  Connection& c = slots_[slot];
  if (!c.fd || c.serial != serial) return;
  if (!c.connected) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
    if (error == 0 && (event.events & (EPOLLERR | EPOLLHUP)) != 0 &&
        (event.events & (EPOLLOUT | EPOLLIN)) == 0) {
      error = ECONNRESET;
    }
    if (error != 0) return finish(slot, classify(error), Error{"connect", error, options_.target.url()});
    if ((event.events & (EPOLLOUT | EPOLLIN)) == 0) return;
    on_connected(c);
  }
  if (!flush_send(slot)) return;
  read_all(slot);
}

void Generator::on_connected(Connection& c) {
  c.connected = true;
  ++result_.connected;
  if (connect_mode()) return;
  --connecting_;
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.started);
  result_.latency_us.record(static_cast<uint64_t>(std::max<int64_t>(elapsed.count(), 0)));
}

bool Generator::flush_send(uint32_t slot) {
  Connection& c = slots_[slot];
  const std::string& text = options_.send;
  while (c.sent < text.size()) {
    const ssize_t n = ::send(c.fd.get(), text.data() + c.sent, text.size() - c.sent, MSG_NOSIGNAL);
    if (n >= 0) {
      c.sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;  // the rest goes out on the next EPOLLOUT edge
    } else if (errno != EINTR) {
      const int error = errno;
      finish(slot, classify(error), Error{"send", error, options_.target.url()});
      return false;
    }
  }
  return true;
}

void Generator::read_all(uint32_t slot) {
  Connection& c = slots_[slot];
  for (;;) {
    const ssize_t n = ::read(c.fd.get(), buffer_.data(), buffer_.size());
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      c.bytes += got;
      if (c.head.size() < kReplyHeadBytes) {
        c.head.append(buffer_.data(), std::min(got, kReplyHeadBytes - c.head.size()));
      }
    } else if (n == 0) {
      const bool done = connect_mode() && c.bytes > 0;
      return finish(slot, done ? Outcome::completed : Outcome::closed, Error{});
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (errno != EINTR) {
      const int error = errno;
      return finish(slot, classify(error), Error{"read", error, options_.target.url()});
    }
  }
}

void Generator::expire(Clock::time_point now) {
  while (!deadlines_.empty()) {
    const Deadline d = deadlines_.front();
    const Connection& c = slots_[d.slot];
    const bool live = c.fd && c.serial == d.serial && (connect_mode() || !c.connected);
    if (live && d.at > now) return;
    deadlines_.pop_front();
    if (live) finish(d.slot, Outcome::timed_out, Error{});
  }
}

void Generator::finish(uint32_t slot, Outcome outcome, const Error& error) {
  Connection& c = slots_[slot];
  if (outcome == Outcome::completed) {
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.started);
    result_.latency_us.record(static_cast<uint64_t>(std::max<int64_t>(elapsed.count(), 0)));
    attribute(c.head);
  }
  count(outcome, error);
  if (!connect_mode() && !c.connected) --connecting_;
  c.fd.reset();
  ++c.serial;
  c.connected = false;
  c.sent = 0;
  c.bytes = 0;
  c.head.clear();
  free_.push_back(slot);
  --in_flight_;
}

void Generator::count(Outcome outcome, const Error& error) {
  LoadResult& r = result_;
  if (outcome == Outcome::completed) {
    ++r.completed;
    return;
  }
  ++r.failed;
  switch (outcome) {
    case Outcome::timed_out: ++r.timed_out; break;
    case Outcome::refused: ++r.refused; break;
    case Outcome::reset: ++r.reset; break;
    case Outcome::closed: ++r.closed; break;
    case Outcome::other:
      ++r.other;
      if (r.first_error.empty()) r.first_error = error.message();
      break;
    case Outcome::completed: break;
  }
}

void Generator::attribute(const std::string& head) {
  const int worker = parse_worker_id(head);
  if (worker >= 0) {
    ++result_.per_worker[worker];
  } else {
    ++result_.unattributed;
  }
}

Clock::time_point Generator::next_wake(Clock::time_point now) const {
  Clock::time_point wake = now + kMaxWait;
  if (!deadlines_.empty()) wake = std::min(wake, deadlines_.front().at);
  if (now < stop_starting_) wake = std::min(wake, stop_starting_);
  if (now < paused_until_) wake = std::min(wake, paused_until_);
  return std::min(wake, hold_end_);
}

bool Generator::step(Clock::time_point now) {
  expire(now);
  if (connect_mode()) {
    if (now < stop_starting_) fill(now);
    return now < stop_starting_ || in_flight_ > 0;
  }
  if (hold_end_ == Clock::time_point::max()) {
    fill(now);
    if (started_ < static_cast<uint64_t>(options_.hold_connections) || connecting_ > 0) return true;
    ramp_done_ = now;
    hold_end_ = now + options_.duration;
  }
  return now < hold_end_ && in_flight_ > 0;
}

Result<LoadResult> Generator::run() {
  const auto begin = Clock::now();
  if (connect_mode()) stop_starting_ = begin + options_.duration;
  std::array<epoll_event, kMaxEvents> events{};
  for (auto now = begin; step(now); now = Clock::now()) {
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_wake(now) - now);
    const int timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, kMaxWait.count()));
    const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) return sys_error("epoll_wait", options_.target.url());
    for (int i = 0; i < n; ++i) handle(events[static_cast<std::size_t>(i)]);
  }
  const auto end = Clock::now();
  if (!connect_mode()) {
    for (const Connection& c : slots_) {
      if (!c.fd) continue;
      ++result_.completed;  // held until the end
      attribute(c.head);
    }
  }
  result_.seconds = std::chrono::duration<double>(end - begin).count();
  const double rate_seconds =
      connect_mode() ? result_.seconds : std::chrono::duration<double>(ramp_done_ - begin).count();
  const uint64_t rate_count = connect_mode() ? result_.completed : result_.connected;
  if (rate_seconds > 0) result_.connections_per_second = static_cast<double>(rate_count) / rate_seconds;
  return std::move(result_);
}

}  // namespace

Result<LoadResult> run_load(const LoadOptions& options) {
  if (auto valid = validate_load_options(options); !valid) return std::unexpected(valid.error());
  Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return sys_error("epoll_create1", options.target.url());
  Generator generator(options, std::move(epoll));
  return generator.run();
}

}  // namespace herdless::load
