// The open-files limit (RLIMIT_NOFILE) of `herdless serve`: raised at start to the hard limit,
// as nginx's worker_rlimit_nofile does, and checked against what the workers may hold. The
// limit is per process: a forked worker has its own (inherited) limit and needs it for its
// own connections only; threads of --mode thread share the supervisor's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "herdless/error.h"
#include "herdless/serve_config.h"

namespace herdless {

struct OpenFilesLimit {
  uint64_t before = 0;  // the soft limit found at start
  uint64_t soft = 0;    // the soft limit now
  uint64_t hard = 0;
};

// Raises the soft limit to the hard limit (to fs.nr_open when the hard limit is unlimited).
Result<OpenFilesLimit> raise_open_files_limit();

// Descriptors a worker holds besides connections and listeners: stdio, epoll, timers,
// signalfd, the supervisor's channel, and a margin.
inline constexpr uint64_t kWorkerOwnFiles = 16;
// The supervisor's own besides its copies of the listeners: admin, BPF maps and programs,
// the workers' channels and pipes, and a margin.
inline constexpr uint64_t kSupervisorOwnFiles = 64;

// What one process of `config` may need at most: a worker process's connections, listeners
// and own files; in thread mode the whole supervisor with every worker.
uint64_t open_files_needed(const ServeConfig& config);

// The one warning line when open_files_needed() exceeds `limit`, else nothing.
std::optional<std::string> open_files_shortfall(const ServeConfig& config, uint64_t limit);

// `herdless serve` at start: raises the limit and, when --max-conns was given (by flag or in
// the file) and cannot fit, says so in one warning line. Its default (100000) stands for "no
// limit of ours": the descriptors are the limit then, and running out of them is handled.
void prepare_open_files(const ServeConfig& config, const Settings& file, const Settings& flags);

}  // namespace herdless
