// The load generator's work on one socket: start it, follow its connect, write the
// request, read the reply (a stream until EOF, or one datagram), and finish it.
#include <sys/socket.h>

#include <algorithm>

#include "generator.h"

namespace herdless::load::detail {
namespace {

constexpr std::size_t kReplyHeadBytes = 1024;  // kept from each reply for "worker=N"

}  // namespace

bool Generator::start_one(Clock::time_point started) {
  const uint32_t slot = free_.back();
  ++result_.attempted;
  ++started_;
  const bool alt = alternative_now();
  RequestTally* kind = tally(alt);
  if (kind != nullptr) ++kind->attempted;
  auto fd = udp_mode() ? start_datagram(options_.target, sources_, alt ? options_.send_alt : options_.send)
                       : start_connect(options_.target, sources_);
  if (!fd) {
    if (kind != nullptr) ++kind->failed;
    const Error& error = fd.error();
    const bool remote = error.call == "connect" || error.call == "send";
    count(remote ? classify(error.code) : Outcome::other, error);
    return false;
  }
  Connection& c = slots_[slot];
  epoll_event event{};
  event.events = udp_mode() ? EPOLLIN | EPOLLET : EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = (uint64_t{c.serial} << 32) | slot;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd->get(), &event) < 0) {
    if (kind != nullptr) ++kind->failed;
    count(Outcome::other, Error{"epoll_ctl", errno, options_.target.url()});
    return false;
  }
  free_.pop_back();
  c.fd = std::move(*fd);
  c.started = started;
  c.alt = alt;
  deadlines_.push_back({started + options_.timeout, slot, c.serial});
  ++in_flight_;
  if (hold_mode()) ++connecting_;
  if (udp_mode()) {
    c.connected = true;  // the datagram is out
    ++result_.connected;
  }
  return true;
}

void Generator::handle(const epoll_event& event) {
  const auto slot = static_cast<uint32_t>(event.data.u64 & 0xffffffffu);
  const auto serial = static_cast<uint32_t>(event.data.u64 >> 32);
  Connection& c = slots_[slot];
  if (!c.fd || c.serial != serial) return;
  if (udp_mode()) return read_datagram(slot);
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
  if (!hold_mode()) return;
  --connecting_;
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.started);
  result_.latency_us.record(static_cast<uint64_t>(std::max<int64_t>(elapsed.count(), 0)));
}

bool Generator::flush_send(uint32_t slot) {
  Connection& c = slots_[slot];
  const std::string& text = c.alt ? options_.send_alt : options_.send;
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
      const bool done = !hold_mode() && c.bytes > 0;
      return finish(slot, done ? Outcome::completed : Outcome::closed, Error{});
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (errno != EINTR) {
      const int error = errno;
      return finish(slot, classify(error), Error{"read", error, options_.target.url()});
    }
  }
}

// The first datagram from the target is the reply; an ICMP error (ECONNREFUSED when no
// socket has the port) surfaces from recv() on the connected socket.
void Generator::read_datagram(uint32_t slot) {
  Connection& c = slots_[slot];
  for (;;) {
    const ssize_t n = ::recv(c.fd.get(), buffer_.data(), buffer_.size(), 0);
    if (n >= 0) {
      const auto got = static_cast<std::size_t>(n);
      c.bytes = got;
      c.head.assign(buffer_.data(), std::min(got, kReplyHeadBytes));
      return finish(slot, Outcome::completed, Error{});
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno != EINTR) {
      const int error = errno;
      return finish(slot, classify(error), Error{"recv", error, options_.target.url()});
    }
  }
}

void Generator::finish(uint32_t slot, Outcome outcome, const Error& error) {
  Connection& c = slots_[slot];
  RequestTally* kind = tally(c.alt);
  if (outcome == Outcome::completed) {
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.started);
    const auto latency = static_cast<uint64_t>(std::max<int64_t>(elapsed.count(), 0));
    result_.latency_us.record(latency);
    attribute(c.head);
    if (kind != nullptr) {
      ++kind->completed;
      kind->latency_us.record(latency);
    }
  } else if (kind != nullptr) {
    ++kind->failed;
  }
  count(outcome, error);
  if (hold_mode() && !c.connected) --connecting_;
  c.fd.reset();
  ++c.serial;
  c.connected = false;
  c.alt = false;
  c.sent = 0;
  c.bytes = 0;
  c.head.clear();
  free_.push_back(slot);
  --in_flight_;
}

}  // namespace herdless::load::detail
