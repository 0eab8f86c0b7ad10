// PortOwner: own_port skeleton lifecycle (open -> load -> fill -> attach to the netns) and
// the refill of its maps from the listener table.
#include "herdless/port_owner.h"

#include "herdless/libbpf_log.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstring>

#include "herdless/fd.h"
#include "own_port_shared.h"

#define HERDLESS_SKELETON "own_port.skel.h"
#include "steer/include_skeleton.h"

namespace herdless {
namespace {

herdless_owned describe(const ListenAddress& bound, int fd) {
  herdless_owned o{};
  o.family = static_cast<uint32_t>(bound.family());
  o.protocol = bound.transport == Transport::tcp ? IPPROTO_TCP : IPPROTO_UDP;
  o.port = bound.port();
  if (bound.family() == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &bound.storage, sizeof sin6);
    o.wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr) ? 1 : 0;
    std::memcpy(o.ip6, &sin6.sin6_addr, sizeof o.ip6);
    int v6only = 1;
    socklen_t length = sizeof v6only;
    if (::getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &length) == 0) o.v4_too = v6only == 0 ? 1 : 0;
  } else {
    sockaddr_in sin{};
    std::memcpy(&sin, &bound.storage, sizeof sin);
    o.wildcard = sin.sin_addr.s_addr == htonl(INADDR_ANY) ? 1 : 0;
    o.ip4 = sin.sin_addr.s_addr;
  }
  return o;
}

}  // namespace

Result<std::unique_ptr<PortOwner>> PortOwner::attach(const ListenerTable& table) {
  route_libbpf_messages_to_debug_log();
  std::unique_ptr<PortOwner> owner(new PortOwner());
  owner->skel_ = own_port_bpf__open();
  if (owner->skel_ == nullptr) return sys_error("bpf open", "own_port program");
  if (const int err = own_port_bpf__load(owner->skel_); err != 0) return sys_error("bpf load", "own_port program", -err);
  if (auto filled = owner->update(table); !filled) return std::unexpected(filled.error());
  Fd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!netns) return sys_error("open", "/proc/self/ns/net");
  owner->link_ = bpf_program__attach_netns(owner->skel_->progs.herdless_own_port, netns.get());
  if (owner->link_ == nullptr) return sys_error("bpf attach", "sk_lookup (network namespace)");
  return owner;
}

PortOwner::~PortOwner() {
  if (link_ != nullptr) bpf_link__destroy(link_);
  if (skel_ != nullptr) own_port_bpf__destroy(skel_);
}

Result<void> PortOwner::update(const ListenerTable& table) {
  const int owned_fd = bpf_map__fd(skel_->maps.owned);
  const int sockets_fd = bpf_map__fd(skel_->maps.owned_sockets);
  // Only wildcard binds (0.0.0.0:P, [::]:P) can lose to a more specific one; a specific
  // address has nothing more specific to fear (a same-address bind joins our reuseport group,
  // where our steering program never picks it). Capturing it anyway would run the reuseport
  // program twice per UDP datagram (the kernel's exact-address lookup comes first for UDP).
  std::vector<size_t> wildcard;
  for (size_t g = 0; g < table.groups() && wildcard.size() < HERDLESS_OWNED_MAX; ++g) {
    const std::vector<int> fds = table.group_fds(g);
    if (!fds.empty() && describe(table.group_address(g), fds.front()).wildcard != 0) wildcard.push_back(g);
  }
  const uint32_t count = static_cast<uint32_t>(wildcard.size());
  // Entries are rewritten in place (a SYN that races a reload may see one half-written); a
  // shrinking count goes down first, so no entry past the new end is read while it changes.
  const uint32_t before = __atomic_load_n(&skel_->bss->nr_owned, __ATOMIC_RELAXED);
  __atomic_store_n(&skel_->bss->nr_owned, std::min(before, count), __ATOMIC_RELEASE);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t g = wildcard[i];
    const std::vector<int> fds = table.group_fds(g);
    const herdless_owned o = describe(table.group_address(g), fds.front());
    if (bpf_map_update_elem(owned_fd, &i, &o, BPF_ANY) != 0) return sys_error("bpf_map_update_elem(owned)", "");
    for (uint32_t j = 0; j < HERDLESS_OWNED_SOCKETS; ++j) {
      const uint32_t key = i * HERDLESS_OWNED_SOCKETS + j;
      if (j >= fds.size()) {
        bpf_map_delete_elem(sockets_fd, &key);
        continue;
      }
      const uint64_t fd = static_cast<uint64_t>(fds[j]);
      if (bpf_map_update_elem(sockets_fd, &key, &fd, BPF_ANY) != 0) {
        return sys_error("bpf_map_update_elem(owned_sockets)", table.group_address(g).url());
      }
    }
  }
  __atomic_store_n(&skel_->bss->nr_owned, count, __ATOMIC_RELEASE);
  return {};
}

uint64_t PortOwner::assigned() const { return __atomic_load_n(&skel_->bss->assigned, __ATOMIC_RELAXED); }

}  // namespace herdless
