// start_load: the load generator on its own thread.
#include "testutil/load.h"

namespace herdless::testutil {

std::future<load::LoadResult> start_load(const ListenAddress& target, std::chrono::milliseconds duration,
                                         std::chrono::milliseconds timeout, std::string send) {
  return std::async(std::launch::async, [target, duration, timeout, send = std::move(send)] {
    load::LoadOptions options;
    options.target = target;
    options.concurrency = 64;
    options.duration = duration;
    options.timeout = timeout;
    options.send = send;
    return load::run_load(options).value_or(load::LoadResult{});
  });
}

}  // namespace herdless::testutil
