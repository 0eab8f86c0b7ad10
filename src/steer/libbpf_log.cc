// libbpf's messages into spdlog's debug level.
#include "herdless/libbpf_log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <spdlog/spdlog.h>
#include <string>

namespace herdless {
namespace {

int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  const int n = std::vsnprintf(line, sizeof line, format, args);
  std::string text(line, n > 0 ? std::min(static_cast<size_t>(n), sizeof line - 1) : 0);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  spdlog::debug("libbpf: {}", text);
  return 0;
}

}  // namespace

void route_libbpf_messages_to_debug_log() { libbpf_set_print(libbpf_log); }

}  // namespace herdless
