// enter_new_netns and the BPF privilege check.
#include "testutil/netns.h"

#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "herdless/fd.h"

namespace herdless::testutil {

std::string enter_new_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::string("socket: ") + std::strerror(errno);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &request) != 0) return std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(fd.get(), SIOCSIFFLAGS, &request) != 0) return std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  return {};
}

std::string bpf_unavailable_reason() {
  if (::geteuid() != 0) return "needs root (CAP_BPF) to load the steering program";
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return std::string("capget: ") + std::strerror(errno);
  auto has = [&](int cap) { return (data[cap / 32].effective & (1u << (cap % 32))) != 0; };
  if (!has(CAP_SYS_ADMIN) && !has(CAP_BPF)) return "needs CAP_BPF or CAP_SYS_ADMIN";
  if (!has(CAP_NET_ADMIN)) return "needs CAP_NET_ADMIN for a network namespace";
  return {};
}

}  // namespace herdless::testutil
