// Supervisor: reload (SIGHUP). The config is re-read and resolved as at start; a new
// generation starts on the same sockets (programs roll over the slots one at a time) and the
// old one drains, so no connection is refused or reset while the listen addresses stay.
#include <algorithm>
#include <spdlog/spdlog.h>

#include "herdless/supervisor.h"
#include "supervisor/supervisor_naming.h"

namespace herdless {

void Supervisor::reload() {
  if (stopping_) return;
  Settings file;
  if (options_.config_path) {
    auto read = read_config_file(*options_.config_path);
    if (!read) {
      spdlog::error("reload rejected: {}", read.error().message());
      return;
    }
    file = std::move(*read);
  }
  auto config = resolve_config(file, options_.flags, runs_programs() ? Subcommand::run : Subcommand::serve);
  if (config && config->program) {
    if (auto found = resolve_command(config->program->command.front()); !found) {
      spdlog::error("reload rejected: {}", found.error().message());
      return;
    }
  }
  if (!config) {
    spdlog::error("reload rejected: {}", config.error().message());
    return;
  }
  if (config->mode != options_.config.mode) {
    spdlog::warn("reload: mode cannot change while running; keeping {} mode", mode_name(options_.config.mode));
    config->mode = options_.config.mode;
  }
  config->admin = options_.config.admin;  // the admin endpoint stays where it is
  if (config->steer != options_.config.steer) {
    spdlog::warn("reload: steer cannot change while running; keeping {}", steer_mode_name(options_.config.steer));
    config->steer = options_.config.steer;
  }
  if (!steering_ && config->udp.mode == UdpSteer::session) {
    // No program was loaded at start (none was wanted, or it could not load): a reload
    // cannot add one, so the datagrams of new udp:// listens follow the kernel's hash.
    if (std::ranges::any_of(config->listen, [](const ListenAddress& a) { return a.transport == Transport::udp; })) {
      spdlog::warn("reload: udp-steer session needs the eBPF program, which only loads at start; datagrams follow "
                   "the kernel's hash");
    }
    config->udp.mode = UdpSteer::hash;
    options_.config.udp.mode = UdpSteer::hash;
  }
  if (config->udp != options_.config.udp) {
    spdlog::warn("reload: udp-steer and udp-session-key cannot change while running; keeping {}",
                 udp_steer_name(options_.config.udp.mode));
    config->udp = options_.config.udp;
  }
  config->accept = options_.config.accept;  // the socket layout stays as started
  auto table = ListenerTable::open(config->listen, socket_slots(*config), config->backlog, &listeners_, nullptr,
                                   !runs_programs());
  if (!table) {
    spdlog::error("reload rejected: {}", table.error().message());
    return;
  }
  // New generation first, on the same sockets, then drain the old one: the sockets never
  // close, so no connection is refused or reset.
  std::vector<size_t> old;
  for (size_t i = 0; i < handles_.size(); ++i) {
    handles_[i].retiring = true;
    old.push_back(i);
  }
  if (steering_) {
    // Point the program at the new table before the old sockets of removed slots close.
    if (auto updated = steering_->update(*table, config->stall_threshold); !updated) {
      spdlog::error("reload: steering update failed: {}", updated.error().message());
    }
  }
  listeners_ = std::move(*table);
  listeners_changed();
  options_.config = std::move(*config);
  for (SlotState& state : slots_) {
    if (state.restart_timer) state.restart_timer->disarm();
    state.backoff_ms = 0;
    state.restart_pending = false;
  }
  resize_slots();
  ++generation_;
  if (runs_programs()) {
    roll_programs();  // one slot at a time
  } else {
    for (int slot = 0; slot < options_.config.workers; ++slot) spawn(slot);
  }
  for (size_t i : old) {
    // A program of the old generation stops once its slot's new program is ready (so one
    // that needs seconds to start costs nothing); one whose slot is gone stops now.
    if (handles_[i].program && handles_[i].slot < options_.config.workers) continue;
    stop_handle(handles_[i]);
  }
  spdlog::info("reloaded: {} workers on {} address(es)", options_.config.workers, options_.config.listen.size());
}

}  // namespace herdless
