// The pre-parse scan (see parse_guard.hpp for why it exists): a small state machine over
// TOML's tokens that tracks what toml++ will read as string contents.
#include "config/detail/parse_guard.hpp"

#include <vector>

namespace berth::config::detail {
namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

bool is_non_ascii(char c) {
    return static_cast<unsigned char>(c) >= 0x80;
}
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}
bool is_space(char c) {
    return is_blank(c) || c == '\n';
}
bool is_quote(char c) {
    return c == '"' || c == '\'';
}
bool is_bare_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}
// Where toml++ ends a bare value (number, date, boolean): its is_value_terminator().
bool ends_bare_value(char c) {
    return is_space(c) || c == ']' || c == '}' || c == ',' || c == '#';
}

class scanner {
public:
    explicit scanner(std::string_view text) : text_(text) {}

    std::optional<parse_hazard> run();

private:
    // What toml++ expects at pos_: a key (line start, after '{' or a comma in an inline
    // table), what follows a key part ('.', '=', ']'), a value, or anything else (after a
    // complete value; nothing here starts a string).
    enum class state { key, after_key, value, other };

    void step();
    void step_key(char c);
    void step_after_key(char c);
    void step_value(char c);
    void step_other(char c);
    void skip_comment();
    void skip_string();
    void skip_bare_value();
    void open(char bracket, state next);
    void close();
    void fail(std::size_t at, std::string message);

    std::string_view text_;
    std::size_t pos_ = 0;
    state state_ = state::key;
    std::vector<char> brackets_; // '[' array, '{' inline table, 'h' table header
    std::size_t key_dots_ = 0;
    std::optional<parse_hazard> hazard_;
};

std::optional<parse_hazard> scanner::run() {
    pos_ = text_.starts_with(utf8_bom) ? utf8_bom.size() : 0;
    while (pos_ < text_.size() && !hazard_) {
        step();
    }
    return hazard_;
}

void scanner::step() {
    const char c = text_[pos_];
    if (c == '#') {
        skip_comment();
        return;
    }
    if (is_non_ascii(c)) {
        fail(pos_, "a non-ASCII character outside a string or comment");
        return;
    }
    switch (state_) {
    case state::key:
        step_key(c);
        return;
    case state::after_key:
        step_after_key(c);
        return;
    case state::value:
        step_value(c);
        return;
    case state::other:
        step_other(c);
        return;
    }
}

void scanner::step_key(char c) {
    if (is_space(c)) {
        ++pos_;
    } else if (is_quote(c)) {
        skip_string();
        state_ = state::after_key;
    } else if (is_bare_key_char(c)) {
        while (pos_ < text_.size() && is_bare_key_char(text_[pos_])) {
            ++pos_;
        }
        state_ = state::after_key;
    } else if (c == '[' && (brackets_.empty() || brackets_.back() == 'h')) {
        open('h', state::key); // [table] or [[array of tables]]
    } else {
        step_other(c);
    }
}

void scanner::step_after_key(char c) {
    if (is_blank(c)) {
        ++pos_;
    } else if (c == '.') {
        ++pos_;
        state_ = state::key;
        if (++key_dots_ > max_key_dots) {
            fail(pos_ - 1,
                 "key nested too deeply (at most " + std::to_string(max_key_dots + 1) + " parts)");
        }
    } else if (c == '=') {
        ++pos_;
        key_dots_ = 0;
        state_ = state::value;
    } else {
        key_dots_ = 0;
        step_other(c);
    }
}

void scanner::step_value(char c) {
    if (is_space(c)) {
        ++pos_;
    } else if (is_quote(c)) {
        skip_string();
        state_ = state::other;
    } else if (c == '[') {
        open('[', state::value);
    } else if (c == '{') {
        open('{', state::key);
    } else if (c == ']' || c == '}') {
        close();
    } else {
        skip_bare_value();
        state_ = state::other;
    }
}

void scanner::step_other(char c) {
    ++pos_;
    const char top = brackets_.empty() ? '\0' : brackets_.back();
    if (c == '\n') {
        state_ = top == '\0' ? state::key : top == '[' ? state::value : state_;
    } else if (c == ',') {
        state_ = top == '{' ? state::key : top == '[' ? state::value : state::other;
    } else if (c == '=') {
        state_ = state::value;
    } else if (c == ']' || c == '}') {
        --pos_;
        close();
    } else if (c == '[' || c == '{') {
        --pos_;
        open(c, c == '{' ? state::key : state::value);
    } else {
        state_ = state::other;
    }
}

void scanner::skip_comment() {
    while (pos_ < text_.size() && text_[pos_] != '\n') {
        ++pos_;
    }
}

// From a quote character to just past the closing quote (or to the newline that ends an
// unterminated single-line string, or to the end of text).
void scanner::skip_string() {
    const bool basic = text_[pos_] == '"';
    const bool multi_line = text_.substr(pos_, 3) == std::string_view(basic ? "\"\"\"" : "'''");
    const std::string_view closing = text_.substr(pos_, multi_line ? 3 : 1);
    pos_ += closing.size();
    while (pos_ < text_.size()) {
        if (basic && text_[pos_] == '\\') {
            std::size_t next = pos_ + 1;
            while (multi_line && next < text_.size() && is_space(text_[next])) {
                ++next;
            }
            if (multi_line && next < text_.size() && is_non_ascii(text_[next])) {
                fail(next, "a non-ASCII character right after a backslash in a multi-line "
                           "string is not supported (toml++ 3.3 bug); escape it as \\uXXXX");
                return;
            }
            pos_ += 2;
        } else if (!multi_line && text_[pos_] == '\n') {
            return;
        } else if (text_.substr(pos_, closing.size()) == closing) {
            pos_ += closing.size();
            return;
        } else {
            ++pos_;
        }
    }
}

// A number, date, boolean or junk: toml++ reads it up to a value terminator, testing each
// code point for whitespace, so nothing in it may be non-ASCII (quotes included, it is not a
// string).
void scanner::skip_bare_value() {
    while (pos_ < text_.size() && !ends_bare_value(text_[pos_])) {
        if (is_non_ascii(text_[pos_])) {
            fail(pos_, "a non-ASCII character outside a string or comment");
            return;
        }
        ++pos_;
    }
}

void scanner::open(char bracket, state next) {
    ++pos_;
    if (brackets_.size() == max_brackets) {
        fail(pos_ - 1, "arrays or tables nested too deeply (at most " +
                           std::to_string(max_brackets) + " levels)");
        return;
    }
    brackets_.push_back(bracket);
    state_ = next;
}

void scanner::close() {
    ++pos_;
    if (!brackets_.empty()) {
        brackets_.pop_back();
    }
    state_ = state::other;
}

void scanner::fail(std::size_t at, std::string message) {
    parse_hazard h{1, 1, std::move(message)};
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
        if (text_[i] == '\n') {
            ++h.line;
            h.column = 1;
        } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
            ++h.column;
        }
    }
    hazard_ = std::move(h);
}

} // namespace

std::optional<parse_hazard> check_before_parse(std::string_view text) {
    return scanner(text).run();
}

} // namespace berth::config::detail
