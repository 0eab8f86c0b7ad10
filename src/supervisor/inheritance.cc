// Encoding of the descriptors handed over by a binary upgrade.
#include "herdless/inheritance.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace herdless {
namespace {

Result<int> parse_number(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) {
    return input_error("malformed HERDLESS_INHERIT number", std::string(text));
  }
  return value;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const size_t at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace

std::vector<int> Inherited::fds() const {
  std::vector<int> out;
  if (admin_fd >= 0) out.push_back(admin_fd);
  if (slots_map_fd >= 0) out.push_back(slots_map_fd);
  for (const InheritedGroup& g : groups) {
    if (g.sockets_map_fd >= 0) out.push_back(g.sockets_map_fd);
    out.insert(out.end(), g.fds.begin(), g.fds.end());
  }
  return out;
}

const InheritedGroup* Inherited::group(std::string_view requested_url) const {
  for (const InheritedGroup& g : groups) {
    if (g.requested_url == requested_url) return &g;
  }
  return nullptr;
}

std::string encode_inherited(const Inherited& inherited) {
  std::string out = fmt::format("parent={};admin={};slots={}", inherited.parent_pid, inherited.admin_fd,
                                inherited.slots_map_fd);
  for (const InheritedGroup& g : inherited.groups) {
    out += fmt::format(";group={}@{}:", g.requested_url, g.sockets_map_fd);
    for (size_t i = 0; i < g.fds.size(); ++i) out += fmt::format("{}{}", i ? "," : "", g.fds[i]);
  }
  return out;
}

Result<Inherited> decode_inherited(std::string_view text) {
  Inherited out;
  for (std::string_view field : split(text, ';')) {
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos) return input_error("malformed HERDLESS_INHERIT field", std::string(field));
    const std::string_view key = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);
    if (key == "group") {
      const size_t at = value.rfind('@');
      const size_t colon = value.find(':', at == std::string_view::npos ? 0 : at);
      if (at == std::string_view::npos || colon == std::string_view::npos) {
        return input_error("malformed HERDLESS_INHERIT group", std::string(value));
      }
      InheritedGroup group;
      group.requested_url = std::string(value.substr(0, at));
      auto map = parse_number(value.substr(at + 1, colon - at - 1));
      if (!map) return std::unexpected(map.error());
      group.sockets_map_fd = *map;
      for (std::string_view fd : split(value.substr(colon + 1), ',')) {
        auto n = parse_number(fd);
        if (!n) return std::unexpected(n.error());
        group.fds.push_back(*n);
      }
      out.groups.push_back(std::move(group));
      continue;
    }
    auto n = parse_number(value);
    if (!n) return std::unexpected(n.error());
    if (key == "parent") out.parent_pid = *n;
    else if (key == "admin") out.admin_fd = *n;
    else if (key == "slots") out.slots_map_fd = *n;
    else return input_error("unknown HERDLESS_INHERIT field", std::string(key));
  }
  return out;
}

Result<std::optional<Inherited>> take_inherited_from_environment() {
  const char* text = std::getenv(kInheritVariable);
  if (text == nullptr) return std::optional<Inherited>();
  auto decoded = decode_inherited(text);
  ::unsetenv(kInheritVariable);
  if (!decoded) return std::unexpected(decoded.error());
  return std::optional<Inherited>(std::move(*decoded));
}

}  // namespace herdless
