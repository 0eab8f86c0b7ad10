// Supervisor: a slot's sockets handed from a program to its successor (herdless run with
// steering). A program started while another serves its slot (a reload) gets TCP sockets of
// its own, bound in the same reuseport group but out of the steering map, so nothing reaches
// them while it starts. Once it is ready they take the slot's place in the map and the table;
// the old program keeps its old sockets, which no longer get a connection: it empties their
// queues, and gets its stop signal only when they have stayed empty for kQuiet and none of the
// connections it holds has bytes it has not read. A server that, asked to stop, closes the
// connections it has no request from yet (uvicorn) thus has none; without this it went on
// accepting until its stop signal and reset what it had just accepted. Bounded by
// --drain-timeout: after it, what still waits migrates to the slot's new socket (shutdown).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <spdlog/spdlog.h>

#include "herdless/accept_probe.h"
#include "herdless/listener.h"
#include "herdless/supervisor.h"

namespace herdless {
namespace {

// Queues empty this long (and since the hand-over) before the old program is asked to stop:
// a handshake steered to an old socket just before the hand-over completes into its queue
// within a round trip, and a connection just accepted gets its request read.
constexpr int64_t kQuietNs = 100'000'000;

uint32_t accept_queue(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  // On a listener, tcpi_unacked is the accept queue's current length.
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 ? info.tcpi_unacked : 0;
}

uint32_t queued_in(const std::vector<Fd>& sockets) {
  uint32_t total = 0;
  for (const Fd& fd : sockets) total += accept_queue(fd.get());
  return total;
}

}  // namespace

std::vector<std::pair<size_t, Fd>> Supervisor::sockets_beside(int slot) {
  std::vector<std::pair<size_t, Fd>> out;
  // Without the steering program every socket of the group gets the kernel's hash share at
  // once, ready or not: the new program shares the slot's sockets instead.
  if (!steering_ || options_.config.steer == SteerMode::hash) return out;
  const bool served = std::ranges::any_of(handles_, [slot](const Handle& h) {
    return h.slot == slot && h.program && h.stop_sent_ns == 0 && h.own_sockets.empty() && !h.handed_over;
  });
  if (!served) return out;  // nobody else on the slot's sockets: the new program takes them
  for (size_t group = 0; group < listeners_.groups(); ++group) {
    if (!steering_->steers(group) || listeners_.group_address(group).transport != Transport::tcp) continue;
    auto fresh = open_reuseport_socket(listeners_.group_address(group), options_.config.backlog, false);
    if (!fresh) {
      spdlog::warn("worker {}: {}; the new program shares the slot's sockets", slot, fresh.error().message());
      return {};
    }
    out.emplace_back(group, std::move(*fresh));
  }
  return out;
}

std::shared_ptr<std::vector<Fd>> Supervisor::hand_over(Handle& successor) {
  auto old = std::make_shared<std::vector<Fd>>();
  for (auto& [group, fd] : successor.own_sockets) {
    // The steering map first: from here on the old socket gets no new connection.
    if (auto replaced = steering_->replace_socket(group, successor.slot, fd.get()); !replaced) {
      spdlog::error("worker {}: hand-over: {}", successor.slot, replaced.error().message());
    }
    old->push_back(listeners_.replace_socket(group, successor.slot, std::move(fd)));
  }
  successor.own_sockets.clear();
  listeners_changed();
  spdlog::debug("worker {} (pid {}) takes the slot's sockets", successor.slot, successor.worker->pid());
  return old;
}

void Supervisor::drain_handed_over(Handle& h, int64_t now) {
  const uint32_t queued = queued_in(*h.handed_over);
  if (queued > 0) {
    h.queue_empty_ns = 0;
  } else if (h.queue_empty_ns == 0) {
    h.queue_empty_ns = now;
  }
  const int64_t drain_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.config.drain_timeout).count();
  if (queued == 0 && now - h.queue_empty_ns >= kQuietNs && now - h.handed_over_ns >= kQuietNs) {
    std::vector<uint16_t> ports;
    for (const ListenAddress& address : listeners_.bound_addresses()) {
      if (address.transport == Transport::tcp) ports.push_back(address.port());
    }
    const size_t unread = unread_connections(h.worker->pid(), ports);
    if (unread == 0) {
      spdlog::debug("worker {} (pid {}, generation {}): its old queue is empty after {}ms; asking it to stop", h.slot,
                    h.worker->pid(), h.generation, (now - h.handed_over_ns) / 1'000'000);
      stop_handle(h);
      return;
    }
  }
  if (now - h.handed_over_ns > drain_ns) {
    spdlog::warn("worker {} (pid {}, generation {}) did not empty its old queue within {}ms ({} waiting); asking it "
                 "to stop",
                 h.slot, h.worker->pid(), h.generation, options_.config.drain_timeout.count(), queued);
    stop_handle(h);
  }
}

void Supervisor::flush_old_queues(Handle& h) {
  if (!h.handed_over) return;
  // What still waits in an old queue (the program stopped accepting, or is stopped before it
  // emptied it) migrates through the steering program to the slot's current socket; an empty
  // one is left listening, so the program never sees accept() fail while it finishes. The
  // supervisor's copies close with the handle, when the program has exited (until then the
  // port watch knows them as ours).
  if (queued_in(*h.handed_over) > 0) {
    for (const Fd& fd : *h.handed_over) ::shutdown(fd.get(), SHUT_RD);
  }
}

std::set<uint64_t> Supervisor::program_side_inodes() const {
  std::vector<int> fds;
  for (const Handle& h : handles_) {
    for (const auto& [group, fd] : h.own_sockets) fds.push_back(fd.get());
    if (h.handed_over) {
      for (const Fd& fd : *h.handed_over) fds.push_back(fd.get());
    }
  }
  return socket_inodes_of(fds);
}

}  // namespace herdless
