// RLIMIT_NOFILE: raise to the hard limit; compare with what --max-conns lets workers hold.
#include "herdless/open_files.h"

#include <sys/resource.h>

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

namespace herdless {
namespace {

// fs.nr_open: the most RLIMIT_NOFILE may be set to (1048576 by default).
uint64_t nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  return in >> value && value > 0 ? value : 1 << 20;
}

const char* plural(uint64_t n, const char* one, const char* many) { return n == 1 ? one : many; }

}  // namespace

Result<OpenFilesLimit> raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return sys_error("getrlimit", "RLIMIT_NOFILE");
  OpenFilesLimit result;
  result.before = limit.rlim_cur;
  result.hard = limit.rlim_max == RLIM_INFINITY ? nr_open() : limit.rlim_max;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= result.hard) {
    result.soft = result.before;
    return result;
  }
  limit.rlim_cur = static_cast<rlim_t>(result.hard);
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return sys_error("setrlimit", "RLIMIT_NOFILE");
  result.soft = result.hard;
  return result;
}

uint64_t open_files_needed(const ServeConfig& config) {
  const uint64_t listeners = config.listen.size();
  const uint64_t per_worker = static_cast<uint64_t>(config.max_conns) + listeners + kWorkerOwnFiles;
  if (config.mode == WorkerMode::process) return per_worker;
  const auto workers = static_cast<uint64_t>(config.workers);
  return workers * per_worker + workers * listeners + kSupervisorOwnFiles;
}

std::optional<std::string> open_files_shortfall(const ServeConfig& config, uint64_t limit) {
  const uint64_t needed = open_files_needed(config);
  if (needed <= limit) return std::nullopt;
  const uint64_t listeners = config.listen.size();
  // The --max-conns that would fit: the limit less what is not connections, per worker.
  const uint64_t sharing = config.mode == WorkerMode::process ? 1 : static_cast<uint64_t>(config.workers);
  const uint64_t fixed = needed - sharing * static_cast<uint64_t>(config.max_conns);
  const uint64_t room = limit > fixed ? (limit - fixed) / sharing : 0;
  if (config.mode == WorkerMode::process) {
    return fmt::format(
        "open files: each worker process may hold --max-conns {} connections + {} {} + {} of its own = {} "
        "descriptors, over the limit of {} per process (workers are processes: each has its own limit, they do "
        "not share one); past it a worker pauses accepts until descriptors free up. Lower --max-conns to {} or "
        "raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)",
        config.max_conns, listeners, plural(listeners, "listener", "listeners"), kWorkerOwnFiles, needed, limit,
        room);
  }
  const auto workers = static_cast<uint64_t>(config.workers);
  return fmt::format(
      "open files: {} worker threads share the supervisor's limit of {} and may hold {} x (--max-conns {} + {} "
      "{} + {} of their own) + the supervisor's {} = {} descriptors; past the limit a worker pauses accepts until "
      "descriptors free up. Lower --max-conns to {} or raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)",
      workers, limit, workers, config.max_conns, listeners, plural(listeners, "listener", "listeners"),
      kWorkerOwnFiles, workers * listeners + kSupervisorOwnFiles, needed, room);
}

void prepare_open_files(const ServeConfig& config, const Settings& file, const Settings& flags) {
  auto limit = raise_open_files_limit();
  if (!limit) {
    spdlog::warn("open files: {}", limit.error().message());
    return;
  }
  const auto names_max_conns = [](const Settings& settings) {
    return std::ranges::any_of(settings, [](const Setting& s) { return s.key == "max-conns"; });
  };
  if (!names_max_conns(file) && !names_max_conns(flags)) return;
  if (auto line = open_files_shortfall(config, limit->soft)) spdlog::warn("{}", *line);
}

}  // namespace herdless
