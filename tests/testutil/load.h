// Load for integration tests: 64 concurrent short-connection clients against a server,
// started in the background while the test signals or kills things.
#pragma once

#include <chrono>
#include <future>
#include <string>

#include "herdless/address.h"
#include "herdless/load/load_generator.h"

namespace herdless::testutil {

// Runs `herdless load`'s generator for `duration`; a failed run gives an empty result.
std::future<load::LoadResult> start_load(const ListenAddress& target, std::chrono::milliseconds duration,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                                         std::string send = "");

}  // namespace herdless::testutil
