#include "wechat.h"

#include <cmath>
#include <memory>

#include <cjson/cJSON.h>

#include "json.h"

#include "encoding.h"

namespace wxauth {

namespace {

constexpr std::size_t max_id_length = 128;

// errcode as a JSON integer or a string of decimal digits (optionally negative).
bool read_errcode(const cJSON *item, long &out) noexcept
{
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 1e15) {
            return false;
        }
        out = long(d);
        return true;
    }
    if (!cJSON_IsString(item)) {
        return false;
    }
    std::string_view s(item->valuestring);
    bool negative = !s.empty() && s.front() == '-';
    if (negative) {
        s.remove_prefix(1);
    }
    if (s.empty() || s.size() > 15) {
        return false;
    }
    long value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    out = negative ? -value : value;
    return true;
}

// Identifiers go into Redis keys and headers: printable ASCII without spaces only.
bool valid_id(std::string_view id) noexcept
{
    if (id.empty() || id.size() > max_id_length) {
        return false;
    }
    for (char c : id) {
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

Code2SessionResult bad(const char *reason)
{
    Code2SessionResult r;
    r.kind = Code2SessionResult::Kind::bad_response;
    r.reason = reason;
    return r;
}

}  // namespace

std::string code2session_args(std::string_view appid, std::string_view secret,
                              std::string_view code)
{
    std::string args = "appid=";
    args += url_encode_component(appid);
    args += "&secret=";
    args += url_encode_component(secret);
    args += "&js_code=";
    args += url_encode_component(code);
    args += "&grant_type=authorization_code";
    return args;
}

Code2SessionResult parse_code2session(std::string_view body)
{
    if (body.empty()) {
        return bad("empty body");
    }
    if (body.size() > max_code2session_body) {
        return bad("body too large");
    }
    JsonRefusal why = JsonRefusal::none;
    JsonPtr root = parse_json(body, &why);
    if (!root) {
        return bad(why == JsonRefusal::nul ? "NUL character in the answer" : "not json");
    }
    if (!cJSON_IsObject(root.get())) {
        return bad("not a json object");
    }

    const cJSON *errcode = cJSON_GetObjectItemCaseSensitive(root.get(), "errcode");
    if (errcode) {
        long code = 0;
        if (!read_errcode(errcode, code)) {
            return bad("malformed errcode");
        }
        if (code != 0) {
            Code2SessionResult r;
            r.kind = Code2SessionResult::Kind::wx_error;
            r.errcode = code;
            return r;
        }
    }

    const cJSON *openid = cJSON_GetObjectItemCaseSensitive(root.get(), "openid");
    const cJSON *session_key = cJSON_GetObjectItemCaseSensitive(root.get(), "session_key");
    const cJSON *unionid = cJSON_GetObjectItemCaseSensitive(root.get(), "unionid");
    if (!openid) {
        return bad("missing openid");
    }
    if (!cJSON_IsString(openid) || !valid_id(openid->valuestring)) {
        return bad("malformed openid");
    }
    if (!session_key) {
        return bad("missing session_key");
    }
    std::string key_bytes;
    if (!cJSON_IsString(session_key) || !base64_decode(session_key->valuestring, key_bytes) ||
        key_bytes.size() != 16) {
        return bad("malformed session_key");
    }
    if (unionid && (!cJSON_IsString(unionid) || !valid_id(unionid->valuestring))) {
        return bad("malformed unionid");
    }

    Code2SessionResult r;
    r.kind = Code2SessionResult::Kind::ok;
    r.openid = openid->valuestring;
    r.session_key = session_key->valuestring;
    if (unionid) {
        r.unionid = unionid->valuestring;
    }
    return r;
}

Error map_wx_errcode(long errcode) noexcept
{
    switch (errcode) {
    case 40029:
    case 40163:
        return Error::invalid_code;
    case 40226:
        return Error::user_blocked;
    case 45011:
        return Error::rate_limited;
    default:
        return Error::wechat_unavailable;
    }
}

bool wx_errcode_is_misconfiguration(long errcode) noexcept
{
    return errcode == 40013 || errcode == 40125;
}

}  // namespace wxauth
