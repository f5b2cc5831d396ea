#include "errors.h"

#include "encoding.h"

namespace wxauth {

namespace {

struct ErrorInfo {
    int status;
    const char *code;
    const char *message;
};

ErrorInfo info(Error e) noexcept
{
    switch (e) {
    case Error::missing_session:
        return {401, "missing_session", "no session token in the request"};
    case Error::invalid_session:
        return {401, "invalid_session", "session token is malformed"};
    case Error::session_expired:
        return {401, "session_expired", "session is unknown or expired"};
    case Error::store_unavailable:
        return {503, "store_unavailable", "session store unavailable"};
    case Error::invalid_request:
        return {400, "invalid_request", "invalid request"};
    case Error::request_too_large:
        return {413, "request_too_large", "request body too large"};
    case Error::method_not_allowed:
        return {405, "method_not_allowed", "method not allowed"};
    case Error::invalid_code:
        return {401, "invalid_code", "invalid or already used login code"};
    case Error::user_blocked:
        return {403, "user_blocked", "user is blocked by WeChat"};
    case Error::rate_limited:
        return {429, "rate_limited", "rate limited by WeChat"};
    case Error::wechat_unavailable:
        return {502, "wechat_unavailable", "WeChat is unavailable"};
    case Error::wechat_timeout:
        return {504, "wechat_timeout", "WeChat did not answer in time"};
    case Error::decrypt_failed:
        return {400, "decrypt_failed", "decryption failed"};
    case Error::watermark_mismatch:
        return {403, "watermark_mismatch", "watermark does not match the session"};
    case Error::signature_mismatch:
        return {400, "signature_mismatch", "signature does not match"};
    case Error::app_not_allowed:
        return {403, "app_not_allowed", "this location does not accept sessions of that app"};
    case Error::internal_error:
        break;
    }
    return {500, "internal_error", "internal error"};
}

}  // namespace

int http_status(Error e) noexcept { return info(e).status; }

const char *error_code(Error e) noexcept { return info(e).code; }

const char *default_message(Error e) noexcept { return info(e).message; }

std::string error_json(Error e, std::optional<long> wx_errcode, std::string_view message)
{
    if (message.empty()) {
        message = default_message(e);
    }
    std::string out = "{\"error\":\"";
    out += json_escape(error_code(e));
    out += "\",\"message\":\"";
    out += json_escape(message);
    out += '"';
    if (wx_errcode) {
        out += ",\"wx_errcode\":";
        out += std::to_string(*wx_errcode);
    }
    out += '}';
    return out;
}

}  // namespace wxauth
