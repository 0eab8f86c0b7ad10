// Integration: examples/redis (issue 13's example 2, a RESP2 server on the public API) with 2
// worker threads on 127.0.0.1 port 0. Every command's exact reply over a raw socket and through
// Debian's redis-cli; 1000 pipelined commands in one write and a command cut into single
// bytes; redis-cli --pipe; and keys written through one worker read and incremented through
// the other (HERDLESS.WORKER names the worker serving a connection). Skips when the example
// was not built (HERDLESS_REDIS_BINARY) or, for the redis-cli cases, when redis-tools is absent.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "testutil/client.h"
#include "testutil/server_process.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;
using testutil::ServerProcess;

#ifdef HERDLESS_REDIS_BINARY
constexpr const char* kRedisBinary = HERDLESS_REDIS_BINARY;
#else
constexpr const char* kRedisBinary = "";
#endif

// The end of the RESP reply that starts at `at`, or npos while it is incomplete.
size_t reply_end(std::string_view s, size_t at) {
  if (at >= s.size()) return std::string_view::npos;
  const size_t line_end = s.find("\r\n", at);
  if (line_end == std::string_view::npos) return std::string_view::npos;
  const char kind = s[at];
  if (kind == '+' || kind == '-' || kind == ':') return line_end + 2;
  const long n = std::stol(std::string(s.substr(at + 1, line_end - at - 1)));
  if (kind == '$') {
    if (n < 0) return line_end + 2;
    const size_t end = line_end + 2 + static_cast<size_t>(n) + 2;
    return end <= s.size() ? end : std::string_view::npos;
  }
  size_t next = line_end + 2;  // '*': n replies follow
  for (long i = 0; i < n; ++i) {
    next = reply_end(s, next);
    if (next == std::string_view::npos) return next;
  }
  return next;
}

// A raw RESP connection: send bytes, read exactly `replies` replies.
class RawClient {
 public:
  explicit RawClient(const ListenAddress& server) {
    auto fd = testutil::connect_to(server, 5s);
    if (fd) fd_ = std::move(*fd);
  }
  bool connected() const { return static_cast<bool>(fd_); }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // The next `replies` replies, concatenated ("" on a timeout or EOF before them).
  std::string read_replies(size_t replies) {
    for (;;) {
      size_t at = 0;
      size_t got = 0;
      while (got < replies) {
        const size_t end = reply_end(buffer_, at);
        if (end == std::string::npos) break;
        at = end;
        ++got;
      }
      if (got == replies) {
        std::string out = buffer_.substr(0, at);
        buffer_.erase(0, at);
        return out;
      }
      char chunk[65536];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  std::string call(std::string_view request, size_t replies = 1) {
    send(request);
    return read_replies(replies);
  }
  // The worker serving this connection (HERDLESS.WORKER), -1 if it does not say.
  int worker() {
    const std::string reply = call("*1\r\n$15\r\nHERDLESS.WORKER\r\n");
    return reply.size() > 3 && reply[0] == ':' ? std::stoi(reply.substr(1)) : -1;
  }
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  std::string buffer_;
};

// A command as redis-cli sends it: an array of bulk strings.
std::string command(std::vector<std::string> words) {
  std::string out = fmt::format("*{}\r\n", words.size());
  for (const std::string& w : words) out += fmt::format("${}\r\n{}\r\n", w.size(), w);
  return out;
}

// Runs a shell command; its stdout.
std::string shell(const std::string& cmd) {
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

class LibraryRedis : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (*kRedisBinary == '\0' || ::access(kRedisBinary, X_OK) != 0) return;
    testutil::SpawnOptions options;
    options.binary = kRedisBinary;
    server_ = new ServerProcess({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--admin", "127.0.0.1:0"},
                                options);
    if (!server_->wait_ready(1, 10s)) {
      ADD_FAILURE() << "herdless-redis did not start; its log:\n" << server_->log();
      delete server_;
      server_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (*kRedisBinary == '\0') GTEST_SKIP() << "examples/redis not built (no HERDLESS_REDIS_BINARY)";
    if (::access(kRedisBinary, X_OK) != 0) GTEST_SKIP() << kRedisBinary << " missing: build herdless_redis_example";
    ASSERT_NE(server_, nullptr);
  }
  static const ListenAddress& address() { return server_->listener(); }
  static std::string cli(const std::string& args) {
    return shell(fmt::format("redis-cli --no-raw -h 127.0.0.1 -p {} {} 2>&1", address().port(), args));
  }
  static bool have_redis_cli() { return shell("command -v redis-cli").find("redis-cli") != std::string::npos; }

  static ServerProcess* server_;
};

ServerProcess* LibraryRedis::server_ = nullptr;

TEST_F(LibraryRedis, EverySupportedCommandGivesRedisReplyBytes) {
  RawClient c(address());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.call(command({"PING"})), "+PONG\r\n");
  EXPECT_EQ(c.call(command({"ping", "hello"})), "$5\r\nhello\r\n");
  EXPECT_EQ(c.call(command({"ECHO", "two words"})), "$9\r\ntwo words\r\n");
  EXPECT_EQ(c.call(command({"ECHO", ""})), "$0\r\n\r\n");
  EXPECT_EQ(c.call(command({"DEL", "raw:k", "raw:n"})), ":0\r\n");
  EXPECT_EQ(c.call(command({"GET", "raw:k"})), "$-1\r\n");
  EXPECT_EQ(c.call(command({"SET", "raw:k", std::string("a\r\nb\0c", 6)})), "+OK\r\n");
  EXPECT_EQ(c.call(command({"GET", "raw:k"})), std::string("$6\r\na\r\nb\0c\r\n", 12));
  EXPECT_EQ(c.call(command({"INCR", "raw:k"})), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(c.call(command({"INCR", "raw:n"})), ":1\r\n");
  EXPECT_EQ(c.call(command({"incr", "raw:n"})), ":2\r\n");
  EXPECT_EQ(c.call(command({"SET", "raw:n", "9223372036854775806"})), "+OK\r\n");
  EXPECT_EQ(c.call(command({"INCR", "raw:n"})), ":9223372036854775807\r\n");
  EXPECT_EQ(c.call(command({"INCR", "raw:n"})), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(c.call(command({"SET", "raw:n", "-5"})), "+OK\r\n");
  EXPECT_EQ(c.call(command({"INCR", "raw:n"})), ":-4\r\n");
  EXPECT_EQ(c.call(command({"DEL", "raw:k", "raw:n", "raw:absent"})), ":2\r\n");
  EXPECT_EQ(c.call(command({"GET", "raw:k"})), "$-1\r\n");
  EXPECT_EQ(c.call(command({"GET"})), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(c.call(command({"SET", "k", "v", "EX", "10"})), "-ERR syntax error\r\n");
  EXPECT_EQ(c.call(command({"NOPE", "x"})), "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n");
  EXPECT_EQ(c.call(command({"SELECT", "0"})), "+OK\r\n");
  EXPECT_EQ(c.call(command({"CONFIG", "GET", "save"})), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(c.call(command({"CONFIG", "GET", "appendonly"})), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  EXPECT_EQ(c.call(command({"COMMAND", "DOCS"})), "*0\r\n");
  // Inline commands, as typed by hand.
  EXPECT_EQ(c.call("PING\r\n"), "+PONG\r\n");
  EXPECT_EQ(c.call("SET raw:inline  42\nGET raw:inline\r\n", 2), "+OK\r\n$2\r\n42\r\n");
  EXPECT_EQ(c.call(command({"DEL", "raw:inline"})), ":1\r\n");
  const int worker = c.worker();
  EXPECT_TRUE(worker == 0 || worker == 1) << worker;
  EXPECT_EQ(c.call(command({"QUIT"})), "+OK\r\n");
  char byte = 0;
  EXPECT_EQ(::recv(c.fd(), &byte, 1, 0), 0) << "QUIT closes the connection";
}

TEST_F(LibraryRedis, AProtocolErrorIsAnsweredThenTheConnectionCloses) {
  RawClient c(address());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.call("*1\r\n%3\r\nGET\r\n"), "-ERR Protocol error: expected '$', got '%'\r\n");
  char byte = 0;
  EXPECT_EQ(::recv(c.fd(), &byte, 1, 0), 0);
}

TEST_F(LibraryRedis, ThousandPipelinedCommandsInOneWriteAreAnsweredInOrder) {
  RawClient c(address());
  ASSERT_TRUE(c.connected());
  std::string request = command({"DEL", "pipe:n"});
  std::string expected = ":0\r\n";
  for (int i = 0; i < 333; ++i) {
    const std::string key = fmt::format("pipe:{}", i);
    const std::string value = std::string(static_cast<size_t>(i % 40), 'v') + std::to_string(i);
    request += command({"SET", key, value}) + command({"GET", key}) + command({"INCR", "pipe:n"});
    expected += fmt::format("+OK\r\n${}\r\n{}\r\n:{}\r\n", value.size(), value, i + 1);
  }
  ASSERT_EQ(1 + 3 * 333, 1000);
  c.send(request);
  EXPECT_EQ(c.read_replies(1000), expected);
}

TEST_F(LibraryRedis, ACommandCutIntoSingleBytesIsParsedWhole) {
  RawClient c(address());
  ASSERT_TRUE(c.connected());
  const std::string value(3000, 'x');
  const std::string request = command({"SET", "split:k", value}) + command({"GET", "split:k"});
  for (char byte : request.substr(0, 40)) {
    c.send(std::string_view(&byte, 1));
    ::usleep(1000);  // one read each
  }
  c.send(request.substr(40, 1500));
  ::usleep(20000);
  c.send(request.substr(1540));
  EXPECT_EQ(c.read_replies(2), fmt::format("+OK\r\n$3000\r\n{}\r\n", value));
}

TEST_F(LibraryRedis, KeysWrittenThroughOneWorkerAreSeenThroughTheOther) {
  // Open connections until both workers serve one (least-loaded steering: the second
  // connection usually goes to the idle worker).
  std::vector<std::unique_ptr<RawClient>> clients;
  RawClient* on[2] = {nullptr, nullptr};
  for (int i = 0; i < 64 && (on[0] == nullptr || on[1] == nullptr); ++i) {
    clients.push_back(std::make_unique<RawClient>(address()));
    ASSERT_TRUE(clients.back()->connected());
    const int w = clients.back()->worker();
    ASSERT_TRUE(w == 0 || w == 1) << w;
    if (on[w] == nullptr) on[w] = clients.back().get();
  }
  ASSERT_NE(on[0], nullptr);
  ASSERT_NE(on[1], nullptr);
  for (int i = 0; i < 100; ++i) {
    const std::string key = fmt::format("cross:{}", i);
    RawClient& writer = *on[i % 2];
    RawClient& reader = *on[1 - i % 2];
    ASSERT_EQ(writer.call(command({"SET", key, fmt::format("from-{}", i % 2)})), "+OK\r\n");
    ASSERT_EQ(reader.call(command({"GET", key})), fmt::format("$6\r\nfrom-{}\r\n", i % 2));
    ASSERT_EQ(reader.call(command({"DEL", key})), ":1\r\n");
    ASSERT_EQ(writer.call(command({"GET", key})), "$-1\r\n");
  }
  // Increments from both workers add up, pipelined on both at once.
  EXPECT_EQ(on[0]->call(command({"DEL", "cross:n"})), ":0\r\n");
  std::string burst;
  for (int i = 0; i < 500; ++i) burst += command({"INCR", "cross:n"});
  on[0]->send(burst);
  on[1]->send(burst);
  EXPECT_NE(on[0]->read_replies(500), "");
  EXPECT_NE(on[1]->read_replies(500), "");
  EXPECT_EQ(on[1]->call(command({"GET", "cross:n"})), "$4\r\n1000\r\n");
  EXPECT_EQ(on[0]->worker(), 0);
  EXPECT_EQ(on[1]->worker(), 1);
}

TEST_F(LibraryRedis, RedisCliRoundTripsEveryCommand) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli not installed (scripts/install-deps.sh installs redis-tools)";
  EXPECT_EQ(cli("PING"), "PONG\n");
  EXPECT_EQ(cli("PING 'hi there'"), "\"hi there\"\n");
  EXPECT_EQ(cli("ECHO hello"), "\"hello\"\n");
  EXPECT_EQ(cli("DEL cli:k cli:n"), "(integer) 0\n");
  EXPECT_EQ(cli("GET cli:k"), "(nil)\n");
  EXPECT_EQ(cli("SET cli:k 'some value'"), "OK\n");
  EXPECT_EQ(cli("GET cli:k"), "\"some value\"\n");
  EXPECT_EQ(cli("INCR cli:n"), "(integer) 1\n");
  EXPECT_EQ(cli("INCR cli:n"), "(integer) 2\n");
  EXPECT_EQ(cli("INCR cli:k"), "(error) ERR value is not an integer or out of range\n");
  EXPECT_EQ(cli("DEL cli:k cli:n cli:absent"), "(integer) 2\n");
  EXPECT_EQ(cli("GET cli:k"), "(nil)\n");
  EXPECT_EQ(cli("-n 0 PING"), "PONG\n");  // SELECT 0 first
  const std::string worker = cli("HERDLESS.WORKER");
  EXPECT_TRUE(worker == "(integer) 0\n" || worker == "(integer) 1\n") << worker;
  // Commands on stdin, one connection (how redis-cli runs a script).
  EXPECT_EQ(shell("printf 'SET cli:s 5\\nINCR cli:s\\nGET cli:s\\nDEL cli:s\\n' | redis-cli --no-raw -p " +
                  std::to_string(address().port())),
            "OK\n(integer) 6\n\"6\"\n(integer) 1\n");
}

TEST_F(LibraryRedis, RedisCliPipeModeSendsTenThousandCommands) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli not installed (scripts/install-deps.sh installs redis-tools)";
  std::string script = fmt::format("/tmp/herdless-redis-pipe-{}", ::getpid());
  {
    std::string body;
    for (int i = 0; i < 10000; ++i) body += command({"SET", fmt::format("pipe-mode:{}", i % 100), std::to_string(i)});
    FILE* f = std::fopen(script.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fwrite(body.data(), 1, body.size(), f);
    std::fclose(f);
  }
  const std::string out = shell(fmt::format("redis-cli -p {} --pipe < {} 2>&1", address().port(), script));
  ::unlink(script.c_str());
  EXPECT_NE(out.find("errors: 0, replies: 10000"), std::string::npos) << out;
  EXPECT_EQ(cli("GET pipe-mode:99"), "\"9999\"\n");
}

TEST_F(LibraryRedis, RedisBenchmarkRunsAgainstIt) {
  if (shell("command -v redis-benchmark").empty()) GTEST_SKIP() << "redis-benchmark not installed (redis-tools)";
  const std::string out = shell(fmt::format("redis-benchmark -h 127.0.0.1 -p {} -t ping,set,get,incr -n 2000 -c 8 -P 4 -q 2>&1",
                                            address().port()));
  for (const char* test : {"PING_INLINE:", "PING_MBULK:", "SET:", "GET:", "INCR:"}) {
    EXPECT_NE(out.find(test), std::string::npos) << test << " missing in:\n" << out;
  }
  EXPECT_EQ(out.find("ERR"), std::string::npos) << out;
}

}  // namespace
}  // namespace herdless
