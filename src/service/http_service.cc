// HttpService: per connection a RequestParser (its only state); per worker the precomputed
// responses, the Date cache and one output batch buffer.
#include "herdless/http/http_service.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

#include "herdless/http/fixed_responses.h"
#include "herdless/http/http_date.h"
#include "herdless/http/request_parser.h"

namespace herdless {
namespace {

using http::FixedResponses;
using http::Method;
using http::Persistence;
using http::RequestParser;

// The responses to one read's requests: a single response is written straight from the
// precomputed bytes; only pipelined requests are copied into the shared buffer.
class Batch {
 public:
  explicit Batch(std::string& buffer) : buffer_(buffer) { buffer_.clear(); }
  void add(std::string_view bytes) {
    if (first_.empty() && buffer_.empty()) {
      first_ = bytes;
      return;
    }
    if (buffer_.empty()) buffer_.assign(first_);
    buffer_.append(bytes);
  }
  void send(Connection& conn) const { conn.write(buffer_.empty() ? first_ : std::string_view(buffer_)); }

 private:
  std::string& buffer_;
  std::string_view first_;
};

class HttpService final : public Service {
 public:
  explicit HttpService(const ServiceOptions& options) : responses_(options.http_body, "text/plain") {
    limits_.max_body_bytes = options.http_max_body;
    batch_.reserve(64 * 1024);
  }

  void on_open(Connection& conn) override {
    // Each response leaves in one write; do not let Nagle hold one back behind an unacked one.
    const int one = 1;
    ::setsockopt(conn.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn.service_state = std::make_unique<State>(limits_);
  }

  void on_data(Connection& conn, std::string_view data) override;

 private:
  struct State final : ConnectionState {
    explicit State(const http::Limits& limits) : parser(limits) {}
    RequestParser parser;
  };

  http::Limits limits_;
  FixedResponses responses_;
  http::HttpDate date_;
  std::string batch_;  // pipelined responses of the current read; capacity kept
};

void HttpService::on_data(Connection& conn, std::string_view data) {
  auto* state = static_cast<State*>(conn.service_state.get());
  if (state == nullptr) return conn.close();
  if (date_.refresh()) responses_.set_date(date_.text());
  Batch out(batch_);
  const auto close_with = [&](std::string_view response) {
    out.add(response);
    out.send(conn);
    conn.finish();
  };
  // A refused request's peer may still be sending (a body, more pipelined requests): a
  // lingering close keeps that input from resetting the connection under the response.
  const auto refuse_with = [&](std::string_view response) {
    out.add(response);
    out.send(conn);
    conn.finish_lingering();
  };
  for (;;) {
    const RequestParser::Progress progress = state->parser.feed(data);
    data.remove_prefix(progress.consumed);
    const http::RequestHead& head = state->parser.head();
    switch (progress.event) {
      case RequestParser::Event::need_more:
        return out.send(conn);
      case RequestParser::Event::error:
        return refuse_with(responses_.error(state->parser.error_status()));
      case RequestParser::Event::head_done:
        if (!head.expect_continue) break;
        // RFC 9110 10.1.1: answer now rather than invite a body only to refuse the request.
        if (head.method == Method::other) return refuse_with(responses_.error(405));
        out.add(FixedResponses::kContinue);
        break;
      case RequestParser::Event::request_done:
        if (head.method == Method::other) return refuse_with(responses_.error(405));
        if (!head.keep_alive) return close_with(responses_.ok(head.method, Persistence::close));
        out.add(responses_.ok(head.method, head.minor_version == 0 ? Persistence::keep_alive_1_0
                                                                   : Persistence::keep_alive));
        break;
    }
  }
}

}  // namespace

std::unique_ptr<Service> make_http_service(const ServiceOptions& options) {
  return std::make_unique<HttpService>(options);
}

}  // namespace herdless
