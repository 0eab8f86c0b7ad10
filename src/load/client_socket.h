// Opening of the load generator's client sockets: non-blocking, optionally bound to one of
// a rotating set of loopback source addresses, with connect() already started (TCP) or the
// request datagram already sent (UDP).
#pragma once

#include <cstdint>
#include <string>

#include "herdless/address.h"
#include "herdless/error.h"
#include "herdless/fd.h"

namespace herdless::load {

// Hands out 127.100.0.1, 127.100.0.2, ... (4096 addresses, then round again) for a
// loopback target, so that millions of connections never run out of 4-tuples.
class SourceAddresses {
 public:
  // Spreads only if `enabled` and the target is a 127.x.x.x IPv4 address.
  SourceAddresses(const ListenAddress& target, bool enabled);
  bool spreading() const { return spreading_; }
  // The next source address in network byte order.
  uint32_t next();

 private:
  bool spreading_ = false;
  uint32_t next_ = 0;
};

// socket(SOCK_NONBLOCK) [+ IP_BIND_ADDRESS_NO_PORT + bind(source)] + connect(target).
// Succeeds with connect() in progress (EINPROGRESS) or done; the Error names the failing
// call, so ECONNREFUSED from "connect" can be told apart from local errors.
Result<Fd> start_connect(const ListenAddress& target, SourceAddresses& sources);

// socket(SOCK_DGRAM | SOCK_NONBLOCK) [+ bind(source, any port)] + connect(target) +
// send(datagram): a fresh source port per request, so a reuseport group hashes each anew.
// The Error names the failing call ("connect", "send" are the target's doing).
Result<Fd> start_datagram(const ListenAddress& target, SourceAddresses& sources, const std::string& datagram);

}  // namespace herdless::load
