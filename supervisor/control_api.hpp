// The control API: versioned JSON routes (docs/api.md) onto fleet_control, for the
// http::server on berth's control socket.
#pragma once

#include "engine/http_server.hpp"
#include "supervisor/control.hpp"

#include <sys/types.h>

#include <vector>

namespace berth {

struct control_options {
    // Peers (SO_PEERCRED uid, checked on every request) that may use the API; others get
    // 403. A request without peer credentials (not on a Unix socket) is always refused.
    std::vector<uid_t> allowed_uids{0};
};

// The handler of every route in docs/api.md. `fleet` must outlive the handler; it is called
// on the loop, synchronously, once per request (shutdown: only after the response has been
// written, through response::on_sent).
//
// Errors returned by fleet_control become JSON {"error": text} with a status by errno:
// ENOENT 404, EINVAL/ERANGE 400, EBUSY/EALREADY/EAGAIN 409 — for these the text is the
// error's context alone ("no service named 'wbe'; did you mean 'web'?"), the errno being
// only the classification; any other errno is a 500 with the full message, errno text last.
// An exception from fleet_control is a 500 too.
http::handler make_control_handler(fleet_control& fleet, control_options options = {});

} // namespace berth
