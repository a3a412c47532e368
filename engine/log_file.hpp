// A container's output log: one file per replica, rotated by size (NAME, NAME.1, ... NAME.K).
// The file is open only during an append: a fleet of mostly quiet containers then costs no fd
// per log (3 per container were the limit at 5,000 containers with a 20,000 fd limit), for
// an open and a close per chunk of output read. The file itself is created by the first
// append: a replica that has written nothing has no file (berthctl logs then prints nothing).
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
    unique_fd fd_; // open only inside append()
    std::uint64_t size_;
    std::uint64_t max_size_;
    unsigned max_files_;
};

} // namespace berth
