// Supervisor: binary upgrade, nginx-style. SIGUSR2 execs this binary's path again with the
// same arguments, the listening sockets, the admin socket and the steering maps left open
// (described in HERDLESS_INHERIT). The new supervisor adopts them, starts its workers on the
// same sockets, then sends SIGTERM to the old one, which drains and exits. No socket closes,
// so nothing queued is lost. --pid-file always names the supervisor in charge.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <spdlog/spdlog.h>

#include "herdless/supervisor.h"

extern char** environ;

namespace herdless {

void Supervisor::upgrade() {
  if (stopping_ || upgrade_pid_ > 0) return;
  if (exec_path_.empty() || options_.argv.empty()) {
    spdlog::error("upgrade: cannot tell which binary to run");
    return;
  }
  Inherited handed;
  handed.parent_pid = ::getpid();
  handed.admin_fd = admin_ ? admin_->listen_fd() : -1;
  handed.slots_map_fd = steering_ ? steering_->slots_map_fd() : -1;
  for (size_t g = 0; g < listeners_.groups(); ++g) {
    handed.groups.push_back(InheritedGroup{listeners_.group_requested(g).url(),
                                           steering_ ? steering_->sockets_map_fd(g) : -1, listeners_.group_fds(g)});
  }
  // Everything exec needs is built before fork: the child only clears close-on-exec and execs.
  std::string path = exec_path_;
  if (const std::string deleted = " (deleted)"; path.ends_with(deleted)) path.resize(path.size() - deleted.size());
  std::vector<std::string> env_strings{std::string(kInheritVariable) + "=" + encode_inherited(handed)};
  for (char** e = environ; *e != nullptr; ++e) {
    if (!std::string_view(*e).starts_with(std::string(kInheritVariable) + "=")) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = options_.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::vector<int> keep = handed.fds();

  const pid_t pid = ::fork();
  if (pid < 0) {
    spdlog::error("upgrade: fork: {}", std::strerror(errno));
    return;
  }
  if (pid == 0) {
    for (int fd : keep) ::fcntl(fd, F_SETFD, 0);
    ::execve(path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  upgrade_pid_ = pid;
  spdlog::info("upgrade: started {} as pid {}; it takes over once its workers run", path, pid);
}

void Supervisor::take_over_from_parent() {
  if (!inherited_) return;
  // The maps were duplicated by libbpf when reused; the inherited descriptors can go.
  if (inherited_->slots_map_fd >= 0) ::close(inherited_->slots_map_fd);
  for (const InheritedGroup& g : inherited_->groups) {
    if (g.sockets_map_fd >= 0) ::close(g.sockets_map_fd);
  }
  if (!admin_ && inherited_->admin_fd >= 0) ::close(inherited_->admin_fd);
  if (inherited_->parent_pid > 0 && inherited_->parent_pid == ::getppid()) {
    spdlog::info("upgrade: took over the sockets of pid {}; asking it to drain", inherited_->parent_pid);
    ::kill(inherited_->parent_pid, SIGTERM);
  }
  inherited_.reset();
}

void Supervisor::write_pid_file() {
  if (options_.config.pid_file.empty()) return;
  // Written aside and renamed, so a reader never sees an empty or half-written file.
  const std::string partial = options_.config.pid_file + ".new";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << ::getpid() << "\n";
    if (!out) {
      spdlog::error("cannot write pid file {}", partial);
      return;
    }
  }
  if (::rename(partial.c_str(), options_.config.pid_file.c_str()) != 0) {
    spdlog::error("cannot write pid file {}: {}", options_.config.pid_file, std::strerror(errno));
  }
}

void Supervisor::remove_pid_file() {
  if (options_.config.pid_file.empty()) return;
  std::ifstream in(options_.config.pid_file);
  pid_t pid = 0;
  // After an upgrade the file names the new supervisor: leave it.
  if (in >> pid && pid == ::getpid()) ::unlink(options_.config.pid_file.c_str());
}

}  // namespace herdless
