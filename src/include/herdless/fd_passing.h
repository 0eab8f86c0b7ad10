// Passing a listening socket from the supervisor to a running worker over a SOCK_SEQPACKET
// socketpair (SCM_RIGHTS): after a stall rescue the worker gets its slot's fresh listener.
#pragma once

#include <cstdint>

#include "herdless/error.h"
#include "herdless/fd.h"

namespace herdless {

// One message: which listen address (group) the socket is for, and the socket.
struct PassedListener {
  uint32_t group = 0;
  Fd fd;
};

// A connected SOCK_SEQPACKET pair, both ends non-blocking and close-on-exec.
Result<std::pair<Fd, Fd>> make_channel();
Result<void> send_listener(int channel, uint32_t group, int listener);
// EAGAIN when nothing is waiting is an Error with code EAGAIN.
Result<PassedListener> receive_listener(int channel);

}  // namespace herdless
