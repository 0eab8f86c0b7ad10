// The built-in services, on the public interfaces: hello (the original demo: write a message,
// close), echo, and the factory that also makes http (http_service.cc); their UDP versions.
#include <utility>

#include "herdless/http/http_service.h"
#include "herdless/builtin_services.h"

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

// UDP hello: the message to every datagram (no copy: the service owns it).
class HelloDatagrams final : public DatagramService {
 public:
  explicit HelloDatagrams(std::string message) : message_(std::move(message)) {}
  void on_datagram(const Datagram&, DatagramReply& reply) override { reply.send_view(message_); }

 private:
  std::string message_;
};

// UDP echo: each datagram back to its sender (no copy: its own bytes).
class EchoDatagrams final : public DatagramService {
 public:
  void on_datagram(const Datagram& datagram, DatagramReply& reply) override { reply.send_view(datagram.data); }
};

}  // namespace

std::unique_ptr<DatagramService> make_datagram_service(const ServiceOptions& options) {
  if (options.kind == ServiceKind::echo) return std::make_unique<EchoDatagrams>();
  return std::make_unique<HelloDatagrams>(options.message);
}

std::unique_ptr<Service> make_service(const ServiceOptions& options) {
  switch (options.kind) {
    case ServiceKind::hello: return std::make_unique<HelloService>(options.message);
    case ServiceKind::echo: return std::make_unique<EchoService>();
    case ServiceKind::http: return make_http_service(options);
  }
  return nullptr;
}

}  // namespace herdless
