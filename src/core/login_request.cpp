#include "login_request.h"

#include <memory>

#include <cjson/cJSON.h>

#include "json.h"

#include "encoding.h"

namespace wxauth {

namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

// The media type of a Content-Type value ("type/subtype", parameters and blanks removed),
// compared case-insensitively with `expected`.
bool media_type_is(std::string_view content_type, std::string_view expected) noexcept
{
    std::string_view t = content_type.substr(0, content_type.find(';'));
    while (!t.empty() && is_space(t.front())) t.remove_prefix(1);
    while (!t.empty() && is_space(t.back())) t.remove_suffix(1);
    if (t.size() != expected.size()) {
        return false;
    }
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (lower(t[i]) != expected[i]) {
            return false;
        }
    }
    return true;
}

bool looks_like_json(std::string_view body) noexcept
{
    for (char c : body) {
        if (!is_space(c)) {
            return c == '{';
        }
    }
    return false;
}

LoginParse parse_json_code(std::string_view body, std::string &code)
{
    bool found = false;
    if (!json_string_field(body, "code", code, found)) {
        return LoginParse::bad_body;
    }
    return found ? LoginParse::ok : LoginParse::missing_code;
}

// First `code` field of an x-www-form-urlencoded body.
LoginParse parse_form_code(std::string_view body, std::string &code)
{
    std::string name;
    while (!body.empty()) {
        std::size_t amp = body.find('&');
        std::string_view pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);

        std::size_t eq = pair.find('=');
        std::string_view raw_name = pair.substr(0, eq);
        std::string_view raw_value =
            eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        if (!form_decode_component(raw_name, name)) {
            return LoginParse::bad_body;
        }
        if (name == "code") {
            return form_decode_component(raw_value, code) ? LoginParse::ok : LoginParse::bad_body;
        }
    }
    return LoginParse::missing_code;
}

bool code_well_formed(std::string_view code) noexcept
{
    if (code.empty() || code.size() > max_code_length) {
        return false;
    }
    for (char c : code) {
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

}  // namespace

LoginParse parse_login_code(std::string_view content_type, std::string_view body,
                            std::string &code)
{
    bool json;
    if (media_type_is(content_type, "application/json")) {
        json = true;
    } else if (media_type_is(content_type, "application/x-www-form-urlencoded")) {
        // `curl -d '{"code":..}'` labels JSON as a form: a form never starts with '{'
        json = looks_like_json(body);
    } else {
        json = looks_like_json(body);
    }

    std::string value;
    LoginParse r = json ? parse_json_code(body, value) : parse_form_code(body, value);
    if (r != LoginParse::ok) {
        return r;
    }
    if (!code_well_formed(value)) {
        return LoginParse::bad_code;
    }
    code = std::move(value);
    return LoginParse::ok;
}

bool json_string_field(std::string_view body, std::string_view name, std::string &value,
                       bool &found)
{
    found = false;
    JsonPtr root = parse_json_object(body);
    if (!root) {
        return false;
    }
    std::string key(name);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root.get(), key.c_str());
    if (cJSON_IsString(item)) {
        value = item->valuestring;
        found = true;
    }
    return true;
}

}  // namespace wxauth
