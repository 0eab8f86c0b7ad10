// udp_session: per-session state on UDP without sharing it between workers. A datagram starts
// with an 8-byte session id; with `udp-session-key = 0:8` the kernel's steering sends every
// datagram of a session to the same worker, so each worker keeps its own sessions in a plain
// map (no lock, no shared memory). The reply counts the session's datagrams and names the
// worker: "session ABCDEFGH worker 1 datagram 3". Sessions silent for 60 s are forgotten (a
// timer on the worker's loop).
//   udp_session --listen udp://127.0.0.1:7001 --workers 4
#include <herdless/herdless.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>

namespace {

constexpr size_t kKeyBytes = 8;
constexpr int64_t kForgetAfterNs = 60'000'000'000;

class Sessions final : public herdless::DatagramService {
 public:
  explicit Sessions(herdless::WorkerContext& context) : context_(context) {
    if (auto timer = context.make_timer([this] { forget_silent(); })) {
      sweep_ = std::move(*timer);
      sweep_->arm(std::chrono::seconds(10), std::chrono::seconds(10));
    }
  }

  void on_datagram(const herdless::Datagram& datagram, herdless::DatagramReply& reply) override {
    if (datagram.data.size() < kKeyBytes) return reply.send("error: a datagram starts with an 8-byte session id\n");
    Session& session = sessions_[std::string(datagram.data.substr(0, kKeyBytes))];
    ++session.datagrams;
    session.last_seen_ns = context_.now_ns();
    std::string text = "session ";
    text.append(datagram.data.substr(0, kKeyBytes)).append(" worker ").append(std::to_string(context_.worker()));
    text.append(" datagram ").append(std::to_string(session.datagrams)).append("\n");
    reply.send(text);
  }

 private:
  struct Session {
    uint64_t datagrams = 0;
    int64_t last_seen_ns = 0;
  };

  void forget_silent() {
    const int64_t now = context_.now_ns();
    std::erase_if(sessions_, [now](const auto& entry) { return now - entry.second.last_seen_ns > kForgetAfterNs; });
  }

  herdless::WorkerContext& context_;
  std::unordered_map<std::string, Session> sessions_;
  std::unique_ptr<herdless::Timer> sweep_;
};

int fail(const herdless::Error& error) {
  std::fprintf(stderr, "udp_session: %s\n", error.message().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = herdless::ServerOptions::from_args(argc - 1, argv + 1);
  if (!options) return fail(options.error());
  options->set("udp-session-key", "0:8");  // steer by the session id, not by the sender's port
  herdless::Server server(std::move(*options));
  server.datagram_service([](herdless::WorkerContext& context) { return std::make_unique<Sessions>(context); });
  auto exit_code = server.run();
  return exit_code ? *exit_code : fail(exit_code.error());
}
