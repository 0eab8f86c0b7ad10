// The built-in services: hello (the original demo: write a message, close) and echo.
#include <utility>

#include "herdless/service.h"

namespace herdless {
namespace {

// Writes the message and closes, like the demo's `send("hello world."); close()`.
class HelloService final : public Service {
 public:
  explicit HelloService(std::string message) : message_(std::move(message)) {}
  void on_open(Connection& conn) override {
    conn.write(message_);
    conn.finish();
  }
  void on_data(Connection&, std::string_view) override {}

 private:
  std::string message_;
};

// Sends every byte back until the peer closes.
class EchoService final : public Service {
 public:
  void on_open(Connection&) override {}
  void on_data(Connection& conn, std::string_view data) override { conn.write(data); }
};

}  // namespace

std::unique_ptr<Service> make_service(ServiceKind kind, std::string message) {
  switch (kind) {
    case ServiceKind::hello: return std::make_unique<HelloService>(std::move(message));
    case ServiceKind::echo: return std::make_unique<EchoService>();
  }
  return nullptr;
}

}  // namespace herdless
