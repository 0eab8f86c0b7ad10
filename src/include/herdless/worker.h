// Worker: one epoll loop serving one slot's listening sockets. Accepts in batches, runs a
// Service on each connection (TCP) or answers datagrams in batches (UDP), enforces --max-conns and --idle-timeout, survives EMFILE
// without spinning (and says so in two lines, not one per retry: RepeatedWarning), publishes its
// counters and heartbeat, and drains on stop.
// Runs in a forked process (--mode process) or a thread (--mode thread).
#pragma once

#include <pthread.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "herdless/accept_strategy.h"
#include "herdless/tcp_connection.h"
#include "herdless/connection_list.h"
#include "herdless/datagram_server.h"
#include "herdless/event_loop.h"
#include "herdless/fd.h"
#include "herdless/repeated_warning.h"
#include "herdless/serve_config.h"
#include "herdless/builtin_services.h"
#include "herdless/service_factories.h"
#include "herdless/worker_context.h"
#include "herdless/loop_timer.h"
#include "herdless/worker_counters.h"
#include "herdless/worker_mailbox.h"
#include "steer_shared.h"

namespace herdless {

struct WorkerOptions {
  int index = 0;
  int workers = 1;  // the server's worker count (WorkerContext::workers)
  // A library server's services; null or empty: the built-in one chosen by `service`.
  const ServiceFactories* services = nullptr;
  std::vector<Fd> listeners;  // this slot's sockets, one per listen address (TCP or UDP)
  ServiceKind service = ServiceKind::hello;
  std::string message;  // "{worker}" not yet expanded
  std::string http_body = "hello world.";  // --service http
  uint64_t http_max_body = 1 << 20;
  std::chrono::milliseconds http_header_timeout{60'000};  // --service http: request line + headers
  uint32_t udp_max_datagram = 65527;
  // Which of the slot's sockets the steering program picks for (and so counts in `steered`):
  // the worker counts what it takes from those only.
  bool tcp_steered = false;  // connections (steer other than hash)
  bool udp_steered = false;  // datagrams (udp-steer session)
  std::chrono::milliseconds idle_timeout{60'000};  // zero: idle connections are never closed
  int max_conns = 100'000;
  std::chrono::milliseconds drain_timeout{10'000};
  WorkerCounters* counters = nullptr;
  bool stop_on_signals = false;  // process mode: SIGTERM/SIGINT (blocked) start the drain
  herdless_slot* steer_slot = nullptr;  // the slot's state read by the steering program, if any
  Fd channel;  // the supervisor sends fresh listeners here (after a stall rescue)
  int pin_cpu = -1;                     // CPU to run on, or -1
  AcceptStrategy accept = AcceptStrategy::reuseport;
  int accept_batch = 64;
  pthread_mutex_t* accept_mutex = nullptr;  // accept-mutex strategy: the lock shared by the workers
};

class Worker final : public ConnectionOwner, public WorkerContext {
 public:
  static Result<std::unique_ptr<Worker>> create(WorkerOptions options);
  ~Worker() override;

  // Serves until a stop is requested, then drains; returns the exit code (0).
  int run();
  // Any thread: stop accepting and drain.
  void request_stop() { loop_.stop(); }

  EventLoop& loop() override { return loop_; }
  void on_data(TcpConnection& conn, std::string_view data) override;
  void on_peer_closed(TcpConnection& conn) override;
  void on_activity(TcpConnection& conn) override;
  void on_closed(TcpConnection& conn, bool error) override;
  void on_lingering(TcpConnection& conn) override { lingering_.push_back(conn); }

  // WorkerContext, for the services.
  int worker() const override { return options_.index; }
  int workers() const override { return options_.workers; }
  int64_t now_ns() const override;
  Result<std::unique_ptr<Timer>> make_timer(std::function<void()> callback) override;
  Result<std::shared_ptr<Mailbox>> mailbox() override;

 private:
  class Acceptor;
  Worker(WorkerOptions options, EventLoop loop);

  Result<void> start();
  Result<void> make_services();
  void accept_from(Acceptor& acceptor, int budget);
  void serve_datagrams(Acceptor& acceptor, int batches);
  // Whether the steering program picks this socket for the worker's slot (and counts it).
  bool steered(const Acceptor& acceptor) const;
  // Records whether a socket's queue was found empty; with every steered socket empty the
  // slot's pending count restarts (publish_queue_empty).
  void note_queue(Acceptor& acceptor, bool drained);
  void set_accepting(bool on);
  // Registers or drops the listeners: wanted while accepting and (accept-mutex) holding the lock.
  void sync_listeners();
  void receive_listeners();
  void listener_gone(Acceptor& acceptor);
  void sweep_idle();
  void sweep_lingering();  // closes lingering connections whose peer stayed silent too long
  void drain();
  void free_closed();
  void heartbeat();
  // Steering state: an accept, an empty queue, a change of the active count.
  // `count` taken from steered queues; `progress`: it counts as the worker keeping up.
  void publish_accepted(uint64_t count = 1, bool progress = true);
  void publish_queue_empty();
  void publish_active();

  WorkerOptions options_;
  EventLoop loop_;
  RepeatedWarning accept_paused_;  // accept failing for want of descriptors or memory
  std::unique_ptr<Service> service_;
  std::unique_ptr<DatagramService> datagram_service_;  // when a listener is UDP
  std::unique_ptr<DatagramServer> datagrams_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::unique_ptr<Timer> tick_;         // heartbeat + idle sweep
  std::unique_ptr<Timer> retry_accept_;  // after EMFILE/ENFILE
  Fd signal_fd_;
  std::unique_ptr<CallbackHandler> signal_handler_;
  std::unique_ptr<CallbackHandler> channel_handler_;
  std::shared_ptr<WorkerMailbox> mailbox_;  // made by the first mailbox(); closed once the drain is over
  std::unique_ptr<CallbackHandler> mailbox_handler_;

  ConnectionList<&TcpConnection::idle_prev, &TcpConnection::idle_next> idle_;  // least recently active first
  std::vector<TcpConnection*> closed_;  // freed after each batch
  // In a lingering close; every deadline is its start + TcpConnection::kLingerTimeNs, so the
  // list is in deadline order.
  ConnectionList<&TcpConnection::linger_prev, &TcpConnection::linger_next> lingering_;
  int64_t active_ = 0;
  bool accepting_ = false;
  bool out_of_fds_ = false;
  int64_t last_sweep_ns_ = 0;
  int64_t now_ns_ = 0;       // monotonic time of the current loop turn
  bool queue_empty_ = true;  // every steered socket's queue was empty when last looked at
  bool mutex_held_ = false;  // accept-mutex: this turn's lock
};

}  // namespace herdless
