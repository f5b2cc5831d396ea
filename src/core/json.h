// cJSON ownership and strict whole-text parsing, shared by the core's readers.
//
// Every JSON text the module reads (login, signature and decryption bodies, WeChat's answers,
// session records from Redis) goes through parse_json: this is the one place that decides
// what the module accepts.
#pragma once

#include <memory>
#include <string_view>

#include <cjson/cJSON.h>

namespace wxauth {

struct JsonDeleter {
    void operator()(cJSON *j) const noexcept { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

enum class JsonRefusal {
    none,
    nul,      // a NUL byte, raw or escaped as \u0000 (cJSON would cut the string there)
    syntax,   // not one complete JSON value (trailing garbage included)
};

// True when the text holds a NUL byte or a \u0000 escape inside a string (an object key
// included). cJSON keeps strings NUL-terminated, so such a string would silently lose
// everything after the NUL: a signature checked against one text would vouch for another.
bool json_has_nul(std::string_view text) noexcept;

// The whole text as one JSON value (no trailing garbage, no NUL, raw or escaped), or null;
// `why` (when given) says which rule refused it.
JsonPtr parse_json(std::string_view text, JsonRefusal *why = nullptr);

// As parse_json, but null unless the value is an object.
JsonPtr parse_json_object(std::string_view text, JsonRefusal *why = nullptr);

}  // namespace wxauth
