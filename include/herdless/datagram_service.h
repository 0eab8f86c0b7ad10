// DatagramService: a UDP protocol server's code, run inside a herdless worker for its udp://
// listens. The worker receives datagrams in batches (recvmmsg), calls on_datagram for each
// and sends the batch's replies together (sendmmsg). Made by a DatagramServiceFactory once per
// worker, on the worker's thread; callbacks come one at a time on that thread, like Service's.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "herdless/socket_address.h"
#include "herdless/worker_context.h"

namespace herdless {

// One received datagram. Its bytes and sender are valid until the batch's replies are sent.
struct Datagram {
  std::string_view data;
  const sockaddr_storage* sender = nullptr;
  socklen_t sender_length = 0;

  SocketAddress peer() const;
};

// The reply to one datagram, sent to its sender from the address it was sent to. At most one
// per datagram (the last call wins); no call, no reply.
class DatagramReply {
 public:
  // Replies with bytes that stay valid until the batch is sent: the datagram's own bytes or a
  // buffer the service owns (no copy).
  void send_view(std::string_view bytes) { view_ = bytes; }
  // Replies with a copy of `bytes`.
  void send(std::string_view bytes) {
    copy_.assign(bytes);
    view_ = copy_;
  }

  // (The worker's side.)
  void reset() { view_ = {}; }
  bool has_reply() const { return view_.data() != nullptr; }
  std::string_view bytes() const { return view_; }

 private:
  std::string_view view_;
  std::string copy_;
};

class DatagramService {
 public:
  virtual ~DatagramService() = default;
  virtual void on_datagram(const Datagram& datagram, DatagramReply& reply) = 0;
};

using DatagramServiceFactory = std::function<std::unique_ptr<DatagramService>(WorkerContext& context)>;

}  // namespace herdless
