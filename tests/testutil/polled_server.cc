// PolledServer: socket, eventfd wake-up and poll thread.
#include "testutil/polled_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "herdless/listener.h"

namespace herdless::testutil {

PolledServer::PolledServer(const char* url, std::chrono::milliseconds period) : period_(period) {
  auto requested = parse_listen_url(url);
  EXPECT_TRUE(requested) << url;
  auto socket = open_reuseport_socket(*requested, 4096);
  EXPECT_TRUE(socket) << socket.error().message();
  socket_ = std::move(*socket);
  address_ = *bound_address(socket_.get(), requested->transport);
  wake_.reset(::eventfd(0, EFD_CLOEXEC));
}

PolledServer::~PolledServer() { stop(); }

void PolledServer::start() { thread_ = std::thread([this] { loop(); }); }

void PolledServer::stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  EXPECT_EQ(::write(wake_.get(), &one, sizeof one), 8);
  thread_.join();
}

void PolledServer::loop() {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // never outlive a test
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(period_.count())) < 0 || (fds[1].revents & POLLIN) != 0) return;
    on_turn();
    if ((fds[0].revents & POLLIN) != 0) on_readable();
  }
}

}  // namespace herdless::testutil
