// http_get: a minimal blocking HTTP/1.1 GET for the admin endpoint (herdless stats, tests).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "herdless/address.h"
#include "herdless/error.h"

namespace herdless {

// Returns the body of a 200 response; any other status is an Error naming it.
Result<std::string> http_get(const ListenAddress& server, std::string_view path,
                             std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

}  // namespace herdless
