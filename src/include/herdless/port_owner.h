// PortOwner: the SK_LOOKUP program (bpf/own_port.bpf.c) attached to the supervisor's network
// namespace, so every connection and datagram for an address and port herdless serves reaches
// herdless's own reuseport group, even when another process binds a more specific address on
// the same port. Needs BPF privilege; detached when the object (its link) goes, or when the
// process that holds it dies.
#pragma once

#include <cstdint>
#include <memory>

#include "herdless/error.h"
#include "herdless/listener_table.h"

struct own_port_bpf;
struct bpf_link;

namespace herdless {

class PortOwner {
 public:
  // Loads the program, fills it from `table` and attaches it to this network namespace.
  static Result<std::unique_ptr<PortOwner>> attach(const ListenerTable& table);
  ~PortOwner();
  PortOwner(const PortOwner&) = delete;
  PortOwner& operator=(const PortOwner&) = delete;

  // Refills the served addresses and sockets after a reload, resize or a slot's new socket.
  Result<void> update(const ListenerTable& table);
  // Lookups the program gave to herdless's sockets so far.
  uint64_t assigned() const;

 private:
  PortOwner() = default;
  own_port_bpf* skel_ = nullptr;
  bpf_link* link_ = nullptr;
};

}  // namespace herdless
