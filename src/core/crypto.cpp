#include "crypto.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <new>

#include <cjson/cJSON.h>

#include "json.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "encoding.h"

namespace wxauth {

namespace {

// Far beyond any real encryptedData; keeps sizes within OpenSSL's int lengths.
constexpr std::size_t max_ciphertext = 1 << 24;

std::string digest(const EVP_MD *md, std::string_view data)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
        throw std::bad_alloc();  // only fails when OpenSSL cannot allocate
    }
    return std::string(reinterpret_cast<const char *>(out), len);
}

// SHA-256 is hashed on every session check (the token's storage key). EVP_Digest with
// EVP_sha256() costs, per call, a context allocation and (OpenSSL 3) a lookup of the algorithm by
// name under a lock: this keeps one fetched algorithm and one context per thread (an nginx
// worker has one) and reuses them.
bool sha256_into(std::string_view data, unsigned char out[32]) noexcept
{
    struct Reused {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        EVP_MD *md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        ~Reused() { EVP_MD_CTX_free(ctx); EVP_MD_free(md); }
        const EVP_MD *algorithm() const noexcept { return md; }
#else
        ~Reused() { EVP_MD_CTX_free(ctx); }
        const EVP_MD *algorithm() const noexcept { return EVP_sha256(); }
#endif
    };
    thread_local Reused r;
    unsigned int len = 0;
    return r.ctx != nullptr && r.algorithm() != nullptr &&
           EVP_DigestInit_ex(r.ctx, r.algorithm(), nullptr) == 1 &&
           EVP_DigestUpdate(r.ctx, data.data(), data.size()) == 1 &&
           EVP_DigestFinal_ex(r.ctx, out, &len) == 1 && len == 32;
}

struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX *c) const noexcept { EVP_CIPHER_CTX_free(c); }
};

// Raw AES-128-CBC decryption without padding removal; false on an OpenSSL failure.
bool aes128_cbc_decrypt_raw(const std::string &key, const std::string &iv,
                            const std::string &ciphertext, std::string &plain)
{
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
    if (!ctx) {
        throw std::bad_alloc();
    }
    const auto *k = reinterpret_cast<const unsigned char *>(key.data());
    const auto *v = reinterpret_cast<const unsigned char *>(iv.data());
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, k, v) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1) {
        return false;
    }
    plain.assign(ciphertext.size() + 16, '\0');
    auto *out = reinterpret_cast<unsigned char *>(plain.data());
    int len1 = 0;
    int len2 = 0;
    if (EVP_DecryptUpdate(ctx.get(), out, &len1,
                          reinterpret_cast<const unsigned char *>(ciphertext.data()),
                          int(ciphertext.size())) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), out + len1, &len2) != 1) {
        return false;
    }
    plain.resize(std::size_t(len1) + std::size_t(len2));
    return true;
}

// Removes strict PKCS#7 padding (block size 16).
bool strip_pkcs7(std::string &plain) noexcept
{
    if (plain.empty() || plain.size() % 16 != 0) {
        return false;
    }
    auto pad = std::uint8_t(plain.back());
    if (pad < 1 || pad > 16) {
        return false;
    }
    for (std::size_t i = plain.size() - pad; i < plain.size(); ++i) {
        if (std::uint8_t(plain[i]) != pad) {
            return false;
        }
    }
    plain.resize(plain.size() - pad);
    return true;
}

// Form decoders turn '+' into ' ': read spaces back as '+', then decode strictly.
bool decode_base64_lenient_spaces(std::string_view text, std::string &out)
{
    std::string fixed(text);
    std::replace(fixed.begin(), fixed.end(), ' ', '+');
    return base64_decode(fixed, out);
}

}  // namespace

std::string sha1_hex(std::string_view data) { return hex_lower(digest(EVP_sha1(), data)); }

std::string sha256_raw(std::string_view data)
{
    unsigned char out[32];
    if (!sha256_into(data, out)) {
        return digest(EVP_sha256(), data);   // the reused context failed: the plain way
    }
    return std::string(reinterpret_cast<const char *>(out), sizeof(out));
}

std::string sha256_hex(std::string_view data)
{
    unsigned char out[32];
    if (!sha256_into(data, out)) {
        return hex_lower(digest(EVP_sha256(), data));
    }
    return hex_lower(std::string_view(reinterpret_cast<const char *>(out), sizeof(out)));
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), int(key.size()),
             reinterpret_cast<const unsigned char *>(data.data()), data.size(), out,
             &len) == nullptr) {
        throw std::bad_alloc();
    }
    return hex_lower(std::string_view(reinterpret_cast<const char *>(out), len));
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool verify_user_signature(std::string_view raw_data, std::string_view session_key,
                           std::string_view signature)
{
    std::string input(raw_data);
    input.append(session_key);
    std::string expected = sha1_hex(input);
    std::string given(signature);
    for (char &c : given) {
        if (c >= 'A' && c <= 'F') {
            c = char(c - 'A' + 'a');
        }
    }
    return constant_time_equal(expected, given);
}

DecryptResult decrypt_user_data(std::string_view encrypted_data_b64, std::string_view iv_b64,
                                std::string_view session_key_b64, std::string_view expected_appid,
                                std::int64_t max_age_seconds, std::int64_t now_unix)
{
    DecryptResult result;
    std::string key, iv, ciphertext;
    if (!decode_base64_lenient_spaces(session_key_b64, key) || key.size() != 16 ||
        !decode_base64_lenient_spaces(iv_b64, iv) || iv.size() != 16 ||
        !decode_base64_lenient_spaces(encrypted_data_b64, ciphertext) || ciphertext.empty() ||
        ciphertext.size() % 16 != 0 || ciphertext.size() > max_ciphertext) {
        result.status = DecryptStatus::bad_input;
        return result;
    }

    std::string plain;
    if (!aes128_cbc_decrypt_raw(key, iv, ciphertext, plain) || !strip_pkcs7(plain)) {
        result.status = DecryptStatus::bad_padding;
        return result;
    }

    JsonPtr root = parse_json_object(plain);
    if (!root) {
        result.status = DecryptStatus::bad_json;
        return result;
    }
    const cJSON *watermark = cJSON_GetObjectItemCaseSensitive(root.get(), "watermark");
    const cJSON *appid = cJSON_GetObjectItemCaseSensitive(watermark, "appid");
    const cJSON *timestamp = cJSON_GetObjectItemCaseSensitive(watermark, "timestamp");
    if (!cJSON_IsObject(watermark) || !cJSON_IsString(appid) || !cJSON_IsNumber(timestamp) ||
        std::string_view(appid->valuestring) != expected_appid) {
        result.status = DecryptStatus::watermark_mismatch;
        return result;
    }
    if (max_age_seconds > 0) {
        double oldest = double(now_unix) - double(max_age_seconds);
        if (!std::isfinite(timestamp->valuedouble) || timestamp->valuedouble < oldest) {
            result.status = DecryptStatus::watermark_expired;
            return result;
        }
    }

    result.status = DecryptStatus::ok;
    result.plaintext = std::move(plain);
    return result;
}

}  // namespace wxauth
