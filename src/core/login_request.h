// Reading the `code` from a login request body (JSON as wx.request sends it, or a form).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wxauth {

constexpr std::size_t max_code_length = 128;

enum class LoginParse {
    ok,
    bad_body,      // not parsable as the declared (or sniffed) format
    missing_code,  // no code field, or not a string
    bad_code,      // empty, longer than max_code_length, or with bytes outside 0x21..0x7e
};

// content_type: the request's Content-Type value (may be empty).
//   application/json (any parameters)            -> JSON object {"code":"..."}
//   application/x-www-form-urlencoded            -> form, field `code` (JSON if the first
//                                                    non-space byte is '{', as curl -d sends)
//   empty or anything else                        -> JSON if the first non-space byte is '{',
//                                                    form otherwise
LoginParse parse_login_code(std::string_view content_type, std::string_view body,
                            std::string &code);

// Reads one string field `name` from a JSON object body. Returns false if the body is not a JSON
// object; `found` tells whether the field was present as a string.
bool json_string_field(std::string_view body, std::string_view name, std::string &value,
                       bool &found);

}  // namespace wxauth
