// Store: a sharded map, one mutex per shard (see store.h for why this design).
#include "store.h"

#include <charconv>

namespace redis {

void Store::append_get(std::string_view key, std::string& out) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.map.find(key);
  if (it == shard.map.end()) {
    out.append("$-1\r\n");
    return;
  }
  char length[24];
  const auto [end, ec] = std::to_chars(length, length + sizeof length, it->second.size());
  out.push_back('$');
  out.append(length, end);
  out.append("\r\n");
  out.append(it->second);
  out.append("\r\n");
}

void Store::set(std::string_view key, std::string_view value) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.map.find(key);
  if (it != shard.map.end()) it->second.assign(value);
  else shard.map.emplace(std::string(key), std::string(value));
}

int Store::del(std::string_view key) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.map.find(key);
  if (it == shard.map.end()) return 0;
  shard.map.erase(it);
  return 1;
}

Store::IncrResult Store::incr(std::string_view key, int64_t& result) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.map.find(key);
  int64_t value = 0;
  if (it != shard.map.end()) {
    const std::string& text = it->second;
    const char* first = text.data();
    const char* last = text.data() + text.size();
    // Redis's rule: a canonical decimal (no '+', no spaces, no leading zeros) of at most 20 chars.
    const bool canonical = !text.empty() && text.size() <= 20 && text[0] != '+' &&
                           !(text.size() > 1 && (text[0] == '0' || (text[0] == '-' && text[1] == '0')));
    const auto [end, ec] = std::from_chars(first, last, value);
    if (!canonical || ec != std::errc() || end != last) return IncrResult::not_integer;
  }
  if (value == INT64_MAX) return IncrResult::overflow;
  ++value;
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  if (it != shard.map.end()) it->second.assign(digits, end);
  else shard.map.emplace(std::string(key), std::string(digits, end));
  result = value;
  return IncrResult::ok;
}

size_t Store::size() {
  size_t total = 0;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.map.size();
  }
  return total;
}

}  // namespace redis
