// LoadResult as JSON, and the parsing of "worker=N" out of a server's reply.
#include <charconv>

#include <nlohmann/json.hpp>

#include "herdless/load/load_result.h"

namespace herdless::load {

int parse_worker_id(std::string_view reply) {
  constexpr std::string_view kKey = "worker=";
  for (auto at = reply.find(kKey); at != std::string_view::npos; at = reply.find(kKey, at + 1)) {
    const char* first = reply.data() + at + kKey.size();
    const char* last = reply.data() + reply.size();
    int id = -1;
    auto [end, ec] = std::from_chars(first, last, id);
    if (ec == std::errc{} && end != first && id >= 0) return id;
  }
  return -1;
}

namespace {

nlohmann::json latency_json(const Histogram& h) {
  return {{"count", h.count()},
          {"min", h.min()},
          {"mean", h.mean()},
          {"p50", h.value_at_percentile(50)},
          {"p90", h.value_at_percentile(90)},
          {"p99", h.value_at_percentile(99)},
          {"p999", h.value_at_percentile(99.9)},
          {"max", h.max()}};
}

nlohmann::json tally_json(const RequestTally& t) {
  return {{"attempted", t.attempted},
          {"completed", t.completed},
          {"failed", t.failed},
          {"latency_us", latency_json(t.latency_us)}};
}

}  // namespace

nlohmann::json to_json(const LoadResult& r) {
  nlohmann::json per_worker = nlohmann::json::object();
  for (const auto& [worker, count] : r.per_worker) per_worker[std::to_string(worker)] = count;
  nlohmann::json out = {
      {"attempted", r.attempted},
      {"connected", r.connected},
      {"completed", r.completed},
      {"failed", r.failed},
      {"timed_out", r.timed_out},
      {"refused", r.refused},
      {"reset", r.reset},
      {"closed", r.closed},
      {"other", r.other},
      {"seconds", r.seconds},
      {"connections_per_second", r.connections_per_second},
      {"latency_us", latency_json(r.latency_us)},
      {"per_worker", per_worker},
      {"unattributed", r.unattributed},
  };
  if (!r.first_error.empty()) out["first_error"] = r.first_error;
  if (r.cancelled) out["cancelled"] = true;
  if (r.split) {
    out["primary"] = tally_json(r.primary);
    out["alternative"] = tally_json(r.alternative);
  }
  return out;
}

}  // namespace herdless::load
