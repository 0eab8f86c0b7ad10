// ServiceFactories: the services a library server registered (Server::tcp_service,
// Server::datagram_service), carried from the Server through the supervisor to every worker it
// starts. An empty factory: the worker runs the built-in service chosen by --service.
#pragma once

#include "herdless/datagram_service.h"
#include "herdless/service.h"

namespace herdless {

struct ServiceFactories {
  ServiceFactory tcp;
  DatagramServiceFactory datagram;
};

}  // namespace herdless
