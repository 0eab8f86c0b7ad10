// AdminServer: accept, read one request head, answer, close.
#include "herdless/admin_server.h"

#include <sys/socket.h>

#include <fmt/format.h>

#include "herdless/listener.h"

namespace herdless {
namespace {

std::string http_response(int status, std::string_view reason, std::string_view type, std::string_view body) {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                     status, reason, type, body.size(), body);
}

}  // namespace

AdminServer::AdminServer(EventLoop& loop, SnapshotFn snapshot)
    : loop_(loop), snapshot_(std::move(snapshot)), accept_handler_([this](uint32_t) { accept_ready(); }) {}

AdminServer::~AdminServer() {
  if (listen_) loop_.remove(listen_.get());
  for (auto& [conn, head] : requests_) delete conn;
}

Result<std::unique_ptr<AdminServer>> AdminServer::create(EventLoop& loop, const ListenAddress& address,
                                                         SnapshotFn snapshot) {
  std::unique_ptr<AdminServer> server(new AdminServer(loop, std::move(snapshot)));
  auto fd = open_reuseport_socket(address, 128);
  if (!fd) return std::unexpected(fd.error());
  auto bound = bound_address(fd->get(), Transport::tcp);
  if (!bound) return std::unexpected(bound.error());
  server->listen_ = std::move(*fd);
  server->bound_ = *bound;
  auto added = loop.add(server->listen_.get(), EPOLLIN, &server->accept_handler_);
  if (!added) return std::unexpected(added.error());
  return server;
}

void AdminServer::accept_ready() {
  for (int i = 0; i < 16; ++i) {
    const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (requests_.size() >= kMaxConnections) {
      ::close(fd);
      continue;
    }
    auto* conn = new Connection(*this, fd);
    requests_.emplace(conn, std::string());
    conn->refresh_interest();
  }
}

void AdminServer::on_data(Connection& conn, std::string_view data) {
  std::string& head = requests_[&conn];
  head.append(data);
  const size_t end = head.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (head.size() > kMaxRequest) {
      conn.write(http_response(431, "Request Header Fields Too Large", "text/plain", "request too large\n"));
      conn.finish();
    }
    return;
  }
  conn.write(respond(std::string_view(head).substr(0, end)));
  conn.finish();
}

void AdminServer::on_peer_closed(Connection& conn) { conn.close(); }

void AdminServer::on_closed(Connection& conn, bool) {
  requests_.erase(&conn);
  Connection* doomed = &conn;
  loop_.defer([doomed] { delete doomed; });
}

std::string AdminServer::respond(std::string_view head) const {
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    return http_response(400, "Bad Request", "text/plain", "bad request\n");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  if (method != "GET") return http_response(405, "Method Not Allowed", "text/plain", "only GET\n");
  if (path == "/stats") return http_response(200, "OK", "application/json", to_json(snapshot_()).dump() + "\n");
  if (path == "/metrics") return http_response(200, "OK", "text/plain; version=0.0.4", to_prometheus(snapshot_()));
  return http_response(404, "Not Found", "text/plain", "try /stats or /metrics\n");
}

}  // namespace herdless
