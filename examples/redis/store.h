// Store: the key space every worker shares. herdless runs this example in thread mode (all
// workers are threads of one process), so one in-memory map serves them all; with process
// mode each worker would be a separate process and the map would have to live in shared memory
// (with a cross-process allocator and locks), which this small example does not attempt.
// The map is cut into shards by the key's hash, each under its own mutex: two workers contend
// only when they touch keys of the same shard at the same moment, and no lock is held while
// anything but the map is touched.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace redis {

class Store {
 public:
  enum class IncrResult { ok, not_integer, overflow };

  // Appends the RESP reply of GET key to `out`: the value as a bulk string, or the nil bulk
  // string ("$-1\r\n") when the key is absent. The value is copied under the shard's lock.
  void append_get(std::string_view key, std::string& out);
  void set(std::string_view key, std::string_view value);
  // 1 if the key existed (and is now gone), else 0.
  int del(std::string_view key);
  // INCR: the value as a decimal 64-bit integer plus one (an absent key counts as 0).
  IncrResult incr(std::string_view key, int64_t& result);
  size_t size();

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::string, Hash, std::equal_to<>>;
  struct alignas(64) Shard {
    std::mutex mutex;
    Map map;
  };
  static constexpr size_t kShards = 64;

  Shard& shard_of(std::string_view key) {
    // The top bits choose the shard; the map's buckets use the hash modulo a prime.
    return shards_[(Hash{}(key) >> 40) % kShards];
  }

  std::array<Shard, kShards> shards_;
};

}  // namespace redis
