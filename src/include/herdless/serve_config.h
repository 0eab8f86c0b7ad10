// ServeConfig: every setting of `herdless serve`, resolved from defaults, then the TOML config
// file, then command-line flags (a flag overrides the file). The same keys name a setting in
// all three places: "listen", "workers", "idle-timeout", ...
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "herdless/accept_strategy.h"
#include "herdless/address.h"
#include "herdless/error.h"
#include "herdless/program_config.h"
#include "herdless/steer_mode.h"
#include "herdless/udp_steering.h"

namespace herdless {

enum class WorkerMode { process, thread };
enum class ServiceKind { hello, echo, http };

// "hello", "echo", "http".
std::string_view service_name(ServiceKind kind);

struct ServeConfig {
  std::vector<ListenAddress> listen;
  int workers = 1;
  WorkerMode mode = WorkerMode::process;
  int backlog = 4096;
  ServiceKind service = ServiceKind::hello;
  std::string message = "hello world.";  // escapes expanded; "{worker}" kept for each worker
  std::string http_body = "hello world.";  // --service http: the 200 body; escapes expanded
  uint64_t http_max_body = 1 << 20;        // --service http: larger request bodies get 413
  std::chrono::milliseconds idle_timeout{60'000};  // --idle-timeout; zero: off
  // --service http: a request line + headers not complete this long after the request began
  // (the accept, or the next request's first byte) closes the connection (nginx's
  // client_header_timeout); separate from idle_timeout, which runs between requests.
  std::chrono::milliseconds http_header_timeout{60'000};
  int max_conns = 100'000;  // per worker
  std::chrono::milliseconds drain_timeout{10'000};
  std::optional<ListenAddress> admin;
  SteerMode steer = SteerMode::least_loaded;
  std::chrono::milliseconds stall_threshold{100};
  bool pin_workers = false;  // worker i runs on CPU i mod N
  // A worker whose heartbeat is this old while its accept queue is not empty is rescued:
  // its slot leaves selection and its queue migrates to the others.
  std::chrono::milliseconds stall_timeout{500};
  std::string pid_file;  // written at start, for scripted upgrades (SIGUSR2)
  AcceptStrategy accept = AcceptStrategy::reuseport;
  int accept_batch = 64;  // accepts per wake-up and listener (1 = nginx's multi_accept off)
  UdpSteering udp;        // udp:// listens: hash, or session (with the key's place)
  uint32_t udp_max_datagram = 65527;  // larger datagrams are counted as truncated, not answered (IPv6's largest)
  // Per-slot connection counts from the kernel (ConnTracker): the load of programs, which
  // publish none. "auto" = on under `herdless run`, off under `serve` (its workers count
  // their own connections).
  enum class KernelAccounting { automatic, on, off } kernel_accounting = KernelAccounting::automatic;
  // The SK_LOOKUP program that keeps every connection for our addresses on our sockets (a more
  // specific bind on our port gets nothing). "auto": when BPF allows it; "on": or fail at start.
  enum class OwnPort { automatic, on, off } own_port = OwnPort::automatic;
  // Occupants whose supervisor died keep serving this long (a new supervisor takes over from
  // them sooner), then they are stopped.
  std::chrono::milliseconds orphan_timeout{60'000};
  // `herdless run`: every slot runs this program instead of a built-in worker.
  std::optional<ProgramConfig> program;
};

// One "key = value" as given by a flag or a config file entry, before validation.
struct Setting {
  std::string key;
  std::string value;
};
using Settings = std::vector<Setting>;

// The defaults: listen tcp://0.0.0.0:10013, one worker per CPU, admin on 127.0.0.1:10014.
ServeConfig default_serve_config();

// Reads a TOML file into settings; unknown keys and wrong types are errors.
Result<Settings> read_config_file(const std::string& path);

// Which command the settings are for: `serve` runs built-in workers, `run` a program per slot.
enum class Subcommand { serve, run };

// Applies `file` then `flags` to the defaults and validates. Within one source, the first
// "listen" (or "command") replaces the inherited list and later ones add to it. Under `run`,
// a setting only built-in workers use (service, message, max-conns, ...) is an error, and a
// command is required; under `serve`, the run settings are errors.
Result<ServeConfig> resolve_config(const Settings& file, const Settings& flags, Subcommand subcommand);
inline Result<ServeConfig> resolve_serve_config(const Settings& file, const Settings& flags) {
  return resolve_config(file, flags, Subcommand::serve);
}

// "hello\\n" -> "hello" + newline; also \\r, \\t, \\\\.
std::string expand_escapes(std::string_view text);

// Replaces every "{worker}" with the worker index.
std::string expand_worker(std::string_view message, int worker);

}  // namespace herdless
