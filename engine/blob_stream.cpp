// The blob pipeline: file -> sha256 -> libarchive decompression -> sha256 -> libarchive tar.
#include "engine/blob_stream.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <unistd.h>

#include <cstring>

#include <type_traits>

// The callbacks are declared with `long` in the header, which must not include archive.h.
static_assert(std::is_same_v<la_ssize_t, long>);

namespace berth {

std::string archive_message(::archive* a) {
    const char* text = a != nullptr ? archive_error_string(a) : nullptr;
    return text != nullptr ? text : "unknown error";
}

namespace {

int archive_code(::archive* a) {
    int code = archive_errno(a);
    return code > 0 ? code : EIO;
}

} // namespace

result<std::unique_ptr<blob_stream>> blob_stream::open(unique_fd fd) {
    std::unique_ptr<blob_stream> s(new blob_stream());
    s->fd_ = std::move(fd);
    s->raw_ = archive_read_new();
    if (s->raw_ == nullptr) {
        return error(ENOMEM, "libarchive: archive_read_new");
    }
    // Warnings only say a filter would run through an external program; Debian's libarchive
    // has zlib and libzstd built in.
    if (archive_read_support_filter_gzip(s->raw_) < ARCHIVE_WARN ||
        archive_read_support_filter_zstd(s->raw_) < ARCHIVE_WARN ||
        archive_read_support_format_raw(s->raw_) != ARCHIVE_OK) {
        return error(EINVAL, "libarchive: " + archive_message(s->raw_));
    }
    if (archive_read_open(s->raw_, s.get(), nullptr, &blob_stream::read_file, nullptr) !=
        ARCHIVE_OK) {
        return error(archive_code(s->raw_), "decompress: " + archive_message(s->raw_));
    }
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(s->raw_, &entry);
    if (r == ARCHIVE_EOF) {
        s->raw_empty_ = true;
    } else if (r != ARCHIVE_OK) {
        return error(archive_code(s->raw_), "decompress: " + archive_message(s->raw_));
    }
    return s;
}

blob_stream::~blob_stream() {
    if (tar_ != nullptr) {
        archive_read_free(tar_);
    }
    if (raw_ != nullptr) {
        archive_read_free(raw_);
    }
}

long blob_stream::read_file(::archive* a, void* self, const void** buffer) {
    auto* s = static_cast<blob_stream*>(self);
    while (true) {
        ssize_t n = ::read(s->fd_.get(), s->file_buffer_.data(), s->file_buffer_.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            archive_set_error(a, errno, "read: %s", std::strerror(errno));
            return -1;
        }
        s->blob_hash_.update(s->file_buffer_.data(), static_cast<std::size_t>(n));
        s->blob_size_ += static_cast<std::uint64_t>(n);
        *buffer = s->file_buffer_.data();
        return n;
    }
}

long blob_stream::next_content(::archive* reporter, const void** buffer) {
    if (raw_empty_) {
        return 0;
    }
    la_ssize_t n = archive_read_data(raw_, content_buffer_.data(), content_buffer_.size());
    if (n < 0) {
        if (reporter != nullptr) {
            archive_set_error(reporter, archive_code(raw_), "decompress: %s",
                              archive_message(raw_).c_str());
        }
        return -1;
    }
    content_hash_.update(content_buffer_.data(), static_cast<std::size_t>(n));
    content_size_ += static_cast<std::uint64_t>(n);
    *buffer = content_buffer_.data();
    return static_cast<long>(n);
}

long blob_stream::read_content(::archive* a, void* self, const void** buffer) {
    return static_cast<blob_stream*>(self)->next_content(a, buffer);
}

result<::archive*> blob_stream::tar() {
    if (tar_ != nullptr) {
        return tar_;
    }
    tar_ = archive_read_new();
    if (tar_ == nullptr) {
        return error(ENOMEM, "libarchive: archive_read_new");
    }
    if (archive_read_support_format_tar(tar_) != ARCHIVE_OK) {
        return error(EINVAL, "libarchive: " + archive_message(tar_));
    }
    if (archive_read_open(tar_, this, nullptr, &blob_stream::read_content, nullptr) != ARCHIVE_OK) {
        return error(archive_code(tar_), "read tar: " + archive_message(tar_));
    }
    return tar_;
}

result<blob_digests> blob_stream::finish() {
    const void* ignored = nullptr;
    while (true) {
        long n = next_content(nullptr, &ignored);
        if (n < 0) {
            return error(archive_code(raw_), "decompress: " + archive_message(raw_));
        }
        if (n == 0) {
            break;
        }
    }
    // Bytes after the end of the compressed stream still belong to the blob's digest.
    while (true) {
        ssize_t n = ::read(fd_.get(), file_buffer_.data(), file_buffer_.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return error::from_errno("read");
        }
        if (n == 0) {
            break;
        }
        blob_hash_.update(file_buffer_.data(), static_cast<std::size_t>(n));
        blob_size_ += static_cast<std::uint64_t>(n);
    }
    blob_digests d;
    d.blob = blob_hash_.hex();
    d.content = content_hash_.hex();
    d.blob_size = blob_size_;
    d.content_size = content_size_;
    return d;
}

} // namespace berth
