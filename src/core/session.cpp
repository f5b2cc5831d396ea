#include "session.h"

#include <cmath>
#include <memory>
#include <new>

#include <cjson/cJSON.h>

#include "json.h"

namespace wxauth {

namespace {

void add_string(cJSON *obj, const char *name, const std::string &value)
{
    if (!cJSON_AddStringToObject(obj, name, value.c_str())) {
        throw std::bad_alloc();
    }
}

void add_number(cJSON *obj, const char *name, double value)
{
    if (!cJSON_AddNumberToObject(obj, name, value)) {
        throw std::bad_alloc();
    }
}

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

std::string encode_session(const SessionRecord &rec)
{
    JsonPtr obj(cJSON_CreateObject());
    if (!obj) {
        throw std::bad_alloc();
    }
    add_number(obj.get(), "v", 1);
    add_string(obj.get(), "openid", rec.openid);
    add_string(obj.get(), "session_key", rec.session_key);
    if (!rec.unionid.empty()) {
        add_string(obj.get(), "unionid", rec.unionid);
    }
    add_string(obj.get(), "appid", rec.appid);
    add_number(obj.get(), "iat", double(rec.issued_at));
    if (rec.ttl > 0) {
        add_number(obj.get(), "ttl", double(rec.ttl));
    }
    if (rec.renew) {
        add_number(obj.get(), "rn", 1);
    }
    if (rec.max_until > 0) {
        add_number(obj.get(), "mx", double(rec.max_until));
    }

    std::unique_ptr<char, decltype(&cJSON_free)> text(cJSON_PrintUnformatted(obj.get()),
                                                      &cJSON_free);
    if (!text) {
        throw std::bad_alloc();
    }
    return std::string(text.get());
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
