// Connection: non-blocking reads and writes, output buffering, close.
#include "herdless/connection.h"

#include <sys/socket.h>

#include <cerrno>

#include "herdless/worker_counters.h"

namespace herdless {

Connection::Connection(ConnectionOwner& owner, int fd)
    : owner_(owner), fd_(fd), last_active_ns_(monotonic_ns()) {}

void Connection::write(std::string_view data) {
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

void Connection::finish() {
  finishing_ = true;
  if (out_offset_ == out_.size()) {
    close();
    return;
  }
  refresh_interest();
}

void Connection::close() { shut(false); }

void Connection::fail() { shut(true); }

void Connection::shut(bool error) {
  if (closed()) return;
  if (registered_) owner_.loop().remove(fd_.get());
  registered_ = false;
  // Counted before the descriptor closes, so a peer that sees EOF also sees the count.
  Fd doomed(fd_.release());
  owner_.on_closed(*this, error);
}

uint32_t Connection::wanted_events() const {
  if (closed()) return 0;
  uint32_t events = 0;
  if (out_offset_ < out_.size()) events |= EPOLLOUT;
  if (reading_ && !finishing_ && out_.size() - out_offset_ < kHighWatermark) events |= EPOLLIN | EPOLLRDHUP;
  return events;
}

void Connection::refresh_interest() {
  if (closed()) return;
  const uint32_t events = wanted_events();
  if (registered_ && events == registered_events_) return;
  if (!registered_) {
    if (events == 0) return;
    if (!owner_.loop().add(fd_.get(), events, this)) return close();
    registered_ = true;
  } else if (!owner_.loop().modify(fd_.get(), events, this)) {
    return close();
  }
  registered_events_ = events;
}

void Connection::touch() {
  last_active_ns_ = monotonic_ns();
  owner_.on_activity(*this);
}

void Connection::flush() {
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
    if (finishing_) return close();
  }
  refresh_interest();
}

void Connection::read_ready() {
  char buffer[16 * 1024];
  // A bounded number of reads per wake-up so one busy peer cannot starve the others.
  for (int round = 0; round < 4 && !closed() && !finishing_; ++round) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      touch();
      owner_.on_data(*this, std::string_view(buffer, static_cast<size_t>(n)));
      if (out_.size() - out_offset_ >= kHighWatermark) break;
      if (static_cast<size_t>(n) < sizeof buffer) break;
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

void Connection::on_events(uint32_t events) {
  if (closed()) return;
  if ((events & EPOLLOUT) != 0) flush();
  if (closed()) return;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    if (reading_ && !finishing_) {
      read_ready();
    } else if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
      close();
    }
  }
}

}  // namespace herdless
