// RedisService: the commands (PING, ECHO, GET, SET, DEL, INCR; QUIT, SELECT 0, DBSIZE; the
// minimal CONFIG GET, COMMAND and CLIENT answers redis-cli and redis-benchmark ask for at
// connect; HERDLESS.WORKER, the index of the worker serving the connection) and the
// per-connection buffering of a request split across reads.
#include "redis_service.h"

#include <cctype>
#include <charconv>
#include <cstdint>

namespace redis {
namespace {

// A connection's bytes that did not make a whole request yet.
struct Client final : herdless::ConnectionState {
  std::string pending;
  size_t needed = 0;  // do not parse again before pending holds this many bytes
};

// `word` equals `upper` (an upper-case command name) without regard to case.
bool is(std::string_view word, std::string_view upper) {
  if (word.size() != upper.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(word[i])) != upper[i]) return false;
  }
  return true;
}

void append_integer(std::string& out, int64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.push_back(':');
  out.append(digits, end);
  out.append("\r\n");
}

void append_bulk(std::string& out, std::string_view bytes) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, bytes.size());
  out.push_back('$');
  out.append(digits, end);
  out.append("\r\n");
  out.append(bytes);
  out.append("\r\n");
}

void append_wrong_arity(std::string& out, std::string_view command) {
  out.append("-ERR wrong number of arguments for '");
  for (char c : command) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  out.append("' command\r\n");
}

// Words of an error reply may not hold a line end: one would end the reply early.
void append_sanitized(std::string& out, std::string_view text) {
  for (char c : text.substr(0, 128)) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

}  // namespace

void RedisService::on_open(herdless::Connection& conn) {
  conn.set_state(std::make_unique<Client>());
  conn.set_no_delay(true);
}

void RedisService::on_data(herdless::Connection& conn, std::string_view data) {
  Client& client = *conn.state_as<Client>();
  std::string_view input = data;
  if (!client.pending.empty()) {
    client.pending.append(data);
    if (client.pending.size() < client.needed) return;
    input = client.pending;
  }
  out_.clear();
  size_t at = 0;
  bool keep_open = true;
  while (at < input.size() && keep_open) {
    const RespParser::Status status = parser_.parse(input.substr(at), args_);
    if (status == RespParser::Status::incomplete) break;
    if (status == RespParser::Status::error) {
      out_.append("-ERR ").append(parser_.error()).append("\r\n");
      keep_open = false;
      break;
    }
    at += parser_.consumed();
    if (!args_.empty()) keep_open = execute(args_);
  }
  if (keep_open) {
    // What is left is the start of a request: keep it (from `data` or the old pending bytes).
    client.needed = at < input.size() ? parser_.needed() : 0;
    if (client.pending.empty()) client.pending.assign(input.substr(at));
    else client.pending.erase(0, at);
  }
  if (!out_.empty()) conn.write(out_);
  if (!keep_open) conn.finish();
}

bool RedisService::execute(const std::vector<std::string_view>& args) {
  const std::string_view name = args[0];
  const size_t n = args.size();
  if (is(name, "GET")) {
    if (n != 2) append_wrong_arity(out_, name);
    else store_->append_get(args[1], out_);
  } else if (is(name, "SET")) {
    if (n < 3) append_wrong_arity(out_, name);
    else if (n > 3) out_.append("-ERR syntax error\r\n");  // no EX/PX/NX/XX here
    else {
      store_->set(args[1], args[2]);
      out_.append("+OK\r\n");
    }
  } else if (is(name, "PING")) {
    if (n == 1) out_.append("+PONG\r\n");
    else if (n == 2) append_bulk(out_, args[1]);
    else append_wrong_arity(out_, name);
  } else if (is(name, "INCR")) {
    int64_t value = 0;
    if (n != 2) append_wrong_arity(out_, name);
    else switch (store_->incr(args[1], value)) {
      case Store::IncrResult::ok: append_integer(out_, value); break;
      case Store::IncrResult::not_integer: out_.append("-ERR value is not an integer or out of range\r\n"); break;
      case Store::IncrResult::overflow: out_.append("-ERR increment or decrement would overflow\r\n"); break;
    }
  } else if (is(name, "DEL")) {
    if (n < 2) append_wrong_arity(out_, name);
    else {
      int64_t removed = 0;
      for (size_t i = 1; i < n; ++i) removed += store_->del(args[i]);
      append_integer(out_, removed);
    }
  } else if (is(name, "ECHO")) {
    if (n != 2) append_wrong_arity(out_, name);
    else append_bulk(out_, args[1]);
  } else if (is(name, "HERDLESS.WORKER")) {
    append_integer(out_, worker_);
  } else if (is(name, "DBSIZE")) {
    append_integer(out_, static_cast<int64_t>(store_->size()));
  } else if (is(name, "QUIT")) {
    out_.append("+OK\r\n");
    return false;
  } else if (is(name, "SELECT")) {
    if (n != 2) append_wrong_arity(out_, name);
    else if (args[1] == "0") out_.append("+OK\r\n");
    else out_.append("-ERR DB index is out of range\r\n");
  } else if (is(name, "CONFIG") && n >= 3 && is(args[1], "GET")) {
    // redis-benchmark asks for "save" and "appendonly" at start: this store keeps nothing on
    // disk. Other parameters are unknown (an empty list, as redis-server answers).
    std::string pairs;
    int count = 0;
    for (size_t i = 2; i < n; ++i) {
      std::string_view value;
      if (is(args[i], "SAVE")) value = "";
      else if (is(args[i], "APPENDONLY")) value = "no";
      else continue;
      std::string lower(args[i]);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      append_bulk(pairs, lower);
      append_bulk(pairs, value);
      count += 2;
    }
    out_.append("*").append(std::to_string(count)).append("\r\n").append(pairs);
  } else if (is(name, "COMMAND")) {
    out_.append("*0\r\n");  // redis-cli then uses its built-in command help
  } else if (is(name, "CLIENT") && n >= 2 && (is(args[1], "SETNAME") || is(args[1], "SETINFO"))) {
    out_.append("+OK\r\n");
  } else {
    out_.append("-ERR unknown command '");
    append_sanitized(out_, name);
    out_.append("', with args beginning with: ");
    for (size_t i = 1; i < n && i < 4; ++i) {
      out_.push_back('\'');
      append_sanitized(out_, args[i]);
      out_.append("' ");
    }
    out_.append("\r\n");
  }
  return true;
}

}  // namespace redis
