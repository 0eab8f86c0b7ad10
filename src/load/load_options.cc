// Validation of LoadOptions before a run.
#include <string>

#include "herdless/load/load_options.h"

namespace herdless::load {

Result<void> validate_load_options(const LoadOptions& o) {
  const std::string target = o.target.url();
  const bool udp = o.mode == LoadOptions::Mode::udp;
  if (udp && o.target.transport != Transport::udp) {
    return input_error("invalid load target for udp mode (want udp://HOST:PORT)", target);
  }
  if (!udp && o.target.transport != Transport::tcp) return input_error("invalid load target (want tcp://HOST:PORT)", target);
  if (o.concurrency < 1 || o.concurrency > kMaxLoadConnections) {
    return input_error("invalid concurrency", std::to_string(o.concurrency) + " (want 1.." +
                                                  std::to_string(kMaxLoadConnections) + ")");
  }
  if (o.rate < 0 || o.rate > kMaxLoadRate || o.rate != o.rate) {
    return input_error("invalid rate", std::to_string(o.rate) + " (want 0 for a closed loop, or up to 10000000/s)");
  }
  if (o.rate > 0 && o.mode == LoadOptions::Mode::hold) return input_error("invalid rate", "hold mode has no rate");
  if (o.alt_every < 0) {
    return input_error("invalid alt-every", std::to_string(o.alt_every) + " (want 0 for off, or N >= 1)");
  }
  if (o.alt_every > 0 && o.mode == LoadOptions::Mode::hold) {
    return input_error("invalid alt-every", "hold mode sends one text, at most");
  }
  if (o.alt_every > 0 && o.send_alt.empty()) return input_error("invalid alt-every", "needs a non-empty send-alt");
  if (o.duration.count() < 0) return input_error("invalid duration", "negative");
  if (o.timeout.count() <= 0) return input_error("invalid timeout", "must be positive");
  if (o.progress_interval.count() <= 0) return input_error("invalid progress interval", "must be positive");
  if (o.mode == LoadOptions::Mode::hold && (o.hold_connections < 1 || o.hold_connections > kMaxLoadConnections)) {
    return input_error("invalid connection count for hold mode",
                       std::to_string(o.hold_connections) + " (want 1.." + std::to_string(kMaxLoadConnections) + ")");
  }
  return {};
}

}  // namespace herdless::load
