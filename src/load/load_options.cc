// Validation of LoadOptions before a run.
#include <string>

#include "herdless/load/load_generator.h"

namespace herdless::load {

Result<void> validate_load_options(const LoadOptions& o) {
  const std::string target = o.target.url();
  if (o.target.transport != Transport::tcp) return input_error("invalid load target (want tcp://HOST:PORT)", target);
  if (o.concurrency < 1 || o.concurrency > kMaxLoadConnections) {
    return input_error("invalid concurrency", std::to_string(o.concurrency) + " (want 1.." +
                                                  std::to_string(kMaxLoadConnections) + ")");
  }
  if (o.duration.count() < 0) return input_error("invalid duration", "negative");
  if (o.timeout.count() <= 0) return input_error("invalid timeout", "must be positive");
  if (o.mode == LoadOptions::Mode::hold && (o.hold_connections < 1 || o.hold_connections > kMaxLoadConnections)) {
    return input_error("invalid connection count for hold mode",
                       std::to_string(o.hold_connections) + " (want 1.." + std::to_string(kMaxLoadConnections) + ")");
  }
  return {};
}

}  // namespace herdless::load
