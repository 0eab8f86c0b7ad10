// Creation of one SO_REUSEPORT listening socket (TCP) or bound socket (UDP), non-blocking for
// herdless's own workers, blocking for other programs (as systemd hands sockets over).
#pragma once

#include "herdless/address.h"
#include "herdless/error.h"
#include "herdless/fd.h"

namespace herdless {

// socket + SO_REUSEPORT + bind (+ listen(backlog) for TCP). On EADDRINUSE the Error names
// the usual cause: a socket without SO_REUSEPORT, or one of another user, holds the address.
Result<Fd> open_reuseport_socket(const ListenAddress& address, int backlog, bool nonblocking = true);

// The kernel's drop counter of a socket (SO_MEMINFO): for UDP, datagrams dropped because the
// receive buffer was full (or their checksum was bad). 0 if it cannot be read.
uint64_t socket_drops(int fd);

// The address a socket is bound to (resolves port 0 to the port the kernel chose).
Result<ListenAddress> bound_address(int fd, Transport transport);

}  // namespace herdless
