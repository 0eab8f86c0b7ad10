// Errors as values at system boundaries: Result<T> carries either T or an Error naming
// the failing call, the errno and the context (an address, a path) it failed on.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace herdless {

struct Error {
  std::string call;     // the failing call ("bind", "open"), or a short kind ("parse")
  int code = 0;         // errno of a system call, 0 for input errors
  std::string context;  // what it was called on: an address, a file, a key

  // "bind tcp://0.0.0.0:80: Address already in use" or "parse: <context>".
  std::string message() const;
};

template <class T>
using Result = std::expected<T, Error>;

// A failed system call, with errno captured at the call site by default.
inline std::unexpected<Error> sys_error(std::string call, std::string context, int code = errno) {
  return std::unexpected(Error{std::move(call), code, std::move(context)});
}

// Bad input (a malformed address, an invalid config value): no errno.
inline std::unexpected<Error> input_error(std::string what, std::string detail) {
  return std::unexpected(Error{std::move(what), 0, std::move(detail)});
}

}  // namespace herdless
