// Included first into every berth C++ translation unit (CMakeLists.txt, berth_options): a fix
// for Boost 1.81's Asio io_uring backend, which prepares its cancel and timeout-remove SQEs
// without setting their user_data. liburing 2.3 leaves user_data as the ring slot's previous
// entry had it, so the kernel's answer to such an SQE (ENOENT: already done, 0: cancelled)
// lands on whichever operation queue used that slot before: another descriptor's wait ends
// with a result that is not its own, or a freed queue is written. Fixed upstream in Asio 1.27
// (chriskohlhoff/asio#1215, Boost 1.82); Debian 12 has 1.81. Asio calls these two functions
// as ::io_uring_prep_cancel and ::io_uring_prep_timeout_remove, so the macros below send it to
// wrappers that clear user_data, which Asio's completion loop ignores.
// tests/engine/uring_cancel_test.cpp fails without this.
#pragma once

#if defined(__cplusplus) && __has_include(<liburing.h>)
#include <liburing.h>

inline void berth_uring_prep_cancel(io_uring_sqe* sqe, void* user_data, int flags) noexcept {
    ::io_uring_prep_cancel(sqe, user_data, flags);
    ::io_uring_sqe_set_data(sqe, nullptr);
}

inline void berth_uring_prep_timeout_remove(io_uring_sqe* sqe, __u64 user_data,
                                            unsigned flags) noexcept {
    ::io_uring_prep_timeout_remove(sqe, user_data, flags);
    ::io_uring_sqe_set_data(sqe, nullptr);
}

#define io_uring_prep_cancel berth_uring_prep_cancel
#define io_uring_prep_timeout_remove berth_uring_prep_timeout_remove
#endif
