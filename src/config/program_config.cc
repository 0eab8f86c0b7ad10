// Parsing and checks of the `herdless run` settings.
#include "herdless/program_config.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace herdless {

Result<unsigned> parse_fd_conventions(std::string_view text) {
  if (text == "none") return 0U;
  unsigned out = 0;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    if (item == "systemd") out |= kFdSystemd;
    else if (item == "einhorn") out |= kFdEinhorn;
    else return input_error("invalid fd-env", fmt::format("'{}' (want systemd, einhorn, systemd,einhorn or none)", text));
    start = comma + 1;
  }
  return out;
}

std::string fd_conventions_text(unsigned conventions) {
  if (conventions == (kFdSystemd | kFdEinhorn)) return "systemd,einhorn";
  if (conventions == kFdSystemd) return "systemd";
  if (conventions == kFdEinhorn) return "einhorn";
  return "none";
}

Result<int> parse_signal(std::string_view text) {
  int number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!text.empty() && ec == std::errc{} && ptr == text.data() + text.size() && number > 0 && number < NSIG) {
    return number;
  }
  std::string name(text);
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    if (abbrev != nullptr && name == abbrev) return sig;
  }
  return input_error("invalid stop-signal",
                     fmt::format("'{}' (want a signal name such as TERM, QUIT, INT, or a number)", text));
}

Result<std::string> resolve_command(const std::string& name) {
  auto check = [](const std::string& path) -> Result<std::string> {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return sys_error("cannot run", path);
    if (S_ISDIR(st.st_mode)) return sys_error("cannot run", path, EISDIR);
    if (::access(path.c_str(), X_OK) != 0) return sys_error("cannot run", path);
    return path;
  };
  if (name.empty()) return input_error("no command:", "herdless run [flags] -- COMMAND [ARG...]");
  if (name.find('/') != std::string::npos) return check(name);
  const char* env = std::getenv("PATH");
  const std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    const size_t colon = std::min(path.find(':', start), path.size());
    const std::string dir = colon == start ? "." : path.substr(start, colon - start);
    if (auto found = check(dir + "/" + name)) return found;
    start = colon + 1;
  }
  return input_error("cannot run", "'" + name + "': not found in PATH");
}

}  // namespace herdless
