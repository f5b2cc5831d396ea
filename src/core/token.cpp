#include "token.h"

#include <stdexcept>

#include <openssl/rand.h>

#include "crypto.h"
#include "encoding.h"

namespace wxauth {

std::string generate_token()
{
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        throw std::runtime_error("CSPRNG failure");
    }
    return base64url_encode_nopad(
        std::string_view(reinterpret_cast<const char *>(bytes), sizeof bytes));
}

bool token_well_formed(std::string_view token) noexcept
{
    if (token.size() != token_length) {
        return false;
    }
    for (char c : token) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string session_storage_key(std::string_view prefix, std::string_view token)
{
    std::string key;
    key.reserve(prefix.size() + 2 + 64);   // one allocation on every session check
    key += prefix;
    key += "s:";
    key += sha256_hex(token);
    return key;
}

std::string latest_key_storage_key(std::string_view prefix, std::string_view appid,
                                   std::string_view openid)
{
    std::string key(prefix);
    key += "k:";
    key += appid;
    key += ':';
    key += openid;
    return key;
}

std::string user_sessions_storage_key(std::string_view prefix, std::string_view appid,
                                      std::string_view openid)
{
    std::string key(prefix);
    key += "u:";
    key += appid;
    key += ':';
    key += openid;
    return key;
}

}  // namespace wxauth
