// ConnectionList: an intrusive doubly linked list of connections through one pair of link
// members of TcpConnection (a connection is in several lists at once, one pair each): O(1)
// append and unlink, oldest first. A worker keeps its connections by last activity (idle
// sweep) and its lingering closes by deadline in such lists.
#pragma once

#include "herdless/tcp_connection.h"

namespace herdless {

template <TcpConnection* TcpConnection::*Prev, TcpConnection* TcpConnection::*Next>
class ConnectionList {
 public:
  TcpConnection* front() const { return head_; }
  bool is_back(const TcpConnection& conn) const { return tail_ == &conn; }

  void push_back(TcpConnection& conn) {
    conn.*Prev = tail_;
    conn.*Next = nullptr;
    if (tail_ != nullptr) tail_->*Next = &conn;
    tail_ = &conn;
    if (head_ == nullptr) head_ = &conn;
  }

  // Unlinks `conn`; nothing happens if it is not in the list.
  void remove(TcpConnection& conn) {
    if (conn.*Prev != nullptr) conn.*Prev->*Next = conn.*Next;
    else if (head_ == &conn) head_ = conn.*Next;
    else return;
    if (conn.*Next != nullptr) conn.*Next->*Prev = conn.*Prev;
    else tail_ = conn.*Prev;
    conn.*Prev = conn.*Next = nullptr;
  }

 private:
  TcpConnection* head_ = nullptr;
  TcpConnection* tail_ = nullptr;
};

}  // namespace herdless
