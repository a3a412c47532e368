// SHA-256 of a byte stream (OpenSSL's EVP interface), for checking image blobs against digests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace berth {

class sha256 {
public:
    sha256();
    ~sha256();
    sha256(const sha256&) = delete;
    sha256& operator=(const sha256&) = delete;

    void update(const void* data, std::size_t size) noexcept;

    // Finishes the digest: 64 lowercase hex digits. The object is then reset for a new stream.
    std::string hex();

    // The digest of one buffer, as hex.
    static std::string of(std::string_view data);

private:
    evp_md_ctx_st* ctx_;
};

// True when text is 64 lowercase hex digits, the form of a sha256 digest's encoded part.
bool is_sha256_hex(std::string_view text) noexcept;

} // namespace berth
