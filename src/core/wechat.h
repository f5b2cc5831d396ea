// WeChat's jscode2session contract: building the query, reading the answer, mapping errcodes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "errors.h"

namespace wxauth {

// Largest jscode2session body we read; anything larger is a bad answer.
constexpr std::size_t max_code2session_body = 16384;

// appid=..&secret=..&js_code=..&grant_type=authorization_code, every value URL-encoded.
std::string code2session_args(std::string_view appid, std::string_view secret,
                              std::string_view code);

struct Code2SessionResult {
    enum class Kind {
        ok,            // openid and session_key present, errcode absent or 0
        wx_error,      // errcode present and non-zero (int or numeric string)
        bad_response,  // empty, not JSON, not an object, oversized, fields missing or malformed
    };
    Kind kind = Kind::bad_response;
    std::string openid;
    std::string session_key;
    std::string unionid;       // empty when WeChat sent none
    long errcode = 0;          // meaningful when kind == wx_error
    std::string reason;        // for bad_response: a short description safe to log
};

// Parses the body whatever its Content-Type. Unknown fields are ignored. A present
// session_key must be base64 of 16 bytes; openid/unionid must be non-empty strings of
// at most 128 characters.
Code2SessionResult parse_code2session(std::string_view body);

// How an errcode reaches our client: invalid_code, user_blocked, rate_limited or
// wechat_unavailable (see the README's error table).
Error map_wx_errcode(long errcode) noexcept;

// 40013 (invalid appid) and 40125 (invalid secret): our own misconfiguration, logged at
// error level.
bool wx_errcode_is_misconfiguration(long errcode) noexcept;

}  // namespace wxauth
