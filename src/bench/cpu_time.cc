// CPU time of processes from their CPU-time clocks or /proc/PID/stat.
#include "herdless/bench/cpu_time.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace herdless::bench {

Result<unsigned long long> parse_stat_cpu_ticks(std::string_view line) {
  // "pid (comm) state ppid ..." : after ") " come fields 3, 4, ...; utime is field 14 and
  // stime field 15, i.e. the 12th and 13th after the command name.
  const auto close = line.rfind(')');
  if (close == std::string_view::npos) return input_error("malformed /proc stat", "no ')'");
  std::string_view rest = line.substr(close + 1);
  unsigned long long ticks = 0;
  for (int field = 3; field <= 15; ++field) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) return input_error("malformed /proc stat", "too few fields");
    rest.remove_prefix(start);
    const auto end = std::min(rest.find(' '), rest.size());
    if (field >= 14) {
      unsigned long long value = 0;
      const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, value);
      if (ec != std::errc{} || ptr != rest.data() + end) return input_error("malformed /proc stat", "cpu field");
      ticks += value;
    }
    rest.remove_prefix(end);
  }
  return ticks;
}

Result<double> process_cpu_seconds(int pid) {
  clockid_t clock{};
  timespec cpu{};
  if (pid > 0 && ::clock_getcpuclockid(pid, &clock) == 0 && ::clock_gettime(clock, &cpu) == 0) {
    return static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9;
  }
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream in(path);
  std::string line;
  if (pid <= 0 || !std::getline(in, line)) return sys_error("open", path, ENOENT);
  auto ticks = parse_stat_cpu_ticks(line);
  if (!ticks) return std::unexpected(ticks.error());
  const long per_second = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(*ticks) / static_cast<double>(per_second > 0 ? per_second : 100);
}

std::optional<double> total_cpu_seconds(const std::vector<int>& pids) {
  double total = 0;
  for (int pid : pids) {
    auto seconds = process_cpu_seconds(pid);
    if (!seconds) return std::nullopt;
    total += *seconds;
  }
  return pids.empty() ? std::nullopt : std::optional<double>(total);
}

}  // namespace herdless::bench
