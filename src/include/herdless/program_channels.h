// ProgramChannels: the supervisor's side of one running program: its sd_notify socket (so
// herdless knows which program said READY=1) and, under `--output prefix`, the pipes of its
// stdout and stderr, copied line by line to the supervisor's own with "[w<slot> <pid>] " in
// front, so that the lines of different workers can be told apart.
#pragma once

#include <memory>
#include <string>

#include "herdless/error.h"
#include "herdless/event_loop.h"
#include "herdless/fd.h"

namespace herdless {

class ProgramChannels {
 public:
  // `tag` names the socket (unique per program); `pipes`: make stdout/stderr pipes.
  static Result<std::unique_ptr<ProgramChannels>> create(EventLoop& loop, const std::string& tag, bool pipes);
  ~ProgramChannels();
  ProgramChannels(const ProgramChannels&) = delete;
  ProgramChannels& operator=(const ProgramChannels&) = delete;

  // NOTIFY_SOCKET for the program ("@..." : an abstract socket name).
  const std::string& notify_address() const { return notify_address_; }
  // The write ends for the child (-1 without pipes); close_child_ends() after the fork.
  int child_stdout() const { return stdout_write_.get(); }
  int child_stderr() const { return stderr_write_.get(); }
  void close_child_ends();
  // Once the pid is known: the prefix of its lines.
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

  // True once the program sent READY=1.
  bool ready_notified() const { return ready_notified_; }
  // Reads what is left in the pipes (the program exited) and stops watching them.
  void drain();

 private:
  struct Stream;
  explicit ProgramChannels(EventLoop& loop);
  void on_notify();

  EventLoop& loop_;
  Fd notify_;
  std::string notify_address_;
  std::unique_ptr<CallbackHandler> notify_handler_;
  Fd stdout_write_;
  Fd stderr_write_;
  std::unique_ptr<Stream> out_;
  std::unique_ptr<Stream> err_;
  std::string prefix_;
  bool ready_notified_ = false;
};

}  // namespace herdless
