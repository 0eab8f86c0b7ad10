// `herdless stats`: fetches /stats from a running server and prints a per-worker table with
// each worker's share of accepted connections (and of UDP datagrams) as a bar, or the raw JSON.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "herdless/http_get.h"

namespace herdless::cli {
namespace {

struct StatsFlags {
  std::string admin = "127.0.0.1:10014";
  bool json = false;
};

std::string bar(double share, int width) {
  const int filled = static_cast<int>(share * width + 0.5);
  std::string out;
  for (int i = 0; i < width; ++i) out += i < filled ? "#" : ".";
  return out;
}

// The UDP table: datagrams per worker, what was dropped or truncated, each worker's share.
void print_datagrams(const nlohmann::json& stats) {
  auto udp = [](const nlohmann::json& w, const char* key) { return w["udp"].value(key, uint64_t{0}); };
  uint64_t total = 0;
  for (const auto& w : stats["workers"]) total += udp(w, "datagrams_in");
  fmt::print("udp steer {}\n", stats.value("udp_steer", "?"));
  fmt::print("{:>6} {:>12} {:>12} {:>9} {:>10} {:>10}  {}\n", "worker", "datagrams in", "out", "truncated",
             "rx dropped", "tx dropped", "share of datagrams");
  for (const auto& w : stats["workers"]) {
    if (!w.contains("udp")) continue;
    const uint64_t in = udp(w, "datagrams_in");
    const double share = total == 0 ? 0.0 : static_cast<double>(in) / static_cast<double>(total);
    fmt::print("{:>6} {:>12} {:>12} {:>9} {:>10} {:>10}  {} {:5.1f}%\n", w.value("id", 0), in, udp(w, "datagrams_out"),
               udp(w, "truncated"), udp(w, "rx_dropped"), udp(w, "tx_dropped"), bar(share, 30), share * 100.0);
  }
  fmt::print("total datagrams in {}\n", total);
}

// `herdless run`: per slot, its program and what the kernel shows of its queue.
void print_programs(const nlohmann::json& stats) {
  uint64_t total = 0;
  for (const auto& w : stats["workers"]) total += w.value("accepted", uint64_t{0});
  std::string command;
  for (const auto& word : stats["command"]) command += (command.empty() ? "" : " ") + word.get<std::string>();
  fmt::print("command {}\n", command);
  fmt::print("{:>6} {:>8} {:>4} {:>5} {:>8} {:>7} {:>12} {:>7} {:>8}  {:<24} {}\n", "worker", "pid", "gen", "ready",
             "restarts", "queued", "accepted", "open", "rescues", "last exit", "share of accepted");
  for (const auto& w : stats["workers"]) {
    const nlohmann::json program = w.value("program", nlohmann::json::object());
    const uint64_t accepted = w.value("accepted", uint64_t{0});
    const double share = total == 0 ? 0.0 : static_cast<double>(accepted) / static_cast<double>(total);
    const std::string open = program.contains("open") ? std::to_string(program["open"].get<int64_t>()) : "-";
    fmt::print("{:>6} {:>8} {:>4} {:>5} {:>8} {:>7} {:>12} {:>7} {:>8}  {:<24} {} {:5.1f}%\n", w.value("id", 0),
               w.value("pid", 0), program.value("generation", uint64_t{0}), program.value("ready", false) ? "yes" : "no",
               w.value("restarts", uint64_t{0}), program.value("queued", uint64_t{0}), accepted, open,
               w.value("rescues", uint64_t{0}), program.value("last_exit", std::string()), bar(share, 30),
               share * 100.0);
  }
  fmt::print("total accepted {}\n", total);
}

int run_stats(const StatsFlags& flags) {
  auto address = parse_host_port(flags.admin);
  if (!address) {
    std::fprintf(stderr, "herdless: %s\n", address.error().message().c_str());
    return kExitBadInput;
  }
  auto body = http_get(*address, "/stats");
  if (!body) {
    std::fprintf(stderr, "herdless: %s\n", body.error().message().c_str());
    return 1;
  }
  if (flags.json) {
    std::fputs(body->c_str(), stdout);
    return 0;
  }
  const nlohmann::json stats = nlohmann::json::parse(*body, nullptr, false);
  if (stats.is_discarded() || !stats.contains("workers")) {
    std::fprintf(stderr, "herdless: malformed /stats from %s\n", flags.admin.c_str());
    return 1;
  }
  for (const auto& listener : stats["listeners"]) fmt::print("listener {}\n", listener.value("url", "?"));
  if (stats.contains("command")) {
    print_programs(stats);  // a program's datagrams are its own business: no UDP table
    return 0;
  }
  uint64_t total = 0;
  for (const auto& w : stats["workers"]) total += w.value("accepted", uint64_t{0});
  fmt::print("{:>6} {:>8} {:>12} {:>8} {:>12} {:>7} {:>8} {:>9}  {}\n", "worker", "pid", "accepted", "active",
             "closed", "errors", "restarts", "beat(ms)", "share of accepted");
  for (const auto& w : stats["workers"]) {
    const uint64_t accepted = w.value("accepted", uint64_t{0});
    const double share = total == 0 ? 0.0 : static_cast<double>(accepted) / static_cast<double>(total);
    fmt::print("{:>6} {:>8} {:>12} {:>8} {:>12} {:>7} {:>8} {:>9}  {} {:5.1f}%\n", w.value("id", 0),
               w.value("pid", 0), accepted, w.value("active", int64_t{0}), w.value("closed", uint64_t{0}),
               w.value("errors", uint64_t{0}), w.value("restarts", uint64_t{0}),
               w.value("heartbeat_age_ms", int64_t{0}), bar(share, 30), share * 100.0);
  }
  fmt::print("total accepted {}\n", total);
  if (stats.contains("udp_steer")) print_datagrams(stats);
  return 0;
}

}  // namespace

void add_stats_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<StatsFlags>();
  CLI::App* stats = app.add_subcommand("stats", "Show a running server's per-worker statistics");
  stats->add_option("--admin", flags->admin, "HOST:PORT of the server's admin endpoint")->capture_default_str();
  stats->add_flag("--json", flags->json, "Print the raw /stats JSON");
  stats->callback([flags, &exit_code] { exit_code = run_stats(*flags); });
}

}  // namespace herdless::cli
