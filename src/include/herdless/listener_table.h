// ListenerTable: the supervisor's listening sockets, one per worker slot per listen address.
// Slot i of every address belongs to worker i; a replacement worker takes the same sockets.
#pragma once

#include <vector>

#include "herdless/address.h"
#include "herdless/error.h"
#include "herdless/fd.h"
#include "herdless/inheritance.h"

namespace herdless {

class ListenerTable {
 public:
  ListenerTable() = default;

  // Opens `slots` sockets per address. A port 0 is resolved by the first socket and shared
  // by the others. Sockets of `previous` whose requested URL reappears are reused (and
  // resized), so a reload keeps the queues of unchanged addresses.
  // With `inherited` (a binary upgrade), sockets handed over for a requested URL are adopted.
  // New sockets are blocking when `nonblocking` is false (herdless run: the programs' sockets,
  // which the supervisor never accepts from; a kept socket's flags are the programs' business).
  static Result<ListenerTable> open(const std::vector<ListenAddress>& requested, int slots, int backlog,
                                    ListenerTable* previous = nullptr, const Inherited* inherited = nullptr,
                                    bool nonblocking = true);

  int slots() const { return slots_; }
  // The addresses as bound (port 0 resolved), in the order requested.
  std::vector<ListenAddress> bound_addresses() const;
  // The sockets of one slot, one per address, in address order.
  std::vector<int> slot_fds(int slot) const;
  // The number of addresses (reuseport groups) and the sockets of one, indexed by slot.
  size_t groups() const { return groups_.size(); }
  std::vector<int> group_fds(size_t group) const;
  // Puts `fd` in place of a slot's socket of one group; returns the old socket.
  Fd replace_socket(size_t group, int slot, Fd fd);
  const ListenAddress& group_address(size_t group) const { return groups_.at(group).bound; }
  const ListenAddress& group_requested(size_t group) const { return groups_.at(group).requested; }
  // Connections waiting in a slot's accept queues (TCP_INFO), summed over groups.
  uint32_t queued(int slot) const;
  // Datagrams the kernel dropped on a slot's UDP sockets (receive buffer full), over groups.
  uint64_t udp_drops(int slot) const;
  // True when some address is of `transport`.
  bool serves(Transport transport) const;
  // The transports of the addresses, in the same order as slot_fds().
  std::vector<Transport> transports() const;
  // True when `requested` names the same addresses as this table was opened with.
  bool same_addresses(const std::vector<ListenAddress>& requested) const;

 private:
  struct Group {
    ListenAddress requested;
    ListenAddress bound;
    std::vector<Fd> sockets;  // index = slot
    size_t kept = 0;          // sockets taken over from a previous table (during open only)
  };
  static Result<void> grow(Group& group, int slots, int backlog, bool nonblocking);

  std::vector<Group> groups_;
  int slots_ = 0;
};

}  // namespace herdless
