// The session record stored in Redis: JSON text written and read with cJSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wxauth {

struct SessionRecord {
    std::string openid;
    std::string session_key;
    std::string unionid;          // may be empty
    std::string appid;
    std::int64_t issued_at = 0;   // unix seconds
};

// {"v":1,"openid":..,"session_key":..,"unionid":..,"appid":..,"iat":N}; unionid omitted when empty.
std::string encode_session(const SessionRecord &rec);

// Accepts what encode_session writes (unknown fields ignored). Returns false when the text is
// not a JSON object, or openid, session_key or appid are missing or not strings.
bool decode_session(std::string_view text, SessionRecord &rec);

}  // namespace wxauth
