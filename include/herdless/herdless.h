// herdless: the whole public API in one include. See docs/LIBRARY.md.
#pragma once

#include "herdless/connection.h"
#include "herdless/datagram_service.h"
#include "herdless/error.h"
#include "herdless/mailbox.h"
#include "herdless/server.h"
#include "herdless/service.h"
#include "herdless/socket_address.h"
#include "herdless/timer.h"
#include "herdless/worker_context.h"
