// line_echo: the smallest complete herdless library program. Every line a client sends comes
// back upper-cased, prefixed with the worker that served it ("w1 HELLO").
//   line_echo --listen tcp://127.0.0.1:7000 --workers 4
#include <herdless/herdless.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <string>

namespace {

// A line's bytes until its newline arrives (a line may come in several reads).
struct PendingLine final : herdless::ConnectionState {
  std::string bytes;
};

class UpperCaseLines final : public herdless::Service {
 public:
  void on_open(herdless::Connection& conn) override { conn.set_state(std::make_unique<PendingLine>()); }

  void on_data(herdless::Connection& conn, std::string_view data) override {
    std::string& line = conn.state_as<PendingLine>()->bytes;
    std::string out;  // every line completed by this read, answered in one write
    for (const char c : data) {
      if (c != '\n') {
        line += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        continue;
      }
      out.append("w").append(std::to_string(conn.worker())).append(" ").append(line).append("\n");
      line.clear();
    }
    if (line.size() > 64 * 1024) return conn.close();  // no newline in sight: not our protocol
    if (!out.empty()) conn.write(out);
  }
};

int fail(const herdless::Error& error) {
  std::fprintf(stderr, "line_echo: %s\n", error.message().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = herdless::ServerOptions::from_args(argc - 1, argv + 1);
  if (!options) return fail(options.error());
  herdless::Server server(std::move(*options));
  server.tcp_service([](herdless::WorkerContext&) { return std::make_unique<UpperCaseLines>(); });
  auto exit_code = server.run();
  return exit_code ? *exit_code : fail(exit_code.error());
}
