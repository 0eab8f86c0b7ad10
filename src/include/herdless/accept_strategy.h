// AcceptStrategy: how workers share the listening sockets. Only `reuseport` is herdless's way;
// the others exist to measure the thundering herd against it (`herdless bench`).
#pragma once

#include <string_view>

#include "herdless/error.h"

namespace herdless {

enum class AcceptStrategy {
  reuseport,         // one SO_REUSEPORT socket per worker: the kernel picks one per connection
  shared,            // one socket in every worker's epoll: every idle worker wakes (the herd)
  shared_exclusive,  // the same with EPOLLEXCLUSIVE: the kernel wakes one (or a few) waiters
  accept_mutex,      // nginx's old way: the worker holding a shared lock watches the socket
};

const char* accept_strategy_name(AcceptStrategy strategy);
Result<AcceptStrategy> parse_accept_strategy(std::string_view text);

}  // namespace herdless
