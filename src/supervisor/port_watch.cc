// PortWatch: the sock_diag listing of listeners on our ports, their owners from /proc, and
// the tell-tale of an occupant: a built-in worker names itself "herdless w<slot>" (comm), a
// program's environment has HERDLESS_WORKERS.
#include "herdless/port_watch.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <spdlog/spdlog.h>
#include <string>

#include "herdless/socket_diag.h"

namespace herdless {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("PPid:")) return static_cast<pid_t>(std::stol(line.substr(5)));
  }
  return 0;
}

std::string comm_of(pid_t pid) {
  std::string comm = read_all("/proc/" + std::to_string(pid) + "/comm");
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

bool builtin_worker(pid_t pid) { return comm_of(pid).starts_with("herdless w"); }

bool program_process(pid_t pid) {
  const std::string env = read_all("/proc/" + std::to_string(pid) + "/environ");
  return env.starts_with("HERDLESS_WORKERS=") || env.find(std::string("\0HERDLESS_WORKERS=", 18)) != std::string::npos;
}

bool herdless_binary(pid_t pid) {
  char target[4096];
  const ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), target, sizeof target - 1);
  if (n <= 0) return false;
  std::string path(target, static_cast<size_t>(n));
  if (path.ends_with(" (deleted)")) path.resize(path.size() - 10);  // replaced by an upgrade
  const size_t slash = path.rfind('/');
  return path.substr(slash == std::string::npos ? 0 : slash + 1) == "herdless";
}

}  // namespace

bool orphaned_occupant(pid_t pid) {
  if (!builtin_worker(pid) && !program_process(pid)) return false;
  // Up through the occupants (a pre-forking server's master, ...) to the first that is not one.
  pid_t up = parent_of(pid);
  for (int depth = 0; depth < 16 && up > 1 && (builtin_worker(up) || program_process(up)); ++depth) {
    up = parent_of(up);
  }
  return up <= 1 || !herdless_binary(up) || builtin_worker(up);
}

void PortWatch::check(const std::vector<uint16_t>& tcp_ports, const std::vector<uint16_t>& udp_ports,
                      const std::set<uint64_t>& ours, bool owned) {
  auto listed = listeners_on(tcp_ports, udp_ports);
  if (!listed) {
    spdlog::debug("port watch: {}", listed.error().message());
    return;
  }
  std::map<uint64_t, ListenAddress> now;
  for (const DiagSocket& s : *listed) {
    if (!ours.contains(s.inode)) now.emplace(s.inode, s.local);
  }
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (now.contains(it->first)) {
      ++it;
      continue;
    }
    if (!it->second.orphan) {
      spdlog::info("foreign listener on {} (pid {}) is gone", it->second.local.url(), describe_process(it->second.pid));
    }
    it = seen_.erase(it);
  }
  std::set<uint64_t> fresh;
  for (const auto& [inode, local] : now) {
    if (!seen_.contains(inode)) fresh.insert(inode);
  }
  if (fresh.empty()) return;
  const std::map<uint64_t, pid_t> owners = socket_owners(fresh);
  for (uint64_t inode : fresh) {
    PortHolder holder;
    holder.local = now.at(inode);
    const auto owner = owners.find(inode);
    holder.pid = owner != owners.end() ? owner->second : 0;
    holder.orphan = holder.pid > 0 && orphaned_occupant(holder.pid);
    if (holder.orphan) {
      spdlog::info("{} is also held by pid {}, an occupant of an earlier herdless supervisor", holder.local.url(),
                   describe_process(holder.pid));
    } else if (owned) {
      spdlog::warn("foreign listener on {} (pid {}); herdless's SK_LOOKUP program keeps the port's traffic on "
                   "herdless's sockets",
                   holder.local.url(), describe_process(holder.pid));
    } else {
      spdlog::warn("foreign listener on {} (pid {}): the kernel gives it the connections for that address "
                   "before herdless's sockets see them",
                   holder.local.url(), describe_process(holder.pid));
    }
    seen_.emplace(inode, std::move(holder));
  }
}

size_t PortWatch::foreign() const {
  size_t n = 0;
  for (const auto& [inode, holder] : seen_) n += holder.orphan ? 0 : 1;
  return n;
}

std::vector<pid_t> PortWatch::orphans() const {
  std::vector<pid_t> out;
  for (const auto& [inode, holder] : seen_) {
    if (holder.orphan && holder.pid > 0 && std::ranges::find(out, holder.pid) == out.end()) out.push_back(holder.pid);
  }
  return out;
}

}  // namespace herdless
