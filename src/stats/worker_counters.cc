// StatsTable: mmap(MAP_SHARED | MAP_ANONYMOUS) of WorkerCounters.
#include "herdless/worker_counters.h"

#include <sys/mman.h>

#include <ctime>
#include <new>
#include <utility>

namespace herdless {

Result<StatsTable> StatsTable::create(size_t capacity) {
  void* memory = ::mmap(nullptr, capacity * sizeof(WorkerCounters), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return sys_error("mmap", "stats table");
  StatsTable table;
  table.slots_ = static_cast<WorkerCounters*>(memory);
  table.capacity_ = capacity;
  for (size_t i = 0; i < capacity; ++i) new (&table.slots_[i]) WorkerCounters();
  return table;
}

StatsTable::StatsTable(StatsTable&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}

StatsTable& StatsTable::operator=(StatsTable&& other) noexcept {
  if (this != &other) {
    this->~StatsTable();
    slots_ = std::exchange(other.slots_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

StatsTable::~StatsTable() {
  if (slots_ != nullptr) ::munmap(slots_, capacity_ * sizeof(WorkerCounters));
}

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace herdless
