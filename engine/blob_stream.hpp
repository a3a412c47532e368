// One image blob read through its digests: the file's bytes hashed, decompressed (gzip, zstd
// or none, detected from the data), the decompressed bytes hashed, then read as a tar stream.
#pragma once

#include "engine/result.hpp"
#include "engine/sha256.hpp"
#include "engine/unique_fd.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct archive;

namespace berth {

struct blob_digests {
    std::string blob;    // sha256 (hex) of the file's bytes: what a descriptor names
    std::string content; // sha256 (hex) of the decompressed bytes: a layer's diff_id
    std::uint64_t blob_size = 0;
    std::uint64_t content_size = 0;
};

// The whole pipeline reads the blob once, front to back; nothing is buffered past 128 KiB.
class blob_stream {
public:
    // Opens fd (read from its current offset) and detects the compression. Errors come from
    // libarchive ("Unrecognized archive format", "truncated gzip input").
    static result<std::unique_ptr<blob_stream>> open(unique_fd fd);

    ~blob_stream();
    blob_stream(const blob_stream&) = delete;
    blob_stream& operator=(const blob_stream&) = delete;

    // The tar reader over the decompressed content: libarchive with the tar formats (ustar,
    // pax, GNU) and no further filter. Opened on first use; the caller iterates its entries.
    result<::archive*> tar();

    // Reads what the tar reader left (the padding after the end of the archive, or all of the
    // content if tar() was never used), then returns both digests.
    result<blob_digests> finish();

private:
    blob_stream() = default;
    static long read_file(::archive* a, void* self, const void** buffer);
    static long read_content(::archive* a, void* self, const void** buffer);
    long next_content(::archive* reporter, const void** buffer);

    unique_fd fd_;
    ::archive* raw_ = nullptr; // decompression ("raw" format: the content as one entry)
    ::archive* tar_ = nullptr;
    bool raw_empty_ = false; // the blob has no content at all
    sha256 blob_hash_;
    sha256 content_hash_;
    std::uint64_t blob_size_ = 0;
    std::uint64_t content_size_ = 0;
    std::vector<char> file_buffer_ = std::vector<char>(128 * 1024);
    std::vector<char> content_buffer_ = std::vector<char>(128 * 1024);
};

// libarchive's last message for a, or "unknown error".
std::string archive_message(::archive* a);

} // namespace berth
