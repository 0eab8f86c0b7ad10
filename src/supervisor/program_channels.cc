// sd_notify socket and prefixed output of one program.
#include "herdless/program_channels.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace herdless {

// One pipe: the read end in the loop, a partial line kept until its newline arrives.
struct ProgramChannels::Stream {
  Fd read;
  int target = STDOUT_FILENO;
  std::string pending;
  std::unique_ptr<CallbackHandler> handler;
  bool watched = false;
};

namespace {

constexpr size_t kMaxLine = 16 * 1024;  // a longer line is written in pieces, each prefixed

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads what the pipe holds and writes every complete line with the prefix.
void pump(int read_fd, int target, std::string& pending, const std::string& prefix,
          bool final) {
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(read_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < sizeof buffer) break;
  }
  std::string out;
  size_t start = 0;
  for (size_t nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
    out += prefix;
    out.append(pending, start, nl + 1 - start);
    start = nl + 1;
  }
  pending.erase(0, start);
  if (!pending.empty() && (final || pending.size() >= kMaxLine)) {
    out += prefix + pending + "\n";
    pending.clear();
  }
  if (!out.empty()) write_all(target, out);
}

}  // namespace

ProgramChannels::ProgramChannels(EventLoop& loop) : loop_(loop) {}

ProgramChannels::~ProgramChannels() {
  drain();
  if (notify_) loop_.remove(notify_.get());
}

Result<std::unique_ptr<ProgramChannels>> ProgramChannels::create(EventLoop& loop, const std::string& tag, bool pipes) {
  std::unique_ptr<ProgramChannels> c(new ProgramChannels(loop));
  c->notify_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c->notify_) return sys_error("socket", "notify socket");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string name = "herdless/" + std::to_string(::getpid()) + "/" + tag;
  if (name.size() + 1 >= sizeof address.sun_path) return input_error("notify socket", "name too long: " + name);
  std::memcpy(address.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(c->notify_.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    return sys_error("bind", "notify socket @" + name);
  }
  c->notify_address_ = "@" + name;
  ProgramChannels* self = c.get();
  c->notify_handler_ = std::make_unique<CallbackHandler>([self](uint32_t) { self->on_notify(); });
  if (auto r = loop.add(c->notify_.get(), EPOLLIN, c->notify_handler_.get()); !r) return std::unexpected(r.error());
  if (!pipes) return c;
  for (int target : {STDOUT_FILENO, STDERR_FILENO}) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) return sys_error("pipe2", "program output");
    auto stream = std::make_unique<Stream>();
    stream->read.reset(ends[0]);
    stream->target = target;
    ::fcntl(ends[0], F_SETFL, O_NONBLOCK);
    Stream* s = stream.get();
    stream->handler = std::make_unique<CallbackHandler>([self, s](uint32_t events) {
      pump(s->read.get(), s->target, s->pending, self->prefix_, false);
      if ((events & (EPOLLHUP | EPOLLERR)) != 0 && (events & EPOLLIN) == 0) {
        self->loop_.remove(s->read.get());
        s->watched = false;
      }
    });
    if (auto r = loop.add(ends[0], EPOLLIN, stream->handler.get()); !r) {
      ::close(ends[1]);
      return std::unexpected(r.error());
    }
    stream->watched = true;
    (target == STDOUT_FILENO ? c->stdout_write_ : c->stderr_write_).reset(ends[1]);
    (target == STDOUT_FILENO ? c->out_ : c->err_) = std::move(stream);
  }
  return c;
}

void ProgramChannels::close_child_ends() {
  stdout_write_.reset();
  stderr_write_.reset();
}

void ProgramChannels::drain() {
  for (Stream* s : {out_.get(), err_.get()}) {
    if (s == nullptr || !s->read) continue;
    pump(s->read.get(), s->target, s->pending, prefix_, true);
    if (s->watched) loop_.remove(s->read.get());
    s->watched = false;
    s->read.reset();
  }
}

void ProgramChannels::on_notify() {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(notify_.get(), buffer, sizeof buffer, 0);
    if (n < 0) return;
    // Newline-separated assignments; READY=1 is the one herdless acts on.
    std::string_view text(buffer, static_cast<size_t>(n));
    while (!text.empty()) {
      const size_t nl = std::min(text.find('\n'), text.size());
      if (text.substr(0, nl) == "READY=1") ready_notified_ = true;
      text.remove_prefix(std::min(nl + 1, text.size()));
    }
  }
}

}  // namespace herdless
