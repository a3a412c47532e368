// SHA-256 over OpenSSL's EVP interface (which picks the CPU's SHA extensions when present).
#include "engine/sha256.hpp"

#include <openssl/evp.h>

#include <array>
#include <new>

namespace berth {

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(ctx_);
        throw std::bad_alloc();
    }
}

sha256::~sha256() {
    EVP_MD_CTX_free(ctx_);
}

void sha256::update(const void* data, std::size_t size) noexcept {
    EVP_DigestUpdate(ctx_, data, size);
}

std::string sha256::hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_, md.data(), &length);
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        text += digits[md[i] >> 4];
        text += digits[md[i] & 0xf];
    }
    return text;
}

std::string sha256::of(std::string_view data) {
    sha256 h;
    h.update(data.data(), data.size());
    return h.hex();
}

bool is_sha256_hex(std::string_view text) noexcept {
    if (text.size() != 64) {
        return false;
    }
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

} // namespace berth
