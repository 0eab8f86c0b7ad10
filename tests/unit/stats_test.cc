// Stats: the shared StatsTable, snapshot_workers, the /stats JSON and /metrics text
// renderings, and AdminServer's responses (directly through respond() and over a socket).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "herdless/admin_server.h"
#include "herdless/event_loop.h"
#include "herdless/http_get.h"
#include "herdless/stats_snapshot.h"
#include "herdless/worker_counters.h"

namespace herdless {
namespace {

using namespace std::chrono_literals;

WorkerSnapshot worker(int id, int pid, uint64_t accepted, int64_t active, uint64_t closed, uint64_t errors,
                      uint64_t restarts, int64_t heartbeat_age_ms) {
  WorkerSnapshot w;
  w.id = id;
  w.pid = pid;
  w.accepted = accepted;
  w.active = active;
  w.closed = closed;
  w.errors = errors;
  w.restarts = restarts;
  w.heartbeat_age_ms = heartbeat_age_ms;
  return w;
}

StatsSnapshot sample_snapshot() {
  StatsSnapshot s;
  s.listeners = {"tcp://127.0.0.1:10013", "tcp://[::1]:80"};
  s.mode = "thread";
  s.workers.push_back(worker(0, 4242, 10, 2, 8, 1, 0, 12));
  s.workers.push_back(worker(1, 4243, 7, 0, 7, 0, 3, -1));
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// --- StatsTable and snapshot_workers -----------------------------------------------------

TEST(StatsTable, SlotsStartAtZero) {
  auto table = StatsTable::create(3);
  ASSERT_TRUE(table.has_value()) << table.error().message();
  EXPECT_EQ(table->capacity(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(table->slot(i).accepted.load(), 0u);
    EXPECT_EQ(table->slot(i).active.load(), 0);
    EXPECT_EQ(table->slot(i).heartbeat_ns.load(), 0);
    EXPECT_EQ(table->slot(i).pid.load(), 0);
  }
  // Slots do not share cache lines.
  EXPECT_GE(reinterpret_cast<const char*>(&table->slot(1)) - reinterpret_cast<const char*>(&table->slot(0)), 64);
}

TEST(StatsTable, ChildProcessWritesAreSeenByTheParent) {
  auto table = StatsTable::create(2);
  ASSERT_TRUE(table.has_value());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    table->slot(1).accepted.store(42);
    table->slot(1).pid.store(static_cast<int32_t>(::getpid()));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(table->slot(1).accepted.load(), 42u);
  EXPECT_EQ(table->slot(1).pid.load(), child);
  EXPECT_EQ(table->slot(0).accepted.load(), 0u);
}

TEST(StatsTable, MoveTransfersTheMapping) {
  auto table = StatsTable::create(1);
  ASSERT_TRUE(table.has_value());
  table->slot(0).closed.store(5);
  StatsTable moved = std::move(*table);
  EXPECT_EQ(moved.capacity(), 1u);
  EXPECT_EQ(moved.slot(0).closed.load(), 5u);
  EXPECT_EQ(table->capacity(), 0u);
}

TEST(SnapshotWorkers, CopiesTheCountersOfTheFirstSlots) {
  auto table = StatsTable::create(3);
  ASSERT_TRUE(table.has_value());
  WorkerCounters& c = table->slot(1);
  c.accepted = 11;
  c.active = 3;
  c.closed = 8;
  c.errors = 2;
  c.restarts = 1;
  c.pid = 777;
  c.heartbeat_ns = monotonic_ns() - 250'000'000;  // 250ms ago
  const std::vector<WorkerSnapshot> workers = snapshot_workers(*table, 2);
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[0].id, 0);
  EXPECT_EQ(workers[0].heartbeat_age_ms, -1);  // never beat
  EXPECT_EQ(workers[1].id, 1);
  EXPECT_EQ(workers[1].pid, 777);
  EXPECT_EQ(workers[1].accepted, 11u);
  EXPECT_EQ(workers[1].active, 3);
  EXPECT_EQ(workers[1].closed, 8u);
  EXPECT_EQ(workers[1].errors, 2u);
  EXPECT_EQ(workers[1].restarts, 1u);
  EXPECT_GE(workers[1].heartbeat_age_ms, 250);
  EXPECT_LT(workers[1].heartbeat_age_ms, 60'000);
  // Never past the table's capacity.
  EXPECT_EQ(snapshot_workers(*table, 10).size(), 3u);
  EXPECT_TRUE(snapshot_workers(*table, 0).empty());
}

// --- to_json -----------------------------------------------------------------------------

TEST(StatsJson, Shape) {
  const nlohmann::json j = to_json(sample_snapshot());
  ASSERT_TRUE(j.is_object());
  std::set<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"mode", "steer", "accept", "listeners", "workers", "foreign_listeners", "owns_port"}));
  EXPECT_EQ(j["mode"], "thread");
  EXPECT_EQ(j["steer"], "hash");  // StatsSnapshot's default policy

  ASSERT_TRUE(j["listeners"].is_array());
  ASSERT_EQ(j["listeners"].size(), 2u);
  EXPECT_EQ(j["listeners"][0]["url"], "tcp://127.0.0.1:10013");
  EXPECT_EQ(j["listeners"][1]["url"], "tcp://[::1]:80");

  ASSERT_TRUE(j["workers"].is_array());
  ASSERT_EQ(j["workers"].size(), 2u);
  const nlohmann::json& w0 = j["workers"][0];
  std::set<std::string> worker_keys;
  for (const auto& [key, value] : w0.items()) worker_keys.insert(key);
  EXPECT_EQ(worker_keys, (std::set<std::string>{"id", "pid", "accepted", "active", "closed", "errors", "restarts",
                                                "rescues", "wakeups", "empty_accepts", "heartbeat_age_ms"}));
  EXPECT_EQ(w0["id"], 0);
  EXPECT_EQ(w0["pid"], 4242);
  EXPECT_EQ(w0["accepted"], 10);
  EXPECT_EQ(w0["active"], 2);
  EXPECT_EQ(w0["closed"], 8);
  EXPECT_EQ(w0["errors"], 1);
  EXPECT_EQ(w0["restarts"], 0);
  EXPECT_EQ(w0["heartbeat_age_ms"], 12);
  const nlohmann::json& w1 = j["workers"][1];
  EXPECT_EQ(w1["id"], 1);
  EXPECT_EQ(w1["pid"], 4243);
  EXPECT_EQ(w1["restarts"], 3);
  EXPECT_EQ(w1["heartbeat_age_ms"], -1);
  EXPECT_TRUE(w1["accepted"].is_number_unsigned());
  EXPECT_TRUE(w1["heartbeat_age_ms"].is_number_integer());
}

TEST(StatsJson, SteerCountersOnlyWhenPresent) {
  StatsSnapshot s = sample_snapshot();
  s.steer = "least_loaded";
  SteerCounters steer;
  steer.selected = 9;
  steer.skipped_stalled = 2;
  steer.fell_back = 1;
  steer.migrated = 4;
  s.workers[1].steer = steer;
  const nlohmann::json j = to_json(s);
  EXPECT_EQ(j["steer"], "least_loaded");
  EXPECT_FALSE(j["workers"][0].contains("steer"));
  const nlohmann::json& w1 = j["workers"][1]["steer"];
  EXPECT_EQ(w1, (nlohmann::json{{"selected", 9}, {"skipped_stalled", 2}, {"fell_back", 1}, {"migrated", 4}}));
}

TEST(StatsJson, EmptySnapshotHasEmptyArrays) {
  const nlohmann::json j = to_json(StatsSnapshot{});
  EXPECT_TRUE(j["listeners"].is_array());
  EXPECT_TRUE(j["listeners"].empty());
  EXPECT_TRUE(j["workers"].is_array());
  EXPECT_TRUE(j["workers"].empty());
  EXPECT_EQ(j["mode"], "");
}

TEST(StatsJson, RoundTripsThroughText) {
  const nlohmann::json j = to_json(sample_snapshot());
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

// --- to_prometheus -----------------------------------------------------------------------

TEST(StatsPrometheus, ExactLines) {
  const std::string text = to_prometheus(sample_snapshot());
  const std::vector<std::string> expected = {
      "# HELP herdless_worker_accepted_total Connections accepted by the worker slot.",
      "# TYPE herdless_worker_accepted_total counter",
      "herdless_worker_accepted_total{worker=\"0\"} 10",
      "herdless_worker_accepted_total{worker=\"1\"} 7",
      "# HELP herdless_worker_active_connections Connections open in the worker slot.",
      "# TYPE herdless_worker_active_connections gauge",
      "herdless_worker_active_connections{worker=\"0\"} 2",
      "herdless_worker_active_connections{worker=\"1\"} 0",
      "# HELP herdless_worker_closed_total Connections closed by the worker slot.",
      "# TYPE herdless_worker_closed_total counter",
      "herdless_worker_closed_total{worker=\"0\"} 8",
      "herdless_worker_closed_total{worker=\"1\"} 7",
      "# HELP herdless_worker_errors_total Accept and socket errors in the worker slot.",
      "# TYPE herdless_worker_errors_total counter",
      "herdless_worker_errors_total{worker=\"0\"} 1",
      "herdless_worker_errors_total{worker=\"1\"} 0",
      "# HELP herdless_worker_restarts_total Times the slot's worker was restarted after dying.",
      "# TYPE herdless_worker_restarts_total counter",
      "herdless_worker_restarts_total{worker=\"0\"} 0",
      "herdless_worker_restarts_total{worker=\"1\"} 3",
      "# HELP herdless_worker_rescues_total Stall rescues: the slot's queue migrated to other workers.",
      "# TYPE herdless_worker_rescues_total counter",
      "herdless_worker_rescues_total{worker=\"0\"} 0",
      "herdless_worker_rescues_total{worker=\"1\"} 0",
      "# HELP herdless_worker_wakeups_total Times a listener woke the worker.",
      "# TYPE herdless_worker_wakeups_total counter",
      "herdless_worker_wakeups_total{worker=\"0\"} 0",
      "herdless_worker_wakeups_total{worker=\"1\"} 0",
      "# HELP herdless_worker_empty_accepts_total Wake-ups whose accept found nothing (the herd).",
      "# TYPE herdless_worker_empty_accepts_total counter",
      "herdless_worker_empty_accepts_total{worker=\"0\"} 0",
      "herdless_worker_empty_accepts_total{worker=\"1\"} 0",
      "# HELP herdless_worker_heartbeat_age_seconds Time since the worker's loop last turned.",
      "# TYPE herdless_worker_heartbeat_age_seconds gauge",
      "herdless_worker_heartbeat_age_seconds{worker=\"0\"} 0.012",
      "herdless_worker_heartbeat_age_seconds{worker=\"1\"} -0.001",
      "# HELP herdless_steer_info The steering policy in force.",
      "# TYPE herdless_steer_info gauge",
      "herdless_steer_info{policy=\"hash\"} 1",
      "# HELP herdless_foreign_listeners Listening sockets on herdless's ports that are not herdless's.",
      "# TYPE herdless_foreign_listeners gauge",
      "herdless_foreign_listeners 0",
      "# HELP herdless_owns_port 1 when the SK_LOOKUP program keeps the served addresses on herdless's sockets.",
      "# TYPE herdless_owns_port gauge",
      "herdless_owns_port 0",
      "# HELP herdless_listener_info A listening address.",
      "# TYPE herdless_listener_info gauge",
      "herdless_listener_info{url=\"tcp://127.0.0.1:10013\"} 1",
      "herdless_listener_info{url=\"tcp://[::1]:80\"} 1",
  };
  EXPECT_EQ(lines_of(text), expected);
  EXPECT_TRUE(text.ends_with("\n"));
}

TEST(StatsPrometheus, EveryMetricIsDeclaredOnceBeforeItsSamples) {
  const std::string text = to_prometheus(sample_snapshot());
  std::map<std::string, int> declared;  // name -> TYPE lines
  for (const std::string& line : lines_of(text)) {
    ASSERT_FALSE(line.empty());
    if (line.starts_with("# TYPE ")) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      ++declared[name];
      continue;
    }
    if (line.starts_with("#")) continue;
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(declared.count(name), 1u) << "sample before its TYPE: " << line;
    const std::string value = line.substr(line.rfind(' ') + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    EXPECT_EQ(*end, '\0') << "not a number: " << line;
  }
  for (const auto& [name, count] : declared) EXPECT_EQ(count, 1) << name;
  EXPECT_EQ(declared.size(), 13u);
}

TEST(StatsPrometheus, SteerCountersOnlyForSlotsThatHaveThem) {
  StatsSnapshot s = sample_snapshot();
  s.steer = "affinity";
  SteerCounters steer;
  steer.selected = 9;
  steer.skipped_stalled = 2;
  steer.fell_back = 1;
  steer.migrated = 4;
  s.workers[1].steer = steer;
  const std::vector<std::string> lines = lines_of(to_prometheus(s));
  auto has = [&](const std::string& line) { return std::find(lines.begin(), lines.end(), line) != lines.end(); };
  EXPECT_TRUE(has("# TYPE herdless_steer_selected_total counter"));
  EXPECT_TRUE(has("herdless_steer_selected_total{worker=\"1\"} 9"));
  EXPECT_TRUE(has("herdless_steer_skipped_stalled_total{worker=\"1\"} 2"));
  EXPECT_TRUE(has("herdless_steer_fell_back_total{worker=\"1\"} 1"));
  EXPECT_TRUE(has("herdless_steer_migrated_total{worker=\"1\"} 4"));
  EXPECT_FALSE(has("herdless_steer_selected_total{worker=\"0\"} 0"));
  EXPECT_TRUE(has("herdless_steer_info{policy=\"affinity\"} 1"));
  // Without any steering counters, no steering counter families at all.
  const std::string plain = to_prometheus(sample_snapshot());
  EXPECT_EQ(plain.find("herdless_steer_selected_total"), std::string::npos);
}

// A snapshot of a server with UDP listens: worker 1 has datagram counters and session steering.
StatsSnapshot udp_snapshot() {
  StatsSnapshot s = sample_snapshot();
  s.udp_steer = "session";
  WorkerSnapshot& w = s.workers[1];
  w.datagrams_in = 120;
  w.datagrams_out = 117;
  w.udp_truncated = 2;
  w.udp_rx_dropped = 5;
  w.udp_tx_dropped = 1;
  SteerCounters steer;
  steer.selected = 125;
  steer.short_key = 7;
  steer.skipped_stalled = 3;
  w.udp_steer = steer;
  return s;
}

TEST(StatsJson, UdpCountersOnlyWithUdpListens) {
  EXPECT_FALSE(to_json(sample_snapshot()).contains("udp_steer"));
  EXPECT_FALSE(to_json(sample_snapshot())["workers"][0].contains("udp"));
  const nlohmann::json j = to_json(udp_snapshot());
  EXPECT_EQ(j["udp_steer"], "session");
  EXPECT_EQ(j["workers"][1]["udp"],
            (nlohmann::json{{"datagrams_in", 120},
                            {"datagrams_out", 117},
                            {"truncated", 2},
                            {"rx_dropped", 5},
                            {"tx_dropped", 1},
                            {"steer", {{"selected", 125}, {"skipped_stalled", 3}, {"fell_back", 0}, {"short_key", 7}}}}));
  EXPECT_FALSE(j["workers"][0]["udp"].contains("steer"));  // no program counters for slot 0
  EXPECT_EQ(j["workers"][0]["udp"]["datagrams_in"], 0);
}

TEST(StatsPrometheus, UdpFamiliesOnlyWithUdpListens) {
  const std::vector<std::string> lines = lines_of(to_prometheus(udp_snapshot()));
  auto has = [&](const std::string& line) { return std::find(lines.begin(), lines.end(), line) != lines.end(); };
  EXPECT_TRUE(has("herdless_worker_datagrams_in_total{worker=\"1\"} 120"));
  EXPECT_TRUE(has("herdless_worker_datagrams_out_total{worker=\"1\"} 117"));
  EXPECT_TRUE(has("herdless_worker_udp_truncated_total{worker=\"1\"} 2"));
  EXPECT_TRUE(has("herdless_worker_udp_rx_dropped_total{worker=\"1\"} 5"));
  EXPECT_TRUE(has("herdless_worker_udp_tx_dropped_total{worker=\"1\"} 1"));
  EXPECT_TRUE(has("herdless_udp_steer_selected_total{worker=\"1\"} 125"));
  EXPECT_TRUE(has("herdless_udp_steer_short_key_total{worker=\"1\"} 7"));
  EXPECT_TRUE(has("herdless_udp_steer_info{policy=\"session\"} 1"));
  EXPECT_FALSE(has("herdless_udp_steer_selected_total{worker=\"0\"} 0"));
  const std::string tcp_only = to_prometheus(sample_snapshot());
  EXPECT_EQ(tcp_only.find("datagrams"), std::string::npos);
  EXPECT_EQ(tcp_only.find("udp"), std::string::npos);
}

TEST(StatsPrometheus, LargeCountersStayIntegers) {
  StatsSnapshot s;
  s.workers.push_back(worker(0, 1, 123'456'789, 0, 0, 0, 0, 0));
  const std::string text = to_prometheus(s);
  EXPECT_NE(text.find("herdless_worker_accepted_total{worker=\"0\"} 123456789\n"), std::string::npos) << text;
}

// --- AdminServer -------------------------------------------------------------------------

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

Response parse_response(const std::string& text) {
  Response r;
  const size_t head_end = text.find("\r\n\r\n");
  EXPECT_NE(head_end, std::string::npos) << text;
  if (head_end == std::string::npos) return r;
  const std::string head = text.substr(0, head_end);
  r.body = text.substr(head_end + 4);
  size_t at = head.find("\r\n");
  const std::string status_line = head.substr(0, at);
  EXPECT_TRUE(status_line.starts_with("HTTP/1.1 ")) << status_line;
  r.status = std::atoi(status_line.substr(9, 3).c_str());
  while (at != std::string::npos) {
    const size_t next = head.find("\r\n", at + 2);
    const std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    const size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string::npos) << line;
    if (colon != std::string::npos) r.headers[line.substr(0, colon)] = line.substr(colon + 2);
    at = next;
  }
  EXPECT_EQ(r.headers["Content-Length"], std::to_string(r.body.size()));
  EXPECT_EQ(r.headers["Connection"], "close");
  return r;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.has_value());
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    auto address = parse_host_port("127.0.0.1:0");
    ASSERT_TRUE(address.has_value());
    auto server = AdminServer::create(*loop_, *address, [this] {
      ++snapshots_;
      return sample_snapshot();
    });
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (running_.valid()) {
      loop_->stop();
      if (running_.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "the admin loop did not stop";
        std::abort();
      }
    }
  }

  // Runs the loop in a thread; TearDown stops and joins it.
  void run_loop() {
    EventLoop* loop = loop_.get();
    running_ = std::async(std::launch::async, [loop] { loop->run(); });
  }

  Response respond(const std::string& head) { return parse_response(server_->respond(head)); }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<AdminServer> server_;  // destroyed before the loop
  std::atomic<int> snapshots_{0};
  std::future<void> running_;
};

TEST_F(AdminServerTest, BindsAnEphemeralPortOnLoopback) {
  EXPECT_NE(server_->address().port(), 0);
  EXPECT_EQ(server_->address().url(), "tcp://127.0.0.1:" + std::to_string(server_->address().port()));
  EXPECT_GE(server_->listen_fd(), 0);
}

TEST_F(AdminServerTest, StatsIsTheJsonSnapshot) {
  const Response r = respond("GET /stats HTTP/1.1\r\nHost: localhost\r\nAccept: */*");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body), to_json(sample_snapshot()));
  EXPECT_TRUE(r.body.ends_with("\n"));
  EXPECT_EQ(snapshots_.load(), 1);
}

TEST_F(AdminServerTest, QueryStringIsIgnored) {
  EXPECT_EQ(respond("GET /stats?pretty=1 HTTP/1.1\r\nHost: x").status, 200);
  EXPECT_EQ(respond("GET /metrics? HTTP/1.0").status, 200);
}

TEST_F(AdminServerTest, MetricsIsThePrometheusText) {
  const Response r = respond("GET /metrics HTTP/1.1\r\nHost: localhost");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_EQ(r.body, to_prometheus(sample_snapshot()));
}

TEST_F(AdminServerTest, UnknownPathIs404) {
  for (const char* head : {"GET / HTTP/1.1", "GET /nope HTTP/1.1", "GET /statsx HTTP/1.1", "GET /stats/ HTTP/1.1",
                           "GET /STATS HTTP/1.1"}) {
    EXPECT_EQ(respond(std::string(head) + "\r\nHost: x").status, 404) << head;
  }
  EXPECT_EQ(snapshots_.load(), 0);
}

TEST_F(AdminServerTest, OtherMethodsAre405) {
  for (const char* head : {"POST /stats HTTP/1.1", "HEAD /metrics HTTP/1.1", "PUT /nope HTTP/1.1", "get /stats HTTP/1.1"}) {
    EXPECT_EQ(respond(std::string(head) + "\r\nHost: x").status, 405) << head;
  }
  EXPECT_EQ(snapshots_.load(), 0);
}

// The admin endpoint reads requests with the http service's parser, limits included.
TEST_F(AdminServerTest, SharedParserRulesAndLimits) {
  EXPECT_EQ(respond("GET /stats HTTP/1.1").status, 400);  // HTTP/1.1 without Host
  EXPECT_EQ(respond("GET /stats HTTP/1.1\r\nHost: x\r\nBad Name: v").status, 400);
  EXPECT_EQ(respond("GET /stats HTTP/1.1\r\nHost: x\r\nX: " + std::string(9000, 'a')).status, 431);
  EXPECT_EQ(respond("GET /stats HTTP/2.0").status, 505);
  EXPECT_EQ(snapshots_.load(), 0);
}

TEST_F(AdminServerTest, MalformedRequestLineIs400) {
  for (const char* head : {"", "garbage", "GET /stats", "GET /stats FTP/1.0", "GET /stats HTTP/2",
                           "GET\r\n/stats HTTP/1.1"}) {
    EXPECT_EQ(respond(head).status, 400) << "'" << head << "'";
  }
  EXPECT_EQ(snapshots_.load(), 0);
}

TEST_F(AdminServerTest, HttpGetOverTheLoop) {
  run_loop();
  auto stats = http_get(server_->address(), "/stats");
  ASSERT_TRUE(stats.has_value()) << stats.error().message();
  EXPECT_EQ(nlohmann::json::parse(*stats), to_json(sample_snapshot()));

  auto metrics = http_get(server_->address(), "/metrics");
  ASSERT_TRUE(metrics.has_value()) << metrics.error().message();
  EXPECT_EQ(*metrics, to_prometheus(sample_snapshot()));

  auto missing = http_get(server_->address(), "/nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().call, "HTTP status 404");
}

// Raw sockets: a request head split over two sends, and one that never ends.
class RawClient {
 public:
  explicit RawClient(const ListenAddress& server) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{3, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd_.get(), server.sockaddr_ptr(), server.length), 0);
  }
  void send(std::string_view data) {
    EXPECT_EQ(::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  }
  std::string read_to_eof() {
    std::string out;
    char buffer[4096];
    for (int i = 0; i < 10'000; ++i) {
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }
  bool quiet_for(std::chrono::milliseconds wait) {
    pollfd p{fd_.get(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) == 0;
  }

 private:
  Fd fd_;
};

TEST_F(AdminServerTest, RequestHeadSplitAcrossReads) {
  run_loop();
  RawClient client(server_->address());
  client.send("GET /sta");
  EXPECT_TRUE(client.quiet_for(50ms)) << "answered before the head was complete";
  client.send("ts HTTP/1.1\r\nHost: x\r\n");
  EXPECT_TRUE(client.quiet_for(50ms)) << "answered before the blank line";
  client.send("\r\n");
  const Response r = parse_response(client.read_to_eof());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body), to_json(sample_snapshot()));
}

TEST_F(AdminServerTest, EndlessRequestHeadIs431) {
  run_loop();
  RawClient client(server_->address());
  client.send("GET /stats HTTP/1.1\r\n");
  const std::string filler = "X-Filler: " + std::string(1000, 'a') + "\r\n";
  for (int i = 0; i < 9; ++i) client.send(filler);
  const Response r = parse_response(client.read_to_eof());
  EXPECT_EQ(r.status, 431);
}

}  // namespace
}  // namespace herdless
