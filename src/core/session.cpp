#include "session.h"

#include <cmath>
#include <memory>
#include <new>

#include <cjson/cJSON.h>

#include "encoding.h"
#include "json.h"

namespace wxauth {

namespace {

bool read_string(const cJSON *obj, const char *name, std::string &out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(item)) {
        return false;
    }
    out = item->valuestring;
    return true;
}

// A whole number field, 0 when absent or not a finite number.
std::int64_t read_int(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsNumber(item) && std::isfinite(item->valuedouble) &&
        std::fabs(item->valuedouble) < 9e15) {
        return std::int64_t(item->valuedouble);
    }
    return 0;
}

}  // namespace

// Written directly rather than through cJSON, whose numbers go through sprintf("%1.15g") and a
// sscanf() back (a tenth of a login's own CPU went to building this record). The same text as
// cJSON_PrintUnformatted gave: the fields in this order, no spaces, whole numbers.
std::string encode_session(const SessionRecord &rec)
{
    std::string out;
    out.reserve(96 + rec.openid.size() + rec.session_key.size() + rec.unionid.size()
                + rec.appid.size());
    auto add_string = [&out](const char *name, const std::string &value) {
        out += ",\"";
        out += name;
        out += "\":\"";
        out += json_escape(value);
        out += '"';
    };
    auto add_number = [&out](const char *name, std::int64_t value) {
        out += ",\"";
        out += name;
        out += "\":";
        out += std::to_string(value);
    };
    out += "{\"v\":1";
    add_string("openid", rec.openid);
    add_string("session_key", rec.session_key);
    if (!rec.unionid.empty()) {
        add_string("unionid", rec.unionid);
    }
    add_string("appid", rec.appid);
    add_number("iat", rec.issued_at);
    if (rec.ttl > 0) {
        add_number("ttl", rec.ttl);
    }
    if (rec.renew) {
        add_number("rn", 1);
    }
    if (rec.max_until > 0) {
        add_number("mx", rec.max_until);
    }
    out += '}';
    return out;
}

bool decode_session(std::string_view text, SessionRecord &rec)
{
    JsonPtr root = parse_json_object(text);
    if (!root) {
        return false;
    }
    SessionRecord r;
    if (!read_string(root.get(), "openid", r.openid) ||
        !read_string(root.get(), "session_key", r.session_key) ||
        !read_string(root.get(), "appid", r.appid)) {
        return false;
    }
    const cJSON *unionid = cJSON_GetObjectItemCaseSensitive(root.get(), "unionid");
    if (unionid) {
        if (!cJSON_IsString(unionid)) {
            return false;
        }
        r.unionid = unionid->valuestring;
    }
    r.issued_at = read_int(root.get(), "iat");
    r.ttl = read_int(root.get(), "ttl");
    r.renew = read_int(root.get(), "rn") == 1;
    r.max_until = read_int(root.get(), "mx");
    if (r.ttl < 0 || r.max_until < 0) {
        return false;
    }
    rec = std::move(r);
    return true;
}

std::int64_t initial_expiry(const SessionRecord &rec, std::int64_t now)
{
    std::int64_t expiry = rec.ttl;
    if (rec.max_until > 0 && rec.max_until - now < expiry) {
        expiry = rec.max_until - now;
    }
    return expiry < 1 ? 1 : expiry;
}

std::int64_t renewal_expiry(const SessionRecord &rec, std::int64_t remaining_ms, std::int64_t now)
{
    if (!rec.renew || rec.ttl <= 0 || remaining_ms < 0) {
        return 0;
    }
    if (remaining_ms >= rec.ttl * 1000 / 2) {
        return 0;  // not yet past half its lifetime
    }
    std::int64_t expiry = rec.ttl;
    if (rec.max_until > 0 && rec.max_until - now < expiry) {
        expiry = rec.max_until - now;
    }
    if (expiry * 1000 <= remaining_ms) {
        return 0;  // the absolute limit is reached: let it run out
    }
    return expiry;
}

}  // namespace wxauth
