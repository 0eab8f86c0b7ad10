// DatagramServer: a worker's UDP side. Receives datagrams in batches with recvmmsg, hands
// each to the worker's DatagramService (public datagram_service.h: a library user's, or the
// built-in hello/echo) and sends the batch's replies with one sendmmsg. Nothing is dropped silently: datagrams over the size limit are counted
// as truncated (and not answered), replies the socket refuses are counted as dropped. What
// the kernel drops before we read (a full receive buffer) is counted on the socket itself
// (socket_drops() in listener.h). On a wildcard address (0.0.0.0, [::]) the socket reports
// each datagram's destination (IP_PKTINFO, set by open_reuseport_socket) and the reply leaves
// from that address, not from whichever the route prefers: a client only accepts a reply
// from the address it sent to.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "herdless/datagram_service.h"

namespace herdless {

// What one serve() call did.
struct DatagramTally {
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t truncated = 0;
  uint64_t tx_dropped = 0;
  uint64_t errors = 0;   // receive errors other than "nothing queued"
  bool drained = false;  // the socket's queue was found empty
};

class DatagramServer {
 public:
  static constexpr unsigned kBatch = 32;  // datagrams per recvmmsg/sendmmsg

  // `service` outlives the server.
  DatagramServer(DatagramService& service, uint32_t max_datagram);

  // Serves up to `batches` batches from `fd` (non-blocking): stops early once a batch comes
  // back short of kBatch or the queue is empty.
  DatagramTally serve(int fd, int batches);

 private:
  // Room for one IPv4 or IPv6 packet-info control message.
  union Control {
    cmsghdr header;
    char bytes[CMSG_SPACE(sizeof(in6_pktinfo))];
  };

  void receive_into(unsigned count);
  void reply(int fd, unsigned count, DatagramTally& tally);
  // Makes reply `slot` leave from the address request `i` was sent to (if the socket said).
  void reply_from_destination(unsigned i, unsigned slot);

  DatagramService& service_;
  std::array<DatagramReply, kBatch> replies_;
  uint32_t max_datagram_;
  std::vector<char> buffers_;  // kBatch buffers of max_datagram_ bytes
  std::array<mmsghdr, kBatch> in_{};
  std::array<iovec, kBatch> in_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
  std::array<Control, kBatch> in_control_{};
  std::array<Control, kBatch> out_control_{};
  std::array<mmsghdr, kBatch> out_{};
  std::array<iovec, kBatch> out_iov_{};
};

}  // namespace herdless
