// AdminServer: accept, read one request with the shared parser, answer, close.
#include "herdless/admin_server.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "herdless/http/status.h"
#include "herdless/listener.h"

namespace herdless {
namespace {

using http::RequestParser;

// Request heads as big as the http service takes; bodies (which we discard) kept small.
http::Limits admin_limits() {
  http::Limits limits;
  limits.max_body_bytes = 4096;
  return limits;
}

std::string http_response(int status, std::string_view type, std::string_view body) {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                     status, http::reason_phrase(status), type, body.size(), body);
}

}  // namespace

AdminServer::AdminServer(EventLoop& loop, SnapshotFn snapshot)
    : loop_(loop), snapshot_(std::move(snapshot)), accept_handler_([this](uint32_t) { accept_ready(); }) {}

AdminServer::~AdminServer() {
  if (listen_) loop_.remove(listen_.get());
  for (auto& [conn, parser] : requests_) delete conn;
}

Result<std::unique_ptr<AdminServer>> AdminServer::create(EventLoop& loop, const ListenAddress& address,
                                                         SnapshotFn snapshot, int inherited_fd) {
  std::unique_ptr<AdminServer> server(new AdminServer(loop, std::move(snapshot)));
  Result<Fd> fd = inherited_fd >= 0 ? Result<Fd>(Fd(inherited_fd)) : open_reuseport_socket(address, 128);
  if (!fd) return std::unexpected(fd.error());
  if (inherited_fd >= 0) ::fcntl(inherited_fd, F_SETFD, FD_CLOEXEC);
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
    auto* conn = new TcpConnection(*this, fd);
    requests_.try_emplace(conn, admin_limits(), true);
    conn->refresh_interest();
  }
}

void AdminServer::on_data(TcpConnection& conn, std::string_view data) {
  const auto found = requests_.find(&conn);
  if (found == requests_.end()) return conn.close();
  RequestParser& parser = found->second;
  for (;;) {
    const RequestParser::Progress progress = parser.feed(data);
    data.remove_prefix(progress.consumed);
    if (progress.event == RequestParser::Event::need_more) return;
    if (progress.event == RequestParser::Event::head_done) continue;  // read and drop the body
    conn.write(respond(parser, progress.event));
    conn.finish();
    return;
  }
}

void AdminServer::on_peer_closed(TcpConnection& conn) { conn.close(); }

void AdminServer::on_closed(TcpConnection& conn, bool) {
  requests_.erase(&conn);
  TcpConnection* doomed = &conn;
  loop_.defer([doomed] { delete doomed; });
}

std::string AdminServer::respond(std::string_view head) const {
  RequestParser parser(admin_limits(), true);
  std::string request(head);
  request += "\r\n\r\n";
  const RequestParser::Progress progress = parser.feed(request);
  if (progress.event == RequestParser::Event::need_more) return http_response(400, "text/plain", "bad request\n");
  return respond(parser, progress.event);
}

std::string AdminServer::respond(const RequestParser& parser, RequestParser::Event event) const {
  if (event == RequestParser::Event::error) {
    const int status = parser.error_status();
    return http_response(status, "text/plain", fmt::format("{}\n", http::reason_phrase(status)));
  }
  if (event != RequestParser::Event::request_done) return http_response(400, "text/plain", "bad request\n");
  if (parser.head().method != http::Method::get) return http_response(405, "text/plain", "only GET\n");
  std::string_view path = parser.target();
  path = path.substr(0, path.find('?'));
  if (path == "/stats") return http_response(200, "application/json", to_json(snapshot_()).dump() + "\n");
  if (path == "/metrics") return http_response(200, "text/plain; version=0.0.4", to_prometheus(snapshot_()));
  return http_response(404, "text/plain", "try /stats or /metrics\n");
}

}  // namespace herdless
