// PolledServer: the scaffolding of an in-test server: one socket on 127.0.0.1 port 0 (tcp or
// udp), and a thread that polls it and calls on_readable() until stop() or 30 s, so that a
// test never outlives its server. A subclass writes only what it does with the socket.
#pragma once

#include <chrono>
#include <thread>

#include "herdless/address.h"
#include "herdless/fd.h"

namespace herdless::testutil {

class PolledServer {
 public:
  PolledServer(const PolledServer&) = delete;
  PolledServer& operator=(const PolledServer&) = delete;

  const ListenAddress& address() const { return address_; }
  // Stops and joins the thread; what the subclass recorded is stable afterwards.
  void stop();

 protected:
  // Opens the socket ("tcp://127.0.0.1:0" or "udp://127.0.0.1:0"); the thread polls it every
  // `period` at the longest, calling on_turn() each time.
  explicit PolledServer(const char* url, std::chrono::milliseconds period = std::chrono::milliseconds(100));
  // Subclasses call stop() in their own destructor, before their members go.
  virtual ~PolledServer();
  // Starts the thread; call at the end of the subclass's constructor.
  void start();
  int socket() const { return socket_.get(); }
  virtual void on_readable() = 0;
  virtual void on_turn() {}

 private:
  void loop();

  std::chrono::milliseconds period_;
  Fd socket_;
  Fd wake_;
  ListenAddress address_;
  std::thread thread_;
};

}  // namespace herdless::testutil
