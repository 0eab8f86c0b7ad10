// TcpConnection: non-blocking reads and writes, output buffering, close, lingering close.
#include "herdless/tcp_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "herdless/worker_counters.h"

namespace herdless {

TcpConnection::TcpConnection(ConnectionOwner& owner, int fd, int worker)
    : Connection(worker), owner_(owner), fd_(fd), last_active_ns_(monotonic_ns()) {}

void TcpConnection::set_no_delay(bool on) {
  if (closed()) return;
  const int value = on ? 1 : 0;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &value, sizeof value);
}

SocketAddress TcpConnection::peer() const {
  SocketAddress address;
  address.length = sizeof address.storage;
  if (closed() || ::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&address.storage), &address.length) != 0) {
    return SocketAddress{};
  }
  return address;
}

SocketAddress TcpConnection::local() const {
  SocketAddress address;
  address.length = sizeof address.storage;
  if (closed() || ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address.storage), &address.length) != 0) {
    return SocketAddress{};
  }
  return address;
}

void TcpConnection::write(std::string_view data) {
  if (closed() || data.empty()) return;
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail();
    if (n > 0) data.remove_prefix(static_cast<size_t>(n));
  }
  out_.append(data);
  touch();
  refresh_interest();
}

void TcpConnection::finish() {
  finishing_ = true;
  if (out_offset_ == out_.size()) {
    if (linger_on_finish_) return start_linger();
    close();
    return;
  }
  refresh_interest();
}

void TcpConnection::finish_lingering() {
  linger_on_finish_ = true;
  finish();
}

void TcpConnection::start_linger() {
  // Nothing more can arrive once the peer has closed its side: a plain close resets nothing.
  if (closed() || !reading_ || ::shutdown(fd_.get(), SHUT_WR) != 0) return close();
  lingering_ = true;
  linger_deadline_ns_ = monotonic_ns() + kLingerTimeNs;
  owner_.on_lingering(*this);
  refresh_interest();
  // Input already queued raises no new edge: drop it now.
  if (!closed()) discard_input();
}

void TcpConnection::discard_input() {
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      linger_bytes_ += static_cast<size_t>(n);
      if (linger_bytes_ > kLingerMaxBytes) return close();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return close();  // EOF (the peer has read everything and closed) or an error
  }
  if (monotonic_ns() >= linger_deadline_ns_) close();
}

void TcpConnection::close() { shut(false); }

void TcpConnection::fail() { shut(true); }

void TcpConnection::shut(bool error) {
  if (closed()) return;
  if (registered_) owner_.loop().remove(fd_.get());
  registered_ = false;
  // Counted before the descriptor closes, so a peer that sees EOF also sees the count.
  Fd doomed(fd_.release());
  owner_.on_closed(*this, error);
}

uint32_t TcpConnection::wanted_events() const {
  if (closed()) return 0;
  if (lingering_) return EPOLLIN | EPOLLRDHUP | EPOLLET;
  uint32_t events = 0;
  if (out_offset_ < out_.size()) events |= EPOLLOUT;
  // EPOLLPRI: urgent (out-of-band) data ends a read at its mark, short, with more queued.
  if (reading_ && !finishing_ && out_.size() - out_offset_ < kHighWatermark) events |= EPOLLIN | EPOLLRDHUP | EPOLLPRI;
  // Edge-triggered: epoll reports new readiness once instead of re-polling the socket after
  // every batch; read_ready() reads until a short read and re-arms when it stops early.
  return events == 0 ? 0 : events | EPOLLET;
}

void TcpConnection::refresh_interest() {
  if (closed()) return;
  const uint32_t events = wanted_events();
  const bool rearm = std::exchange(rearm_, false);
  if (registered_ && events == registered_events_ && !rearm) return;
  if (!registered_) {
    if (events == 0) return;
    if (!owner_.loop().add(fd_.get(), events, this)) return close();
    registered_ = true;
  } else if (!owner_.loop().modify(fd_.get(), events, this)) {
    return close();
  }
  registered_events_ = events;
}

void TcpConnection::touch() {
  last_active_ns_ = monotonic_ns();
  owner_.on_activity(*this);
}

void TcpConnection::flush() {
  while (out_offset_ < out_.size()) {
    const ssize_t n = ::send(fd_.get(), out_.data() + out_offset_, out_.size() - out_offset_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return fail();
    }
    out_offset_ += static_cast<size_t>(n);
    touch();
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
    if (finishing_) return linger_on_finish_ ? start_linger() : close();
  }
  refresh_interest();
}

void TcpConnection::read_ready(bool until_empty) {
  char buffer[16 * 1024];
  // A bounded number of reads per wake-up so one busy peer cannot starve the others. A short
  // read drained the socket: anything that arrives later is a new edge.
  for (int round = 0; !closed() && !finishing_; ++round) {
    if (round == 4) {
      rearm_ = true;  // more may be waiting: EPOLL_CTL_MOD makes epoll report it again
      break;
    }
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      touch();
      owner_.on_data(*this, std::string_view(buffer, static_cast<size_t>(n)));
      // Short: drained, unless a FIN or an urgent mark came with this edge (read on to EAGAIN).
      if (static_cast<size_t>(n) < sizeof buffer && !until_empty) break;
      if (out_.size() - out_offset_ >= kHighWatermark) break;  // EPOLLIN returns with MOD after the drain
      continue;
    }
    if (n == 0) {
      reading_ = false;
      owner_.on_peer_closed(*this);
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail();
    break;
  }
  refresh_interest();
}

void TcpConnection::on_events(uint32_t events) {
  if (closed()) return;
  if (lingering_) return discard_input();  // EOF, errors and hang-ups end in recv() too
  if ((events & EPOLLOUT) != 0) flush();
  if (closed()) return;
  if ((events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    if (reading_ && !finishing_) {
      // A FIN or an urgent mark makes a short read no proof of an empty queue: read to EAGAIN.
      read_ready((events & (EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    } else if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
      close();
    }
  }
}

}  // namespace herdless
