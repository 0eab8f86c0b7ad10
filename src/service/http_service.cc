// HttpService: per connection a RequestParser and, while a request head is under way, its
// place in the head-deadline list; per worker the precomputed responses, the Date cache, one
// output batch buffer and that list.
#include "herdless/http/http_service.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include <fmt/format.h>

#include "herdless/http/fixed_responses.h"
#include "herdless/http/http_date.h"
#include "herdless/http/request_parser.h"
#include "herdless/repeated_warning.h"

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

// A connection's state: its parser and, while a request head is under way, its place in the
// service's list of head deadlines.
struct HeadState final : ConnectionState {
  HeadState(const http::Limits& limits, Connection& c) : parser(limits), conn(c) {}
  ~HeadState() override;
  RequestParser parser;
  Connection& conn;
  bool in_head = false;     // a request head is under way (or the first one is awaited)
  bool between_requests = false;  // the last request is done, no byte of the next one yet
  int64_t deadline_ns = 0;  // when in_head: its start + --http-header-timeout
  HeadState* prev = nullptr;
  HeadState* next = nullptr;
  struct DeadlineList* list = nullptr;
};

// Connections in a request head, by deadline: every deadline is its start + one timeout, so
// appending keeps the order. O(1) append and unlink; the sweep looks at expired ones only.
struct DeadlineList {
  HeadState* head = nullptr;
  HeadState* tail = nullptr;

  void push_back(HeadState& s) {
    s.prev = tail;
    s.next = nullptr;
    (tail != nullptr ? tail->next : head) = &s;
    tail = &s;
    s.list = this;
  }
  void remove(HeadState& s) {
    if (s.list != this) return;
    (s.prev != nullptr ? s.prev->next : head) = s.next;
    (s.next != nullptr ? s.next->prev : tail) = s.prev;
    s.prev = s.next = nullptr;
    s.list = nullptr;
  }
};

HeadState::~HeadState() {
  if (list != nullptr) list->remove(*this);
}

class HttpService final : public Service {
 public:
  explicit HttpService(const ServiceOptions& options)
      : responses_(options.http_body, "text/plain"),
        header_timeout_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(options.http_header_timeout).count()),
        timed_out_(fmt::format("worker {}: http: closing connections whose request head took over {} ms",
                               options.worker, options.http_header_timeout.count()),
                   spdlog::level::info) {
    limits_.max_body_bytes = options.http_max_body;
    batch_.reserve(64 * 1024);
  }

  void on_open(Connection& conn) override {
    // Each response leaves in one write; do not let Nagle hold one back behind an unacked one.
    conn.set_no_delay(true);
    auto state = std::make_unique<HeadState>(limits_, conn);
    // The first request's head is timed from the accept (nginx's client_header_timeout).
    start_head(*state, conn.last_active_ns());
    conn.set_state(std::move(state));
  }

  void on_data(Connection& conn, std::string_view data) override;
  void on_tick(int64_t now_ns) override;

 private:
  void start_head(HeadState& state, int64_t now_ns) {
    state.in_head = true;
    state.deadline_ns = now_ns + header_timeout_ns_;
    heads_.push_back(state);
  }
  void end_head(HeadState& state) {
    state.in_head = false;
    heads_.remove(state);
  }

  http::Limits limits_;
  FixedResponses responses_;
  http::HttpDate date_;
  std::string batch_;  // pipelined responses of the current read; capacity kept
  int64_t header_timeout_ns_;
  DeadlineList heads_;
  RepeatedWarning timed_out_;  // a client can trickle heads at will: two lines, not one each
};

void HttpService::on_tick(int64_t now_ns) {
  while (heads_.head != nullptr && heads_.head->deadline_ns <= now_ns) {
    HeadState& state = *heads_.head;
    end_head(state);
    if (state.conn.closed()) continue;
    timed_out_.occurred(now_ns);
    state.conn.close();  // no response, as nginx: the client was not sending one
  }
  timed_out_.poll(now_ns);
}

void HttpService::on_data(Connection& conn, std::string_view data) {
  auto* state = conn.state_as<HeadState>();
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
    // The next request's first byte starts its head's clock (between requests the idle
    // timeout applies); trickling the rest of it in does not move the deadline.
    if (!state->in_head && state->between_requests && !data.empty()) {
      state->between_requests = false;
      start_head(*state, conn.last_active_ns());
    }
    const RequestParser::Progress progress = state->parser.feed(data);
    data.remove_prefix(progress.consumed);
    const http::RequestHead& head = state->parser.head();
    if (progress.event != RequestParser::Event::need_more) end_head(*state);
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
        state->between_requests = true;
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
