// Parsing and formatting of listen URLs.
#include "herdless/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace herdless {
namespace {

Result<uint16_t> parse_port(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value > 65535) {
    return input_error("invalid port in address", std::string(whole));
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

uint16_t ListenAddress::port() const {
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

void ListenAddress::set_port(uint16_t port) {
  if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  }
}

std::string ListenAddress::host_port() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text, sizeof text);
    return fmt::format("[{}]:{}", text, port());  // not "[" + std::string: GCC 12 -O3's -Wrestrict
  }
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text, sizeof text);
  return fmt::format("{}:{}", text, port());
}

std::string ListenAddress::url() const {
  return std::string(transport == Transport::tcp ? "tcp://" : "udp://") + host_port();
}

Result<ListenAddress> parse_host_port(std::string_view text) {
  ListenAddress out;
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return input_error("invalid address (want [IPv6]:PORT)", std::string(text));
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr) != 1) {
      return input_error("invalid IPv6 address", std::string(text));
    }
    std::memcpy(&out.storage, &sin6, sizeof sin6);
    out.length = sizeof sin6;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return input_error("invalid address (want HOST:PORT)", std::string(text));
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) {
      return input_error("invalid IPv4 address", std::string(text));
    }
    std::memcpy(&out.storage, &sin, sizeof sin);
    out.length = sizeof sin;
  }
  auto port = parse_port(port_text, text);
  if (!port) return std::unexpected(port.error());
  out.set_port(*port);
  return out;
}

Result<ListenAddress> parse_listen_url(std::string_view url) {
  Transport transport;
  std::string_view rest;
  if (url.starts_with("tcp://")) {
    transport = Transport::tcp;
    rest = url.substr(6);
  } else if (url.starts_with("udp://")) {
    transport = Transport::udp;
    rest = url.substr(6);
  } else {
    return input_error("invalid listen URL (want tcp://HOST:PORT or udp://HOST:PORT)", std::string(url));
  }
  auto parsed = parse_host_port(rest);
  if (!parsed) return input_error(parsed.error().call, std::string(url));
  parsed->transport = transport;
  return parsed;
}

ListenAddress address_from_sockaddr(const sockaddr_storage& storage, socklen_t length, Transport transport) {
  ListenAddress out;
  out.storage = storage;
  out.length = length;
  out.transport = transport;
  return out;
}

}  // namespace herdless
