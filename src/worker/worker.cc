// Worker: start, loop, accepts, datagrams, limits, idle sweep and drain (its steering state in
// worker_steering.cc, its connections' callbacks in worker_connections.cc).
#include "herdless/worker.h"

#include "herdless/fd_passing.h"
#include "herdless/shared_mutex.h"

#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace herdless {
namespace {

constexpr std::chrono::milliseconds kTick{20};         // heartbeat period
constexpr std::chrono::milliseconds kAcceptRetry{100};  // pause after EMFILE/ENFILE
constexpr int kDatagramBatchesPerWake = 4;              // then let the other sockets have a turn

// Milliseconds as nanoseconds, saturating instead of overflowing for absurd durations.
int64_t to_ns(std::chrono::milliseconds ms) {
  constexpr int64_t kMaxMs = INT64_MAX / 4 / 1'000'000;
  return std::min<int64_t>(ms.count(), kMaxMs) * 1'000'000;
}

bool is_datagram_socket(int fd) {
  int type = 0;
  socklen_t length = sizeof type;
  return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_DGRAM;
}

}  // namespace

// One listening socket of the slot: a TCP listener, or a bound UDP socket served in place.
class Worker::Acceptor final : public EventHandler {
 public:
  Acceptor(Worker& worker, Fd fd) : worker_(worker), fd_(std::move(fd)), datagram_(is_datagram_socket(fd_.get())) {}
  void on_events(uint32_t) override {
    worker_.options_.counters->wakeups.fetch_add(1, std::memory_order_relaxed);
    if (datagram_) worker_.serve_datagrams(*this, kDatagramBatchesPerWake);
    else worker_.accept_from(*this, worker_.options_.accept_batch);
  }

  Worker& worker_;
  Fd fd_;
  bool datagram_ = false;
  bool drained_ = true;  // its queue was empty when last looked at
  bool registered_ = false;
  bool gone_ = false;  // shut down by the supervisor (stall rescue): waits for a replacement
};

Worker::Worker(WorkerOptions options, EventLoop loop)
    : options_(std::move(options)),
      loop_(std::move(loop)),
      accept_paused_(fmt::format("worker {}: accept failed, pausing accepts", options_.index)) {}

Worker::~Worker() {
  if (mailbox_) mailbox_->close();
  for (TcpConnection* c = idle_.front(); c != nullptr;) {
    TcpConnection* next = c->idle_next;
    delete c;
    c = next;
  }
  free_closed();
}

Result<std::unique_ptr<Worker>> Worker::create(WorkerOptions options) {
  auto loop = EventLoop::create();
  if (!loop) return std::unexpected(loop.error());
  std::unique_ptr<Worker> worker(new Worker(std::move(options), std::move(*loop)));
  auto started = worker->start();
  if (!started) return std::unexpected(started.error());
  return worker;
}

Result<void> Worker::make_services() {
  const bool any_datagram = std::ranges::any_of(acceptors_, [](const auto& a) { return a->datagram_; });
  const bool any_stream = std::ranges::any_of(acceptors_, [](const auto& a) { return !a->datagram_; });
  const ServiceFactories* own = options_.services;
  if (own != nullptr && (own->tcp || own->datagram)) {
    // A library server: its factories, for the kinds of socket this slot has.
    if (any_stream) {
      if (!own->tcp) return input_error("no TCP service", "a tcp:// listen needs Server::tcp_service");
      service_ = own->tcp(*this);
      if (!service_) return input_error("service factory", "returned no service");
    }
    if (any_datagram) {
      if (!own->datagram) return input_error("no datagram service", "a udp:// listen needs Server::datagram_service");
      datagram_service_ = own->datagram(*this);
      if (!datagram_service_) return input_error("datagram service factory", "returned no service");
    }
  } else {
    ServiceOptions service;
    service.kind = options_.service;
    service.message = expand_worker(options_.message, options_.index);
    service.http_body = options_.http_body;
    service.http_max_body = options_.http_max_body;
    service.http_header_timeout = options_.http_header_timeout;
    service.worker = options_.index;
    service_ = make_service(service);
    if (any_datagram) datagram_service_ = make_datagram_service(service);
  }
  if (datagram_service_) datagrams_ = std::make_unique<DatagramServer>(*datagram_service_, options_.udp_max_datagram);
  return {};
}

int64_t Worker::now_ns() const { return monotonic_ns(); }

Result<std::shared_ptr<Mailbox>> Worker::mailbox() {
  // Made on demand: a worker whose services never ask (the built-in ones) spends no descriptor.
  if (!mailbox_) {
    auto made = WorkerMailbox::create();
    if (!made) return std::unexpected(made.error());
    auto handler = std::make_unique<CallbackHandler>([this](uint32_t) { mailbox_->run_posted(); });
    if (auto added = loop_.add((*made)->fd(), EPOLLIN, handler.get()); !added) return std::unexpected(added.error());
    mailbox_ = std::move(*made);
    mailbox_handler_ = std::move(handler);
  }
  return std::shared_ptr<Mailbox>(mailbox_);
}

Result<std::unique_ptr<Timer>> Worker::make_timer(std::function<void()> callback) {
  auto timer = LoopTimer::create(loop_, std::move(callback));
  if (!timer) return std::unexpected(timer.error());
  return std::unique_ptr<Timer>(std::move(*timer));
}

Result<void> Worker::start() {
  for (Fd& fd : options_.listeners) acceptors_.push_back(std::make_unique<Acceptor>(*this, std::move(fd)));
  options_.listeners.clear();

  auto tick = LoopTimer::create(loop_, [this] {
    heartbeat();
    sweep_lingering();
    if (service_) service_->on_tick(now_ns_);
    accept_paused_.poll(now_ns_);
    const auto sweep_every = std::clamp(options_.idle_timeout / 4, std::chrono::milliseconds(10),
                                        std::chrono::milliseconds(1000));
    if (options_.idle_timeout.count() > 0 && monotonic_ns() - last_sweep_ns_ >= to_ns(sweep_every)) sweep_idle();
  });
  if (!tick) return std::unexpected(tick.error());
  tick_ = std::move(*tick);
  tick_->arm(kTick, kTick);

  auto retry = LoopTimer::create(loop_, [this] {
    out_of_fds_ = false;
    if (!loop_.stopping() && active_ < options_.max_conns) set_accepting(true);
  });
  if (!retry) return std::unexpected(retry.error());
  retry_accept_ = std::move(*retry);

  if (options_.stop_on_signals) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal_fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signal_fd_) return sys_error("signalfd", "worker " + std::to_string(options_.index));
    signal_handler_ = std::make_unique<CallbackHandler>([this](uint32_t) {
      signalfd_siginfo info{};
      while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      }
      loop_.stop();
    });
    auto added = loop_.add(signal_fd_.get(), EPOLLIN, signal_handler_.get());
    if (!added) return std::unexpected(added.error());
  }
  if (options_.channel) {
    channel_handler_ = std::make_unique<CallbackHandler>([this](uint32_t) { receive_listeners(); });
    auto added = loop_.add(options_.channel.get(), EPOLLIN, channel_handler_.get());
    if (!added) return std::unexpected(added.error());
  }
  heartbeat();
  options_.counters->pid.store(static_cast<int32_t>(::getpid()), std::memory_order_relaxed);
  set_accepting(true);
  return {};
}

int Worker::run() {
  // The services are made here, on the worker's own thread (thread mode) or in its process,
  // as service.h promises; nothing is served before run() turns the loop.
  if (auto made = make_services(); !made) {
    spdlog::error("worker {}: {}", options_.index, made.error().message());
    return 1;
  }
  if (options_.pin_cpu >= 0) {
    // Here rather than in start(): in thread mode only the worker's own thread is pinned.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<size_t>(options_.pin_cpu), &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) {
      spdlog::warn("worker {}: cannot pin to CPU {}: {}", options_.index, options_.pin_cpu, std::strerror(errno));
    } else if (options_.steer_slot != nullptr) {
      __atomic_store_n(&options_.steer_slot->cpu, static_cast<uint32_t>(options_.pin_cpu), __ATOMIC_RELAXED);
    }
  }
  while (!loop_.stopping()) {
    int timeout_ms = -1;
    if (options_.accept_mutex != nullptr) {
      // nginx's accept_mutex: only the holder watches the listeners; the others retry after
      // a short delay (20 ms here, nginx's accept_mutex_delay defaults to 500 ms).
      mutex_held_ = try_lock_shared(options_.accept_mutex);
      sync_listeners();
      timeout_ms = 20;
    }
    loop_.run_once(timeout_ms);
    if (mutex_held_) unlock_shared(options_.accept_mutex);
    free_closed();
    heartbeat();
  }
  mutex_held_ = options_.accept_mutex == nullptr;
  drain();  // posted tasks still run while connections finish
  if (mailbox_) mailbox_->close();
  return 0;
}

void Worker::accept_from(Acceptor& acceptor, int budget) {
  WorkerCounters& counters = *options_.counters;
  note_queue(acceptor, false);  // until accept4 says EAGAIN
  for (int i = 0; i < budget; ++i) {
    if (active_ >= options_.max_conns) {
      set_accepting(false);  // resumed by on_closed() below the limit
      return;
    }
    const int fd = ::accept4(acceptor.fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      switch (errno) {
        case EAGAIN:
          if (i == 0) counters.empty_accepts.fetch_add(1, std::memory_order_relaxed);
          note_queue(acceptor, true);
          return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO: continue;
        case EINVAL:  // the listener was shut down (its queue migrated): stop watching it
          listener_gone(acceptor);
          return;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // The connection stays queued; stop watching the listener (level-triggered epoll
          // would wake us again at once) and retry later or when a connection closes.
          // Clients can keep this up at will: a line when it starts and one when it stops.
          counters.errors.fetch_add(1, std::memory_order_relaxed);
          accept_paused_.occurred(now_ns_, std::strerror(errno));
          out_of_fds_ = true;
          set_accepting(false);
          retry_accept_->arm(kAcceptRetry);
          return;
        default:
          counters.errors.fetch_add(1, std::memory_order_relaxed);
          return;
      }
    }
    counters.accepted.fetch_add(1, std::memory_order_relaxed);
    counters.active.fetch_add(1, std::memory_order_relaxed);
    ++active_;
    if (options_.tcp_steered) publish_accepted();
    publish_active();
    auto* conn = new TcpConnection(*this, fd, options_.index);
    idle_.push_back(*conn);
    service_->on_open(*conn);
    conn->refresh_interest();
  }
}

void Worker::serve_datagrams(Acceptor& acceptor, int batches) {
  const DatagramTally tally = datagrams_->serve(acceptor.fd_.get(), batches);
  WorkerCounters& counters = *options_.counters;
  // The outcomes first, the datagrams in last: a reader that sees N in sees their outcomes too.
  if (tally.sent > 0) counters.datagrams_out.fetch_add(tally.sent, std::memory_order_relaxed);
  if (tally.truncated > 0) counters.udp_truncated.fetch_add(tally.truncated, std::memory_order_relaxed);
  if (tally.tx_dropped > 0) counters.udp_tx_dropped.fetch_add(tally.tx_dropped, std::memory_order_relaxed);
  if (tally.received > 0) counters.datagrams_in.fetch_add(tally.received, std::memory_order_release);
  if (tally.errors > 0) counters.errors.fetch_add(tally.errors, std::memory_order_relaxed);
  if (tally.received == 0 && tally.drained) counters.empty_accepts.fetch_add(1, std::memory_order_relaxed);
  if (options_.udp_steered && tally.received > 0) {
    // Datagrams served are progress only while no connection waits in a queue we stopped
    // taking from (max-conns, out of descriptors): that queue would otherwise look healthy.
    bool connections_waiting = false;
    for (const auto& a : acceptors_) connections_waiting = connections_waiting || (!a->datagram_ && !a->drained_);
    publish_accepted(tally.received, !connections_waiting || accepting_);
  }
  note_queue(acceptor, tally.drained);
}

bool Worker::steered(const Acceptor& acceptor) const {
  return acceptor.datagram_ ? options_.udp_steered : options_.tcp_steered;
}

void Worker::note_queue(Acceptor& acceptor, bool drained) {
  acceptor.drained_ = drained;
  if (!steered(acceptor)) return;
  // The program's `steered` count covers every socket it steers here (TCP and UDP alike):
  // the pending count may restart only when all of them were found empty.
  bool all = true;
  for (const auto& a : acceptors_) all = all && (a->gone_ || !steered(*a) || a->drained_);
  queue_empty_ = all;
  if (all) publish_queue_empty();
}

void Worker::listener_gone(Acceptor& acceptor) {
  if (acceptor.registered_) loop_.remove(acceptor.fd_.get());
  acceptor.registered_ = false;
  acceptor.gone_ = true;
}

void Worker::receive_listeners() {
  for (;;) {
    auto passed = receive_listener(options_.channel.get());
    if (!passed) {
      if (passed.error().code != EAGAIN) {
        // The supervisor is gone: keep serving; the listeners we have stay valid.
        loop_.remove(options_.channel.get());
      }
      return;
    }
    if (passed->group >= acceptors_.size()) continue;
    Acceptor& acceptor = *acceptors_[passed->group];
    if (acceptor.registered_) loop_.remove(acceptor.fd_.get());
    acceptor.registered_ = false;
    acceptor.fd_ = std::move(passed->fd);
    acceptor.gone_ = false;
    if (accepting_) acceptor.registered_ = loop_.add(acceptor.fd_.get(), EPOLLIN, &acceptor).has_value();
    spdlog::info("worker {}: took over a fresh listener", options_.index);
  }
}

void Worker::set_accepting(bool on) {
  accepting_ = on;
  sync_listeners();
}

void Worker::sync_listeners() {
  const bool turn = options_.accept_mutex == nullptr || mutex_held_;
  // EPOLLEXCLUSIVE: the kernel wakes one of the waiting workers (or a few), not all.
  const uint32_t events = EPOLLIN | (options_.accept == AcceptStrategy::shared_exclusive ? EPOLLEXCLUSIVE : 0u);
  for (auto& acceptor : acceptors_) {
    if (acceptor->gone_) continue;
    // Connection limits (max-conns, out of descriptors) do not hold datagrams back.
    const bool want = turn && (acceptor->datagram_ ? !loop_.stopping() : accepting_);
    if (want && !acceptor->registered_) {
      acceptor->registered_ = loop_.add(acceptor->fd_.get(), events, acceptor.get()).has_value();
    } else if (!want && acceptor->registered_) {
      loop_.remove(acceptor->fd_.get());
      acceptor->registered_ = false;
    }
  }
}

void Worker::sweep_idle() {
  last_sweep_ns_ = monotonic_ns();
  const int64_t limit_ns = to_ns(options_.idle_timeout);
  while (idle_.front() != nullptr && last_sweep_ns_ - idle_.front()->last_active_ns() >= limit_ns) {
    idle_.front()->close();  // unlinks itself through on_closed()
  }
}

void Worker::drain() {
  // Take what is already queued, then let go of the listeners: the supervisor closes its
  // copies, so the sockets go away once every worker of the slot has let go.
  for (auto& acceptor : acceptors_) {
    if (acceptor->gone_) continue;
    if (acceptor->datagram_) serve_datagrams(*acceptor, 1 << 10);
    else if (!out_of_fds_) accept_from(*acceptor, 1 << 16);
  }
  set_accepting(false);
  acceptors_.clear();
  if (service_) service_->on_drain();
  const int64_t deadline = monotonic_ns() + to_ns(options_.drain_timeout);
  while (active_ > 0) {
    const int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) break;
    loop_.run_once(static_cast<int>(std::min<int64_t>(left_ms, 50)));
    free_closed();
    heartbeat();
  }
  while (idle_.front() != nullptr) idle_.front()->close();
  free_closed();
}

}  // namespace herdless
