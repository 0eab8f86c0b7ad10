// CPU time (user + system) of processes for the bench's "CPU time per connection" column:
// the process's CPU-time clock (clock_getcpuclockid: utime + stime to the nanosecond), or
// else utime + stime from /proc/PID/stat (whole clock ticks: 10 ms per process and read,
// too coarse for 16 workers over a few seconds).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "herdless/error.h"

namespace herdless::bench {

// utime + stime of one /proc/PID/stat line, in clock ticks. The command name in
// parentheses may hold spaces and ')' itself, so fields are counted after the last ')'.
Result<unsigned long long> parse_stat_cpu_ticks(std::string_view stat_line);

// utime + stime of process `pid` in seconds: its CPU-time clock, else /proc/PID/stat.
Result<double> process_cpu_seconds(int pid);

// The sum over `pids`; nullopt if any cannot be read (gone, or no pid).
std::optional<double> total_cpu_seconds(const std::vector<int>& pids);

}  // namespace herdless::bench
