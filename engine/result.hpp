// The runtime error model: a [[nodiscard]] value-or-error, where the error is an errno and
// the context it travelled through ("service web/2: shim: pivot_root", then strerror).
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace berth {

// An errno plus what was being done, outermost context first once it has travelled up.
// Rendered as "context: strerror(code)", the shape every berth message uses.
class error {
public:
    error(int code, std::string context) : code_(code), context_(std::move(context)) {}

    // An error from the current errno.
    static error from_errno(std::string context) { return error(errno, std::move(context)); }

    int code() const noexcept { return code_; }
    const std::string& context() const noexcept { return context_; }

    // Prefixes more context: err.within("service web/2") gives "service web/2: <old>".
    error within(std::string_view outer) const {
        std::string ctx(outer);
        if (!context_.empty()) {
            ctx += ": ";
            ctx += context_;
        }
        return error(code_, std::move(ctx));
    }

    std::string message() const {
        std::string text = context_;
        if (code_ != 0) {
            text += text.empty() ? "" : ": ";
            text += std::strerror(code_);
        }
        return text;
    }

private:
    int code_;
    std::string context_;
};

// A value of type T or an error. Deliberately small: has_value, value, error, and
// within() to add context while passing a failure up.
template <typename T> class [[nodiscard]] result {
public:
    result(T value) : value_(std::move(value)) {}
    result(berth::error err) : error_(std::move(err)) {}

    bool has_value() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { return *value_; }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }
    T* operator->() { return &*value_; }
    const T* operator->() const { return &*value_; }
    T& operator*() & { return *value_; }
    const T& operator*() const& { return *value_; }

    const berth::error& error() const { return *error_; }

    result within(std::string_view outer) && {
        if (has_value()) {
            return std::move(*this);
        }
        return this->error().within(outer);
    }

private:
    // Two optionals rather than a variant: GCC 12 warns falsely (free-nonheap-object) about
    // variants holding strings, and the warning is an error here.
    std::optional<T> value_;
    std::optional<berth::error> error_;
};

// A result with no value: success or an error.
template <> class [[nodiscard]] result<void> {
public:
    result() = default;
    result(berth::error err) : err_(std::move(err)), failed_(true) {}

    bool has_value() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return has_value(); }
    const berth::error& error() const { return err_; }

    result within(std::string_view outer) && {
        if (has_value()) {
            return {};
        }
        return err_.within(outer);
    }

private:
    berth::error err_{0, {}};
    bool failed_ = false;
};

using status = result<void>;

} // namespace berth
