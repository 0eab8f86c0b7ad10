// Worker: what its connections tell it (data, the peer's close, activity, the close) and
// their bookkeeping: the idle and lingering lists, the closed ones freed after each batch.
#include "herdless/worker.h"

namespace herdless {

void Worker::on_data(TcpConnection& conn, std::string_view data) { service_->on_data(conn, data); }

void Worker::on_peer_closed(TcpConnection& conn) { service_->on_peer_closed(conn); }

void Worker::on_activity(TcpConnection& conn) {
  if (idle_.is_back(conn)) return;
  idle_.remove(conn);
  idle_.push_back(conn);
}

void Worker::on_closed(TcpConnection& conn, bool error) {
  service_->on_close(conn);
  WorkerCounters& counters = *options_.counters;
  if (error) counters.errors.fetch_add(1, std::memory_order_relaxed);
  counters.closed.fetch_add(1, std::memory_order_relaxed);
  counters.active.fetch_sub(1, std::memory_order_relaxed);
  --active_;
  publish_active();
  idle_.remove(conn);
  lingering_.remove(conn);
  closed_.push_back(&conn);
  if (!accepting_ && !out_of_fds_ && !loop_.stopping() && active_ < options_.max_conns) set_accepting(true);
}

void Worker::sweep_lingering() {
  while (TcpConnection* oldest = lingering_.front()) {
    if (now_ns_ < oldest->linger_deadline_ns()) return;
    oldest->close();                                    // unlinks itself through on_closed()
    if (lingering_.front() == oldest) lingering_.remove(*oldest);  // (already closed: never stuck)
  }
}

void Worker::free_closed() {
  for (TcpConnection* conn : closed_) delete conn;
  closed_.clear();
}

}  // namespace herdless
