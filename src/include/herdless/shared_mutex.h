// SharedMutex: a robust, process-shared pthread mutex in an anonymous shared mapping, for the
// accept-mutex strategy (a worker killed while holding it does not block the others).
#pragma once

#include <pthread.h>

#include "herdless/error.h"

namespace herdless {

class SharedMutex {
 public:
  static Result<SharedMutex> create();
  SharedMutex() = default;
  SharedMutex(SharedMutex&& other) noexcept;
  SharedMutex& operator=(SharedMutex&& other) noexcept;
  ~SharedMutex();

  pthread_mutex_t* get() const { return mutex_; }

 private:
  pthread_mutex_t* mutex_ = nullptr;
};

// Non-blocking: true when the caller now holds it (recovering it from a dead holder).
bool try_lock_shared(pthread_mutex_t* mutex);
void unlock_shared(pthread_mutex_t* mutex);

}  // namespace herdless
