// DatagramServer: recvmmsg -> replies -> sendmmsg.
#include "herdless/datagram_server.h"

#include <cerrno>
#include <cstring>

namespace herdless {

DatagramServer::DatagramServer(DatagramService& service, uint32_t max_datagram)
    : service_(service), max_datagram_(max_datagram), buffers_(size_t{kBatch} * max_datagram) {
  for (unsigned i = 0; i < kBatch; ++i) {
    in_iov_[i] = iovec{buffers_.data() + size_t{i} * max_datagram_, max_datagram_};
    in_[i].msg_hdr.msg_iov = &in_iov_[i];
    in_[i].msg_hdr.msg_iovlen = 1;
    in_[i].msg_hdr.msg_name = &peers_[i];
    out_[i].msg_hdr.msg_iov = &out_iov_[i];
    out_[i].msg_hdr.msg_iovlen = 1;
  }
}

void DatagramServer::receive_into(unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    in_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    in_[i].msg_hdr.msg_control = &in_control_[i];
    in_[i].msg_hdr.msg_controllen = sizeof(Control);
    in_[i].msg_hdr.msg_flags = 0;
    in_[i].msg_len = 0;
  }
}

DatagramTally DatagramServer::serve(int fd, int batches) {
  DatagramTally tally;
  for (int b = 0; b < batches; ++b) {
    receive_into(kBatch);
    const int n = ::recvmmsg(fd, in_.data(), kBatch, 0, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) tally.drained = true;
      else ++tally.errors;
      return tally;
    }
    tally.received += static_cast<uint64_t>(n);
    reply(fd, static_cast<unsigned>(n), tally);
    if (static_cast<unsigned>(n) < kBatch) {
      // Level-triggered epoll wakes us again if more arrived since: no extra EAGAIN call.
      tally.drained = true;
      return tally;
    }
  }
  return tally;
}

void DatagramServer::reply_from_destination(unsigned i, unsigned slot) {
  msghdr& out = out_[slot].msg_hdr;
  out.msg_control = nullptr;
  out.msg_controllen = 0;
  msghdr& in = in_[i].msg_hdr;
  for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr; c = CMSG_NXTHDR(&in, c)) {
    out.msg_control = &out_control_[slot];
    out.msg_controllen = sizeof(Control);
    cmsghdr* reply = CMSG_FIRSTHDR(&out);
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi_spec_dst = info.ipi_addr;  // the source: the address the request was sent to
      info.ipi_ifindex = 0;               // any interface the route picks
      *reply = cmsghdr{};
      reply->cmsg_level = IPPROTO_IP;
      reply->cmsg_type = IP_PKTINFO;
      reply->cmsg_len = CMSG_LEN(sizeof info);
      std::memcpy(CMSG_DATA(reply), &info, sizeof info);
      out.msg_controllen = CMSG_SPACE(sizeof info);
      return;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      *reply = cmsghdr{};
      reply->cmsg_level = IPPROTO_IPV6;
      reply->cmsg_type = IPV6_PKTINFO;
      reply->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      std::memcpy(CMSG_DATA(reply), CMSG_DATA(c), sizeof(in6_pktinfo));  // address and interface as received
      out.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
      return;
    }
  }
  out.msg_control = nullptr;
  out.msg_controllen = 0;
}

void DatagramServer::reply(int fd, unsigned count, DatagramTally& tally) {
  unsigned replies = 0;
  for (unsigned i = 0; i < count; ++i) {
    const msghdr& request = in_[i].msg_hdr;
    if ((request.msg_flags & MSG_TRUNC) != 0) {
      ++tally.truncated;  // larger than --udp-max-datagram: half a request is no request
      continue;
    }
    DatagramReply& answer = replies_[replies];
    answer.reset();
    const Datagram datagram{std::string_view(static_cast<const char*>(in_iov_[i].iov_base), in_[i].msg_len),
                            &peers_[i], request.msg_namelen};
    service_.on_datagram(datagram, answer);
    if (!answer.has_reply()) continue;
    msghdr& out = out_[replies].msg_hdr;
    out.msg_name = request.msg_name;
    out.msg_namelen = request.msg_namelen;
    reply_from_destination(i, replies);
    const std::string_view bytes = answer.bytes();
    out_iov_[replies] = iovec{const_cast<char*>(bytes.data()), bytes.size()};
    ++replies;
  }
  unsigned next = 0;
  while (next < replies) {
    const int n = ::sendmmsg(fd, out_.data() + next, replies - next, 0);
    if (n > 0) {
      tally.sent += static_cast<uint64_t>(n);
      next += static_cast<unsigned>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      tally.tx_dropped += replies - next;  // the send buffer is full: the rest would fail alike
      return;
    }
    ++tally.tx_dropped;  // this one cannot be sent (e.g. refused by a firewall rule): skip it
    ++next;
  }
}

}  // namespace herdless
