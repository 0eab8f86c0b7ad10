// libbpf prints its own messages on stderr by default; herdless routes them to its debug log
// (the one-line reason of a failure reaches the user as an Error instead).
#pragma once

namespace herdless {

// Idempotent; call before any libbpf open/load.
void route_libbpf_messages_to_debug_log();

}  // namespace herdless
