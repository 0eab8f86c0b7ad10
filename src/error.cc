// Formatting of Error into the one-line messages the CLI prints.
#include "herdless/error.h"

#include <cstring>

namespace herdless {

std::string Error::message() const {
  std::string out = call;
  if (!context.empty()) out += " " + context;
  if (code != 0) out += std::string(": ") + std::strerror(code);
  return out;
}

}  // namespace herdless
