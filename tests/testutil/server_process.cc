// ServerProcess: fork/exec of the herdless binary, log scraping, cleanup.
#include "testutil/server_process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "herdless/http_get.h"

namespace herdless::testutil {

std::string temp_path(const char* prefix) {
  std::string path = std::string("/tmp/") + prefix + "XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd >= 0) ::close(fd);
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

pid_t spawn(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path,
            SpawnOptions options = {}) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setpgid(0, 0);
  if (options.drop_bpf_caps) {
    // Out of the bounding set, so not even root gets them back at exec.
    for (int cap : {CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_PERFMON}) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (options.max_open_files > 0) {
    const rlimit limit{static_cast<rlim_t>(options.max_open_files), static_cast<rlim_t>(options.max_open_files)};
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  const int out = ::open(out_path.c_str(), O_WRONLY | O_TRUNC | O_CREAT, 0600);
  const int err = ::open(err_path.c_str(), O_WRONLY | O_TRUNC | O_CREAT, 0600);
  const int in = ::open("/dev/null", O_RDONLY);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> argv;
  std::string binary = options.binary.empty() ? std::string(HERDLESS_BINARY) : options.binary;
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(binary.c_str(), argv.data());
  ::_exit(127);
}

std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 || std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> args, SpawnOptions options) {
  log_path_ = temp_path("herdless-log-");
  // An admin endpoint is expected unless the arguments turn it off (the default is on).
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--admin" && args[i + 1] == "off") wants_admin_ = false;
  }
  pid_ = spawn(args, "/dev/null", log_path_, options);
  ::setpgid(pid_, pid_);  // also from the parent, so kill(-pid) works at once
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(-pid_, SIGKILL);
    wait_for(pid_, std::chrono::seconds(5));
  }
  if (pid_ > 0) ::kill(-pid_, SIGKILL);  // stray workers of the group, if any
  ::unlink(log_path_.c_str());
}

// Every word that follows `marker` in `text` (up to a space or a line end).
static std::vector<std::string> words_after(const std::string& text, const std::string& marker) {
  std::vector<std::string> out;
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const size_t start = at + marker.size();
    out.push_back(text.substr(start, text.find_first_of(" \n", start) - start));
  }
  return out;
}

bool ServerProcess::wait_ready(size_t listeners, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = log();
    listeners_.clear();
    for (const std::string& url : words_after(text, "listening on ")) {
      if (auto a = parse_listen_url(url)) listeners_.push_back(*a);
    }
    for (const std::string& host_port : words_after(text, "admin on http://")) {
      if (auto a = parse_host_port(host_port)) admin_ = *a;
    }
    if (listeners_.size() >= listeners && (!wants_admin_ || admin_)) {
      // The workers start right after the log lines: wait until every slot has a pid.
      if (!admin_) return true;
      const auto pids = worker_pids();
      bool all = !pids.empty();
      for (int p : pids) all = all && p > 0;
      if (all) return true;
    }
    if (wait_for(pid_, std::chrono::milliseconds(0))) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  exit_code_ = wait_for(pid_, timeout);
  return exit_code_;
}

void ServerProcess::signal(int sig) const { ::kill(pid_, sig); }

std::string ServerProcess::log() const { return read_file(log_path_); }

nlohmann::json ServerProcess::stats() const {
  if (!admin_) return nullptr;
  auto body = http_get(*admin_, "/stats", std::chrono::milliseconds(2000));
  if (!body) return nullptr;
  auto parsed = nlohmann::json::parse(*body, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
}

std::vector<int> ServerProcess::worker_pids() const {
  std::vector<int> pids;
  const nlohmann::json s = stats();
  if (!s.is_object()) return pids;
  for (const auto& w : s["workers"]) pids.push_back(w.value("pid", 0));
  return pids;
}

CommandResult run_herdless(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  const std::string out = temp_path("herdless-out-");
  const std::string err = temp_path("herdless-err-");
  const pid_t pid = spawn(args, out, err);
  CommandResult result;
  auto code = wait_for(pid, timeout);
  if (!code) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    code = wait_for(pid, std::chrono::seconds(5));
  }
  result.exit_code = code.value_or(-1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  result.left_running = group_alive(pid);
  if (result.left_running) ::kill(-pid, SIGKILL);
  result.stdout_text = read_file(out);
  result.stderr_text = read_file(err);
  ::unlink(out.c_str());
  ::unlink(err.c_str());
  return result;
}

bool group_alive(pid_t pgid) { return ::kill(-pgid, 0) == 0; }

}  // namespace herdless::testutil
