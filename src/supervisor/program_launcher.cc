// fork + exec of a user's program on a slot's sockets.
#include "herdless/program_launcher.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "herdless/serve_config.h"

extern char** environ;

namespace herdless {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

bool replaced_by_us(std::string_view entry) {
  for (std::string_view name : {"LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "EINHORN_FDS=", "NOTIFY_SOCKET=",
                                "HERDLESS_WORKER=", "HERDLESS_WORKERS=", "HERDLESS_INHERIT="}) {
    if (entry.starts_with(name)) return true;
  }
  return false;
}

class ProgramProcess final : public RunningWorker {
 public:
  ProgramProcess(pid_t pid, int stop_signal) : pid_(pid), stop_signal_(stop_signal) {}
  // To its whole process group, as systemd's default KillMode=control-group does: a
  // launcher that forks rather than execs (pyenv's shims) or a pre-forking server's
  // workers get it too.
  void stop() override {
    if (::kill(-pid_, stop_signal_) != 0) ::kill(pid_, stop_signal_);
  }
  // The program leads its own process group: SIGKILL reaches what it forked too.
  void kill() override {
    if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
  }
  pid_t pid() const override { return pid_; }
  bool reap_if_finished() override { return false; }  // reaped by the supervisor's waitpid

 private:
  pid_t pid_;
  int stop_signal_;
};

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const ProgramLaunch& launch, pid_t parent, std::vector<std::string>& argv_strings,
                             std::vector<std::string>& env_strings, size_t pid_entry) {
  ::setpgid(0, 0);  // its own group: the terminal's ^C reaches the supervisor, which stops it
  // No parent-death signal: a program outlives a supervisor that dies, and keeps serving on
  // its sockets until a new supervisor or the orphan keeper stops it.
  if (::getppid() != parent) ::_exit(0);
  // The supervisor blocks these for its signalfd and ignores SIGPIPE; both survive exec.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR2}) ::signal(sig, SIG_DFL);
  if (launch.pin_cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<size_t>(launch.pin_cpu), &set);
    ::sched_setaffinity(0, sizeof set, &set);
  }
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) ::dup2(null, STDIN_FILENO);
  if (launch.stdout_fd >= 0) ::dup2(launch.stdout_fd, STDOUT_FILENO);
  if (launch.stderr_fd >= 0) ::dup2(launch.stderr_fd, STDERR_FILENO);
  // Move the sockets out of the way first (they may sit at 3, 4, ... already, in another
  // order), then to 3, 4, ... without close-on-exec; everything above them is closed.
  const int count = static_cast<int>(launch.listen_fds.size());
  int high = kFirstFd + count;
  for (int fd : launch.listen_fds) high = fd >= high ? fd + 1 : high;
  for (int i = 0; i < count; ++i) ::dup2(launch.listen_fds[static_cast<size_t>(i)], high + i);
  for (int i = 0; i < count; ++i) ::dup2(high + i, kFirstFd + i);  // dup2 leaves FD_CLOEXEC clear
  ::close_range(static_cast<unsigned>(kFirstFd + count), ~0U, 0);

  // LISTEN_PID is this process: filled in now that it exists.
  char pid_text[32];
  const pid_t self = ::getpid();
  if (pid_entry < env_strings.size()) {
    char digits[16];
    int n = 0;
    for (pid_t v = self; v > 0 && n < 15; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    size_t at = 0;
    for (const char* p = "LISTEN_PID="; *p != '\0'; ++p) pid_text[at++] = *p;
    while (n > 0) pid_text[at++] = digits[--n];
    pid_text[at] = '\0';
  }
  std::vector<char*> envp;
  for (size_t i = 0; i < env_strings.size(); ++i) envp.push_back(i == pid_entry ? pid_text : env_strings[i].data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvpe(argv[0], argv.data(), envp.data());
  const int error = errno;
  const char* what = ::strerror(error);
  const char* prefix = "herdless run: cannot execute ";
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, prefix, std::strlen(prefix));
  w = ::write(STDERR_FILENO, argv[0], std::strlen(argv[0]));
  w = ::write(STDERR_FILENO, ": ", 2);
  w = ::write(STDERR_FILENO, what, std::strlen(what));
  w = ::write(STDERR_FILENO, "\n", 1);
  ::_exit(error == ENOENT ? 127 : 126);
}

}  // namespace

std::vector<std::string> program_environment(const ProgramLaunch& launch, pid_t pid, char** base) {
  std::vector<std::string> env;
  for (char** e = base; e != nullptr && *e != nullptr; ++e) {
    if (!replaced_by_us(*e)) env.emplace_back(*e);
  }
  const unsigned conventions = launch.program != nullptr ? launch.program->conventions : kFdSystemd | kFdEinhorn;
  const size_t count = launch.listen_fds.size();
  if ((conventions & kFdSystemd) != 0) {
    env.push_back("LISTEN_FDS=" + std::to_string(count));
    env.push_back("LISTEN_PID=" + std::to_string(pid));
    std::string names;
    for (size_t i = 0; i < launch.fd_names.size(); ++i) names += fmt::format("{}{}", i > 0 ? ":" : "", launch.fd_names[i]);
    env.push_back("LISTEN_FDNAMES=" + names);
  }
  if ((conventions & kFdEinhorn) != 0) {
    std::string fds;
    for (size_t i = 0; i < count; ++i) fds += fmt::format("{}{}", i > 0 ? " " : "", kFirstFd + static_cast<int>(i));
    env.push_back("EINHORN_FDS=" + fds);
  }
  env.push_back("HERDLESS_WORKER=" + std::to_string(launch.slot));
  env.push_back("HERDLESS_WORKERS=" + std::to_string(launch.workers));
  if (!launch.notify_socket.empty()) env.push_back("NOTIFY_SOCKET=" + launch.notify_socket);
  return env;
}

std::vector<std::string> program_argv(const ProgramLaunch& launch) {
  std::vector<std::string> argv;
  for (const std::string& arg : launch.program->command) argv.push_back(expand_worker(arg, launch.slot));
  return argv;
}

Result<std::unique_ptr<RunningWorker>> launch_program(const ProgramLaunch& launch) {
  // Everything is built before fork; the child only fills in its own pid.
  std::vector<std::string> argv = program_argv(launch);
  std::vector<std::string> env = program_environment(launch, 0, environ);
  size_t pid_entry = env.size();
  for (size_t i = 0; i < env.size(); ++i) {
    if (env[i].starts_with("LISTEN_PID=")) pid_entry = i;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", "program of worker " + std::to_string(launch.slot));
  if (pid == 0) exec_child(launch, parent, argv, env, pid_entry);
  ::setpgid(pid, pid);  // also here, so a kill() right after fork reaches the group
  return std::make_unique<ProgramProcess>(pid, launch.program->stop_signal);
}

}  // namespace herdless
