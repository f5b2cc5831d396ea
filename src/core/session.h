// The session record stored in Redis: JSON text, written directly and read directly when it
// has the plain shape this module writes, through cJSON otherwise.
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
    std::int64_t ttl = 0;         // lifetime in seconds given at login (0: unknown)
    bool renew = false;           // sliding expiry: renewed while in use
    std::int64_t max_until = 0;   // absolute end of life, unix seconds (0: none)
};

// {"v":1,"openid":..,"session_key":..,"unionid":..,"appid":..,"iat":N,"ttl":N,"rn":1,"mx":N};
// unionid omitted when empty, ttl/rn/mx omitted when zero/false.
std::string encode_session(const SessionRecord &rec);

// Accepts what encode_session writes (unknown fields ignored). Returns false when the text is
// not a JSON object, or openid, session_key or appid are missing or not strings.
// A record of the plain shape (one flat object of strings without escapes and whole numbers of
// at most 15 digits, the first of duplicate names counting) is read without cJSON; any other
// text goes to cJSON (parse_json's rules), and both give the same answer for every text.
bool decode_session(std::string_view text, SessionRecord &rec);

namespace detail {
// The two readers behind decode_session, for the tests that hold them to the same answers.
// decode_session_plain: the answer, or nothing when the text is not of the plain shape.
enum class PlainDecode { accepted, refused, not_plain };
PlainDecode decode_session_plain(std::string_view text, SessionRecord &rec);
bool decode_session_cjson(std::string_view text, SessionRecord &rec);
}  // namespace detail

// The Redis expiry (seconds) a session gets when it is stored at login: its ttl, cut short by
// max_until when that comes first. At least 1.
std::int64_t initial_expiry(const SessionRecord &rec, std::int64_t now);

// Sliding expiry. Given the key's remaining lifetime in milliseconds (Redis PTTL: -1 no expiry,
// -2 no key), returns the expiry in seconds to set now, or 0 when no write is due. A write is
// due only for a renewing session whose remaining lifetime fell below half its ttl, so a session
// in use costs at most one write per half lifetime; max_until is never exceeded and an expiry is
// never shortened.
std::int64_t renewal_expiry(const SessionRecord &rec, std::int64_t remaining_ms, std::int64_t now);

}  // namespace wxauth
