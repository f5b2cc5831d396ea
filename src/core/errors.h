// Stable error codes of the module: HTTP status, JSON `error` code, default message.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wxauth {

enum class Error {
    missing_session,      // 401 no token in the request
    invalid_session,      // 401 token not 43 base64url characters
    session_expired,      // 401 unknown or expired token
    store_unavailable,    // 503 Redis unreachable, erroring or past its timeout
    invalid_request,      // 400 bad login body / bad decrypt input
    request_too_large,    // 413 request body over client_max_body_size
    method_not_allowed,   // 405 wrong HTTP method on a handler location
    invalid_code,         // 401 WeChat 40029 / 40163
    user_blocked,         // 403 WeChat 40226
    rate_limited,         // 429 WeChat 45011
    wechat_unavailable,   // 502 WeChat -1, other errcodes, bad answers
    wechat_timeout,       // 504 the WeChat subrequest timed out
    decrypt_failed,       // 400 padding or JSON invalid after decryption
    watermark_mismatch,   // 403 watermark.appid differs from the session's (or too old)
    signature_mismatch,   // 400 rawData signature does not match
    app_not_allowed,      // 403 session of an app this location does not accept
    internal_error,       // 500 out of memory and other local failures
};

int http_status(Error e) noexcept;
// The stable machine-readable code, e.g. "session_expired".
const char *error_code(Error e) noexcept;
// A short human-readable default message (English, no trailing dot).
const char *default_message(Error e) noexcept;

// {"error":"<code>","message":"<message>"[,"wx_errcode":N]} -- message defaults to
// default_message(e); every string is JSON-escaped.
std::string error_json(Error e, std::optional<long> wx_errcode = std::nullopt,
                       std::string_view message = {});

// Every Error value, for tables and tests.
constexpr Error all_errors[] = {
    Error::missing_session,   Error::invalid_session,   Error::session_expired,
    Error::store_unavailable, Error::invalid_request,   Error::request_too_large,
    Error::method_not_allowed,
    Error::invalid_code,      Error::user_blocked,      Error::rate_limited,
    Error::wechat_unavailable, Error::wechat_timeout,   Error::decrypt_failed,
    Error::watermark_mismatch, Error::signature_mismatch, Error::app_not_allowed,
    Error::internal_error,
};

}  // namespace wxauth
