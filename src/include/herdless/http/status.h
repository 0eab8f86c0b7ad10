// HTTP status codes this project sends, and their reason phrases.
#pragma once

#include <string_view>

namespace herdless::http {

// "OK", "Bad Request", ...; "Unknown" for a code we never send.
std::string_view reason_phrase(int status);

}  // namespace herdless::http
