// cJSON ownership and strict whole-text parsing, shared by the core's readers.
#pragma once

#include <memory>
#include <string_view>

#include <cjson/cJSON.h>

namespace wxauth {

struct JsonDeleter {
    void operator()(cJSON *j) const noexcept { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

// The whole text as one JSON value (no trailing garbage, no NUL bytes), or null.
JsonPtr parse_json(std::string_view text);

// As parse_json, but null unless the value is an object.
JsonPtr parse_json_object(std::string_view text);

}  // namespace wxauth
