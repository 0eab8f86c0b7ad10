// Integration: every kind of bad input gives one line on stderr naming the problem, exit
// code 2, and nothing left running.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "herdless/listener.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using testutil::run_herdless;

void expect_bad_input(const std::vector<std::string>& args, const std::string& mentions) {
  const auto result = run_herdless(args);
  EXPECT_EQ(result.exit_code, 2) << result.stderr_text;
  EXPECT_NE(result.stderr_text.find(mentions), std::string::npos) << result.stderr_text;
  EXPECT_EQ(std::count(result.stderr_text.begin(), result.stderr_text.end(), '\n'), 1) << result.stderr_text;
  EXPECT_FALSE(result.left_running);
}

std::string write_temp(const std::string& text) {
  std::string path = "/tmp/herdless-config-XXXXXX";
  const int fd = ::mkstemp(path.data());
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

// A listening socket on 127.0.0.1 without SO_REUSEPORT; returns its port.
int hold_port_without_reuseport(Fd& holder) {
  holder.reset(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(holder.get(), 16), 0);
  socklen_t len = sizeof addr;
  ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST(BadInput, UdpSettings) {
  expect_bad_input({"serve", "--listen", "udp://127.0.0.1:0", "--udp-session-key", "0:40"}, "udp-session-key");
  expect_bad_input({"serve", "--listen", "udp://127.0.0.1:0", "--udp-steer", "session"}, "udp-session-key");
  expect_bad_input({"serve", "--listen", "udp://127.0.0.1:0", "--service", "http"}, "tcp://");
  expect_bad_input({"serve", "--listen", "udp://127.0.0.1:0", "--udp-max-datagram", "70000"}, "udp-max-datagram");
}

TEST(BadInput, UnknownFlag) { expect_bad_input({"serve", "--no-such-flag"}, "--no-such-flag"); }

TEST(BadInput, ZeroWorkers) { expect_bad_input({"serve", "--workers", "0", "--admin", "off"}, "workers"); }

TEST(BadInput, UnparsableAddress) {
  expect_bad_input({"serve", "--listen", "tcp://300.1.1.1:80"}, "300.1.1.1");
  expect_bad_input({"serve", "--listen", "127.0.0.1:80"}, "tcp://");
  expect_bad_input({"serve", "--listen", "tcp://127.0.0.1:99999"}, "port");
  expect_bad_input({"serve", "--listen", "tcp://[::1:80"}, "[::1:80");
}

TEST(BadInput, UnreadableConfigFile) {
  expect_bad_input({"serve", "--config", "/nonexistent/herdless.toml"}, "/nonexistent/herdless.toml");
}

TEST(BadInput, InvalidConfigFile) {
  const std::string syntax = write_temp("workers = [unterminated\n");
  expect_bad_input({"serve", "--config", syntax}, "invalid config file");
  const std::string unknown = write_temp("wokers = 4\n");
  expect_bad_input({"serve", "--config", unknown}, "wokers");
  const std::string bad_value = write_temp("workers = 0\n");
  expect_bad_input({"serve", "--config", bad_value}, "workers");
  for (const auto& p : {syntax, unknown, bad_value}) ::unlink(p.c_str());
}

TEST(BadInput, AddressHeldWithoutReuseport) {
  Fd holder;
  const int port = hold_port_without_reuseport(holder);
  expect_bad_input({"serve", "--listen", "tcp://127.0.0.1:" + std::to_string(port), "--admin", "off"},
                   "without SO_REUSEPORT");
}

TEST(BadInput, AddressHeldByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to bind as another user";
  // A child running as nobody holds an SO_REUSEPORT listener; the kernel refuses to let a
  // socket of another user join its reuseport group.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    auto address = parse_listen_url("tcp://127.0.0.1:0");
    auto fd = open_reuseport_socket(*address, 16);
    if (!fd) ::_exit(4);
    auto bound = bound_address(fd->get(), Transport::tcp);
    const uint16_t p = bound->port();
    [[maybe_unused]] auto n = ::write(ready[1], &p, sizeof p);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  uint16_t port = 0;
  ASSERT_EQ(::read(ready[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  ::close(ready[0]);
  expect_bad_input({"serve", "--listen", "tcp://127.0.0.1:" + std::to_string(port), "--admin", "off"},
                   "another user");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST(BadInput, HelpAndVersionSucceed) {
  const auto help = run_herdless({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.stdout_text.find("serve"), std::string::npos);
  const auto version = run_herdless({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.stdout_text.find("herdless "), std::string::npos);
}

}  // namespace
}  // namespace herdless
