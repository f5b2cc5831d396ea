#include "session.h"

#include <cmath>
#include <memory>
#include <new>

#include <cjson/cJSON.h>

namespace wxauth {

namespace {

struct JsonDeleter {
    void operator()(cJSON *j) const noexcept { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

// The whole text as one JSON object (no trailing garbage, no NUL bytes), or null.
JsonPtr parse_json_object(std::string_view text)
{
    if (text.find('\0') != std::string_view::npos) {
        return nullptr;
    }
    std::string buf(text);
    JsonPtr root(cJSON_ParseWithLengthOpts(buf.c_str(), buf.size() + 1, nullptr, 1));
    if (!cJSON_IsObject(root.get())) {
        return nullptr;
    }
    return root;
}

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
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(root.get(), "iat");
    if (cJSON_IsNumber(iat) && std::isfinite(iat->valuedouble) &&
        std::fabs(iat->valuedouble) < 9e15) {
        r.issued_at = std::int64_t(iat->valuedouble);
    }
    rec = std::move(r);
    return true;
}

}  // namespace wxauth
