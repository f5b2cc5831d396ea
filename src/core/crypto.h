// Hashes, MACs, constant-time comparison and WeChat's encryptedData decryption (OpenSSL).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wxauth {

std::string sha1_hex(std::string_view data);                 // lowercase hex, 40 chars
std::string sha256_raw(std::string_view data);               // 32 raw bytes
std::string sha256_hex(std::string_view data);               // lowercase hex, 64 chars
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Constant-time comparison (CRYPTO_memcmp); different lengths compare unequal.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// signature == sha1(raw_data + session_key), lowercase hex, compared in constant time.
// An uppercase hex signature is accepted too.
bool verify_user_signature(std::string_view raw_data, std::string_view session_key,
                           std::string_view signature);

enum class DecryptStatus {
    ok,
    bad_input,           // encryptedData/iv/session_key not base64, key or iv not 16 bytes,
                         // ciphertext empty or not a multiple of 16
    bad_padding,         // PKCS#7 padding invalid
    bad_json,            // plaintext is not a JSON object
    watermark_mismatch,  // watermark missing, or watermark.appid != expected appid
    watermark_expired,   // watermark.timestamp older than max_age_seconds
};

struct DecryptResult {
    DecryptStatus status = DecryptStatus::bad_input;
    std::string plaintext;  // the decrypted JSON text when status == ok
};

// AES-128-CBC with key = base64(session_key), iv = base64(iv), strict PKCS#7.
// Spaces in the base64 inputs are read as '+' (form decoders turn '+' into ' ').
// The plaintext must be a JSON object carrying watermark{appid,timestamp} with
// watermark.appid == expected_appid. When max_age_seconds > 0, watermark.timestamp must be
// no older than now_unix - max_age_seconds.
DecryptResult decrypt_user_data(std::string_view encrypted_data_b64, std::string_view iv_b64,
                                std::string_view session_key_b64, std::string_view expected_appid,
                                std::int64_t max_age_seconds = 0, std::int64_t now_unix = 0);

}  // namespace wxauth
