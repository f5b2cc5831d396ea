// Session tokens ("3rd_session"): 256 random bits as 43 base64url characters.
#pragma once

#include <string>
#include <string_view>

namespace wxauth {

constexpr std::size_t token_length = 43;

// 32 bytes from OpenSSL's CSPRNG (RAND_bytes, drawn 2 KiB at a time per thread and wiped as
// they are used; dropped in a fork()ed child), base64url without padding.
// Throws std::runtime_error if the CSPRNG fails.
std::string generate_token();

// True when `token` is exactly 43 characters of [A-Za-z0-9_-].
bool token_well_formed(std::string_view token) noexcept;

// The Redis key under which a session is stored: prefix + "s:" + hex(sha256(token)).
// The token itself is never a key.
std::string session_storage_key(std::string_view prefix, std::string_view token);

// The Redis key holding the newest session_key of one user of one app:
// prefix + "k:" + appid + ":" + openid.
std::string latest_key_storage_key(std::string_view prefix, std::string_view appid,
                                   std::string_view openid);

// The Redis key of the set of session keys of one user of one app (single-session policy):
// prefix + "u:" + appid + ":" + openid.
std::string user_sessions_storage_key(std::string_view prefix, std::string_view appid,
                                      std::string_view openid);

}  // namespace wxauth
