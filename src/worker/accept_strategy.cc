// AcceptStrategy names.
#include "herdless/accept_strategy.h"

#include <string>

#include <fmt/format.h>

namespace herdless {

const char* accept_strategy_name(AcceptStrategy strategy) {
  switch (strategy) {
    case AcceptStrategy::reuseport: return "reuseport";
    case AcceptStrategy::shared: return "shared";
    case AcceptStrategy::shared_exclusive: return "shared-exclusive";
    case AcceptStrategy::accept_mutex: return "accept-mutex";
  }
  return "?";
}

Result<AcceptStrategy> parse_accept_strategy(std::string_view text) {
  for (AcceptStrategy s : {AcceptStrategy::reuseport, AcceptStrategy::shared, AcceptStrategy::shared_exclusive,
                           AcceptStrategy::accept_mutex}) {
    if (text == accept_strategy_name(s)) return s;
  }
  return input_error("invalid accept",
                     fmt::format("'{}' (want reuseport, shared, shared-exclusive or accept-mutex)", text));
}

}  // namespace herdless
