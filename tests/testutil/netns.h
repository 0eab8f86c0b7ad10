// Test isolation: move the calling thread (and every process it later starts) into a new
// network namespace with loopback up; and the privilege checks that steering tests need.
#pragma once

#include <string>

namespace herdless::testutil {

// unshare(CLONE_NEWNET) + "lo" up. Returns an empty string on success, else why not.
std::string enter_new_netns();

// Empty when this process may load BPF programs (root with CAP_BPF or CAP_SYS_ADMIN), else why not.
std::string bpf_unavailable_reason();

}  // namespace herdless::testutil

// Skips the current test (with the reason) unless it runs as root in a fresh netns with BPF.
#define HERDLESS_REQUIRE_BPF_NETNS()                                                 \
  do {                                                                               \
    if (auto why = ::herdless::testutil::bpf_unavailable_reason(); !why.empty()) {   \
      GTEST_SKIP() << why;                                                           \
    }                                                                                \
    if (auto why = ::herdless::testutil::enter_new_netns(); !why.empty()) {          \
      GTEST_SKIP() << why;                                                           \
    }                                                                                \
  } while (0)
