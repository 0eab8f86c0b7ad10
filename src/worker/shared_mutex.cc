// SharedMutex: PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST in MAP_SHARED memory.
#include "herdless/shared_mutex.h"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

namespace herdless {

Result<SharedMutex> SharedMutex::create() {
  void* memory = ::mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return sys_error("mmap", "accept mutex");
  SharedMutex out;
  out.mutex_ = static_cast<pthread_mutex_t*>(memory);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int err = pthread_mutex_init(out.mutex_, &attr);
  pthread_mutexattr_destroy(&attr);
  if (err != 0) return sys_error("pthread_mutex_init", "accept mutex", err);
  return out;
}

SharedMutex::SharedMutex(SharedMutex&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}

SharedMutex& SharedMutex::operator=(SharedMutex&& other) noexcept {
  if (this != &other) {
    this->~SharedMutex();
    mutex_ = std::exchange(other.mutex_, nullptr);
  }
  return *this;
}

SharedMutex::~SharedMutex() {
  if (mutex_ != nullptr) ::munmap(mutex_, sizeof(pthread_mutex_t));
}

bool try_lock_shared(pthread_mutex_t* mutex) {
  const int err = pthread_mutex_trylock(mutex);
  if (err == EOWNERDEAD) {
    pthread_mutex_consistent(mutex);
    return true;
  }
  return err == 0;
}

void unlock_shared(pthread_mutex_t* mutex) { pthread_mutex_unlock(mutex); }

}  // namespace herdless
