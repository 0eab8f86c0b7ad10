// RedisService: the herdless Service of this example, one per worker. It parses each read's
// requests (RespParser), runs them against the shared Store and answers the whole read's
// requests with a single write. A connection's unparsed bytes wait in its ConnectionState.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <herdless/herdless.h>

#include "resp_parser.h"
#include "store.h"

namespace redis {

class RedisService final : public herdless::Service {
 public:
  RedisService(std::shared_ptr<Store> store, int worker) : store_(std::move(store)), worker_(worker) {}

  void on_open(herdless::Connection& conn) override;
  void on_data(herdless::Connection& conn, std::string_view data) override;

 private:
  // Runs one request, appends its reply to out_; false when the connection should close after
  // the reply (QUIT).
  bool execute(const std::vector<std::string_view>& args);

  std::shared_ptr<Store> store_;
  int worker_;
  RespParser parser_;                    // keeps nothing between calls: one per worker
  std::vector<std::string_view> args_;  // the current request's words
  std::string out_;                      // one read's replies
};

}  // namespace redis
