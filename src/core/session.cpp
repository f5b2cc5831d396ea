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

namespace detail {

namespace {

bool is_json_space(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// One field of a plain record: its value a string without escapes, or a whole number.
struct PlainValue {
    bool present = false;
    bool is_string = false;
    std::string_view text;
    std::int64_t number = 0;
};

}  // namespace

PlainDecode decode_session_plain(std::string_view t, SessionRecord &rec)
{
    PlainValue openid, session_key, unionid, appid, iat, ttl, rn, mx;
    std::size_t i = 0;
    const std::size_t n = t.size();

    auto skip_space = [&] {
        while (i < n && is_json_space(t[i])) {
            ++i;
        }
    };
    // a string without escapes or control characters; false for anything else
    auto plain_string = [&](std::string_view &out) {
        if (i >= n || t[i] != '"') {
            return false;
        }
        std::size_t start = ++i;
        while (i < n && t[i] != '"') {
            auto b = static_cast<unsigned char>(t[i]);
            if (b < 0x20 || b == 0x7f || t[i] == '\\') {
                return false;
            }
            ++i;
        }
        if (i >= n) {
            return false;
        }
        out = t.substr(start, i - start);
        ++i;
        return true;
    };

    skip_space();
    if (i >= n || t[i] != '{') {
        return PlainDecode::not_plain;
    }
    ++i;
    for (;;) {
        std::string_view key;
        skip_space();
        if (!plain_string(key)) {
            return PlainDecode::not_plain;   // "{}" and "{,}" included: cJSON decides
        }
        skip_space();
        if (i >= n || t[i] != ':') {
            return PlainDecode::not_plain;
        }
        ++i;
        skip_space();

        PlainValue v;
        v.present = true;
        if (i < n && t[i] == '"') {
            if (!plain_string(v.text)) {
                return PlainDecode::not_plain;
            }
            v.is_string = true;
        } else if (i < n && (t[i] == '-' || (t[i] >= '0' && t[i] <= '9'))) {
            bool negative = t[i] == '-';
            if (negative) {
                ++i;
            }
            std::size_t start = i;
            while (i < n && t[i] >= '0' && t[i] <= '9') {
                v.number = v.number * 10 + (t[i] - '0');
                ++i;
                if (i - start > 15) {
                    return PlainDecode::not_plain;
                }
            }
            std::size_t digits = i - start;
            if (digits == 0 || (digits > 1 && t[start] == '0')
                || (i < n && (t[i] == '.' || t[i] == 'e' || t[i] == 'E'))) {
                return PlainDecode::not_plain;
            }
            if (negative) {
                v.number = -v.number;
            }
        } else {
            return PlainDecode::not_plain;   // true, false, null, objects, arrays
        }

        // the first of duplicate names counts, as cJSON_GetObjectItemCaseSensitive finds it
        PlainValue *field = key == "openid"        ? &openid
                          : key == "session_key"   ? &session_key
                          : key == "unionid"       ? &unionid
                          : key == "appid"         ? &appid
                          : key == "iat"           ? &iat
                          : key == "ttl"           ? &ttl
                          : key == "rn"            ? &rn
                          : key == "mx"            ? &mx
                          : nullptr;
        if (field != nullptr && !field->present) {
            *field = v;
        }

        skip_space();
        if (i < n && t[i] == ',') {
            ++i;
            continue;
        }
        if (i < n && t[i] == '}') {
            ++i;
            break;
        }
        return PlainDecode::not_plain;
    }
    skip_space();
    if (i != n) {
        return PlainDecode::not_plain;
    }

    // the same rules as the cJSON reading below
    if (!openid.is_string || !session_key.is_string || !appid.is_string
        || (unionid.present && !unionid.is_string)) {
        return PlainDecode::refused;
    }
    auto whole = [](const PlainValue &v) { return v.present && !v.is_string ? v.number : 0; };
    SessionRecord r;
    r.openid.assign(openid.text);
    r.session_key.assign(session_key.text);
    r.unionid.assign(unionid.text);
    r.appid.assign(appid.text);
    r.issued_at = whole(iat);
    r.ttl = whole(ttl);
    r.renew = whole(rn) == 1;
    r.max_until = whole(mx);
    if (r.ttl < 0 || r.max_until < 0) {
        return PlainDecode::refused;
    }
    rec = std::move(r);
    return PlainDecode::accepted;
}

bool decode_session_cjson(std::string_view text, SessionRecord &rec)
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

}  // namespace detail

bool decode_session(std::string_view text, SessionRecord &rec)
{
    switch (detail::decode_session_plain(text, rec)) {
    case detail::PlainDecode::accepted:
        return true;
    case detail::PlainDecode::refused:
        return false;
    case detail::PlainDecode::not_plain:
        break;
    }
    return detail::decode_session_cjson(text, rec);
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
