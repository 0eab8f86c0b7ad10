// ListenerTable: opening, reusing and resizing the per-slot SO_REUSEPORT sockets.
#include "herdless/listener_table.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>

#include "herdless/listener.h"

namespace herdless {

Result<void> ListenerTable::grow(Group& group, int slots, int backlog, bool nonblocking) {
  while (static_cast<int>(group.sockets.size()) < slots) {
    // Every slot after the first binds the port the first one got, so port 0 is shared.
    const ListenAddress& target = group.sockets.empty() ? group.requested : group.bound;
    auto fd = open_reuseport_socket(target, backlog, nonblocking);
    if (!fd) return std::unexpected(fd.error());
    if (group.sockets.empty()) {
      auto bound = bound_address(fd->get(), group.requested.transport);
      if (!bound) return std::unexpected(bound.error());
      group.bound = *bound;
    }
    group.sockets.push_back(std::move(*fd));
  }
  return {};
}

Result<ListenerTable> ListenerTable::open(const std::vector<ListenAddress>& requested, int slots,
                                          int backlog, ListenerTable* previous, const Inherited* inherited,
                                          bool nonblocking) {
  ListenerTable table;
  table.slots_ = slots;
  // The previous table's address order, to restore it if this open fails half-way.
  std::vector<std::string> previous_order;
  if (previous != nullptr) {
    for (const Group& g : previous->groups_) previous_order.push_back(g.requested.url());
  }
  auto restore_order = [&] {
    auto rank = [&](const Group& g) {
      return std::find(previous_order.begin(), previous_order.end(), g.requested.url()) - previous_order.begin();
    };
    std::stable_sort(previous->groups_.begin(), previous->groups_.end(),
                     [&](const Group& a, const Group& b) { return rank(a) < rank(b); });
  };
  for (const ListenAddress& address : requested) {
    Group group;
    group.requested = address;
    size_t kept = 0;  // sockets the group had in `previous`
    if (previous != nullptr) {
      auto& old = previous->groups_;
      auto it = std::find_if(old.begin(), old.end(), [&](const Group& g) { return g.requested == address; });
      if (it != old.end()) {
        group = std::move(*it);
        old.erase(it);
        kept = group.sockets.size();
      }
    }
    if (const InheritedGroup* handed = inherited ? inherited->group(address.url()) : nullptr;
        handed != nullptr && group.sockets.empty()) {
      for (int fd : handed->fds) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // cleared for the exec that brought it here
        group.sockets.emplace_back(fd);
      }
      if (!group.sockets.empty()) {
        auto bound = bound_address(group.sockets.front().get(), address.transport);
        if (!bound) return std::unexpected(bound.error());
        group.bound = *bound;
      }
    }
    // Only grow here: shrinking closes sockets, which must wait until the whole table opened.
    auto grown = grow(group, std::max(slots, static_cast<int>(kept)), backlog, nonblocking);
    if (!grown) {
      // Hand reused groups back (without the sockets just added) so a failed reload leaves
      // the previous table as it was.
      if (previous != nullptr) {
        if (kept > 0) {
          group.sockets.resize(kept);
          previous->groups_.push_back(std::move(group));
        }
        for (auto& g : table.groups_) {
          if (g.kept > 0) {
            g.sockets.resize(g.kept);
            previous->groups_.push_back(std::move(g));
          }
        }
        restore_order();
      }
      return std::unexpected(grown.error());
    }
    group.kept = kept;
    table.groups_.push_back(std::move(group));
  }
  for (Group& g : table.groups_) g.sockets.resize(static_cast<size_t>(slots));  // closes removed slots
  return table;
}

std::vector<ListenAddress> ListenerTable::bound_addresses() const {
  std::vector<ListenAddress> out;
  for (const Group& g : groups_) out.push_back(g.bound);
  return out;
}

std::vector<int> ListenerTable::slot_fds(int slot) const {
  std::vector<int> out;
  for (const Group& g : groups_) out.push_back(g.sockets.at(static_cast<size_t>(slot)).get());
  return out;
}

std::vector<int> ListenerTable::group_fds(size_t group) const {
  std::vector<int> out;
  for (const Fd& fd : groups_.at(group).sockets) out.push_back(fd.get());
  return out;
}

Fd ListenerTable::replace_socket(size_t group, int slot, Fd fd) {
  Fd& place = groups_.at(group).sockets.at(static_cast<size_t>(slot));
  Fd old(place.release());
  place = std::move(fd);
  return old;
}

uint32_t ListenerTable::queued(int slot) const {
  uint32_t total = 0;
  for (const Group& g : groups_) {
    if (g.requested.transport != Transport::tcp) continue;
    tcp_info info{};
    socklen_t length = sizeof info;
    // On a listener, tcpi_unacked is the accept queue's current length.
    if (::getsockopt(g.sockets.at(static_cast<size_t>(slot)).get(), IPPROTO_TCP, TCP_INFO, &info, &length) == 0) {
      total += info.tcpi_unacked;
    }
  }
  return total;
}

uint64_t ListenerTable::udp_drops(int slot) const {
  uint64_t total = 0;
  for (const Group& g : groups_) {
    if (g.requested.transport == Transport::udp) total += socket_drops(g.sockets.at(static_cast<size_t>(slot)).get());
  }
  return total;
}

bool ListenerTable::serves(Transport transport) const {
  return std::ranges::any_of(groups_, [transport](const Group& g) { return g.requested.transport == transport; });
}

std::vector<Transport> ListenerTable::transports() const {
  std::vector<Transport> out;
  for (const Group& g : groups_) out.push_back(g.requested.transport);
  return out;
}

bool ListenerTable::same_addresses(const std::vector<ListenAddress>& requested) const {
  if (requested.size() != groups_.size()) return false;
  for (size_t i = 0; i < requested.size(); ++i) {
    if (!(requested[i] == groups_[i].requested)) return false;
  }
  return true;
}

}  // namespace herdless
