// A container's output log: one file per replica, rotated by size (NAME, NAME.1, ... NAME.K).
#pragma once

#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <cstdint>
#include <filesystem>
#include <span>

namespace berth {

class log_file {
public:
    // max_size 0 disables rotation; max_files counts the live file too (1 = truncate in place).
    static result<log_file> open(std::filesystem::path path, std::uint64_t max_size,
                                 unsigned max_files) noexcept;

    // Appends, rotating first when the data would push the file past max_size. A write error
    // (disk full) drops the data and is returned; the log stays usable.
    status append(std::span<const char> data) noexcept;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::uint64_t size() const noexcept { return size_; }

private:
    log_file(std::filesystem::path path, unique_fd fd, std::uint64_t size, std::uint64_t max_size,
             unsigned max_files) noexcept;
    status rotate() noexcept;

    std::filesystem::path path_;
    unique_fd fd_;
    std::uint64_t size_;
    std::uint64_t max_size_;
    unsigned max_files_;
};

} // namespace berth
