// The load generator behind `herdless load` and `herdless bench`: one thread, one epoll
// loop, many non-blocking client sockets against a target address. It measures request
// rate, failures by kind, latency, and which worker answered ("worker=N" in the reply).
#pragma once

#include "herdless/error.h"
#include "herdless/load/load_options.h"
#include "herdless/load/load_result.h"

namespace herdless::load {

// Runs the load. Per-request failures are counted in the result; an Error is returned
// only for invalid options (validate_load_options) or when the loop itself cannot run
// (epoll_create1, epoll_wait). Returns within about duration + timeout in connect and udp
// modes.
Result<LoadResult> run_load(const LoadOptions& options);

}  // namespace herdless::load
