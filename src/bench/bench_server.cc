// BenchServer: posix_spawn of `herdless serve` in a new process group, readiness from its
// log and /stats, and a stop that always ends with SIGKILL to the group.
#include "herdless/bench/bench_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "herdless/http_get.h"

namespace herdless::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(20);

// Process groups of the servers not yet stopped, for kill_all_bench_servers().
std::array<std::atomic<pid_t>, 64> g_groups{};

void register_group(pid_t group) {
  for (auto& slot : g_groups) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, group)) return;
  }
}

void unregister_group(pid_t group) {
  for (auto& slot : g_groups) {
    pid_t expected = group;
    slot.compare_exchange_strong(expected, 0);
  }
}

// The word after each occurrence of `marker` in `text`.
std::vector<std::string> words_after(const std::string& text, const std::string& marker) {
  std::vector<std::string> out;
  for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const auto start = at + marker.size();
    out.push_back(text.substr(start, text.find_first_of(" \n", start) - start));
  }
  return out;
}

// The last non-empty line of a log, for an error message.
std::string last_line(const std::string& log) {
  auto end = log.find_last_not_of("\r\n ");
  if (end == std::string::npos) return "(no output)";
  const auto begin = log.rfind('\n', end);
  std::string line = log.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin == std::string::npos ? 0 : begin + 1));
  return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

bool cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

}  // namespace

void kill_all_bench_servers() {
  for (auto& slot : g_groups) {
    const pid_t group = slot.load();
    if (group > 0) ::kill(-group, SIGKILL);
  }
}

Result<std::unique_ptr<BenchServer>> BenchServer::start(const std::string& binary,
                                                        const std::vector<std::string>& serve_args,
                                                        std::chrono::milliseconds timeout,
                                                        const std::atomic<bool>* cancel) {
  std::string log_path = "/tmp/herdless-bench-XXXXXX.log";
  const int log_fd = ::mkstemps(log_path.data(), 4);
  if (log_fd < 0) return sys_error("mkstemps", log_path);
  ::close(log_fd);

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&files, 2, log_path.c_str(), O_WRONLY | O_TRUNC, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigset_t defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setpgroup(&attributes, 0);  // its own group: ^C on our terminal does not reach it
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = {"herdless", "serve"};
  args.insert(args.end(), serve_args.begin(), serve_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, binary.c_str(), &files, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    ::unlink(log_path.c_str());
    return sys_error("posix_spawn", binary, spawned);
  }
  register_group(pid);
  std::unique_ptr<BenchServer> server(new BenchServer(pid, std::move(log_path)));
  if (auto ready = server->wait_ready(timeout, cancel); !ready) return std::unexpected(ready.error());
  return server;
}

Result<void> BenchServer::wait_ready(std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  const auto deadline = Clock::now() + timeout;
  bool have_ports = false;
  while (Clock::now() < deadline && !cancelled(cancel)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return input_error(code == 2 ? "herdless serve rejected its arguments:"
                                   : "herdless serve exited with " + std::to_string(code) + ":",
                         last_line(log()));
    }
    if (!have_ports) {
      const std::string text = log();
      const auto urls = words_after(text, "listening on ");
      const auto admins = words_after(text, "admin on http://");
      if (!urls.empty() && !admins.empty()) {
        auto listener = parse_listen_url(urls.front());
        auto admin = parse_host_port(admins.front());
        if (!listener || !admin) return input_error("unexpected herdless serve log:", last_line(text));
        listener_ = *listener;
        admin_ = *admin;
        have_ports = true;
      }
    }
    if (have_ports) {
      // The workers start right after the log lines: ready once every slot has a pid.
      if (auto sample = stats(); sample && !sample->workers.empty()) {
        bool all = true;
        for (const WorkerSample& w : sample->workers) all = all && w.pid > 0;
        if (all) return {};
      }
    }
    std::this_thread::sleep_for(kPoll);
  }
  if (cancelled(cancel)) return input_error("cancelled", "waiting for herdless serve");
  return input_error("herdless serve did not become ready in time:", last_line(log()));
}

BenchServer::~BenchServer() {
  stop();
  ::unlink(log_path_.c_str());
}

void BenchServer::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (!reaped_) {
    ::kill(-pid_, SIGCONT);  // a stopped worker could not drain
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + grace;
    int status = 0;
    while (!reaped_ && Clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (!reaped_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      reaped_ = true;
    }
  }
  ::kill(-pid_, SIGKILL);  // any worker of the group still alive
  unregister_group(pid_);
  pid_ = -1;
}

std::string BenchServer::log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<nlohmann::json> BenchServer::stats_json() const {
  auto body = http_get(admin_, "/stats", std::chrono::milliseconds(2000));
  if (!body) return std::unexpected(body.error());
  auto parsed = nlohmann::json::parse(*body, nullptr, false);
  if (parsed.is_discarded()) return input_error("unparsable /stats", admin_.host_port());
  return parsed;
}

Result<StatsSample> BenchServer::stats() const {
  auto json = stats_json();
  if (!json) return std::unexpected(json.error());
  return parse_stats(*json);
}

}  // namespace herdless::bench
