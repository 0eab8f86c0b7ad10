// Parsing of /stats for the bench, and the difference of two samples.
#include "herdless/bench/stats_sample.h"

#include <map>

#include <nlohmann/json.hpp>

namespace herdless::bench {
namespace {

std::optional<uint64_t> optional_count(const nlohmann::json& worker, const char* key) {
  const auto it = worker.find(key);
  if (it == worker.end() || !it->is_number_integer() || it->get<int64_t>() < 0) return std::nullopt;
  return it->get<uint64_t>();
}

std::string string_or_empty(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<StatsSample> parse_stats(const nlohmann::json& stats) {
  if (!stats.is_object() || !stats.contains("workers") || !stats["workers"].is_array()) {
    return input_error("unexpected /stats", "no \"workers\" array");
  }
  StatsSample sample;
  sample.mode = string_or_empty(stats, "mode");
  sample.steer = string_or_empty(stats, "steer");
  sample.accept = string_or_empty(stats, "accept");
  for (const nlohmann::json& w : stats["workers"]) {
    if (!w.is_object()) return input_error("unexpected /stats", "a worker is not an object");
    WorkerSample s;
    s.id = w.value("id", static_cast<int>(sample.workers.size()));
    s.pid = w.value("pid", 0);
    s.accepted = w.value("accepted", uint64_t{0});
    s.active = w.value("active", int64_t{0});
    s.wakeups = optional_count(w, "wakeups");
    s.empty_accepts = optional_count(w, "empty_accepts");
    sample.workers.push_back(s);
  }
  return sample;
}

std::optional<double> StatsDelta::wakeups_per_accept() const {
  if (!wakeups || accepted == 0) return std::nullopt;
  return static_cast<double>(*wakeups) / static_cast<double>(accepted);
}

StatsDelta stats_delta(const StatsSample& before, const StatsSample& after) {
  std::map<int, const WorkerSample*> earlier;
  for (const WorkerSample& w : before.workers) earlier[w.id] = &w;
  StatsDelta delta;
  uint64_t wakeups = 0;
  uint64_t empty = 0;
  bool have_wakeups = !after.workers.empty();
  bool have_empty = !after.workers.empty();
  // Counters only grow; a restarted slot keeps its counts in the shared table, so a
  // smaller value is not expected, and is clamped to no change.
  const auto grew = [](uint64_t now, uint64_t then) { return now > then ? now - then : 0; };
  for (const WorkerSample& w : after.workers) {
    const auto it = earlier.find(w.id);
    const WorkerSample* old = it == earlier.end() ? nullptr : it->second;
    delta.accepted += grew(w.accepted, old ? old->accepted : 0);
    const bool old_wakeups = old == nullptr || old->wakeups.has_value();
    const bool old_empty = old == nullptr || old->empty_accepts.has_value();
    have_wakeups = have_wakeups && w.wakeups && old_wakeups;
    have_empty = have_empty && w.empty_accepts && old_empty;
    if (have_wakeups) wakeups += grew(*w.wakeups, old ? old->wakeups.value_or(0) : 0);
    if (have_empty) empty += grew(*w.empty_accepts, old ? old->empty_accepts.value_or(0) : 0);
  }
  if (have_wakeups) delta.wakeups = wakeups;
  if (have_empty) delta.empty_accepts = empty;
  return delta;
}

}  // namespace herdless::bench
