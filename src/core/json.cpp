#include "json.h"

#include <string>

namespace wxauth {

bool json_has_nul(std::string_view text) noexcept
{
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\0') {
            return true;
        }
        if (!in_string) {
            in_string = c == '"';
            continue;
        }
        if (c == '"') {
            in_string = false;
        } else if (c == '\\' && i + 1 < text.size()) {
            // \u0000 (hex digits in any case); any other escape is skipped whole
            if (text[i + 1] == 'u' && text.substr(i + 2, 4) == "0000") {
                return true;
            }
            ++i;
        }
    }
    return false;
}

JsonPtr parse_json(std::string_view text, JsonRefusal *why)
{
    JsonRefusal refusal = JsonRefusal::none;
    JsonPtr root;

    if (json_has_nul(text)) {
        refusal = JsonRefusal::nul;
    } else {
        std::string buf(text);
        root.reset(cJSON_ParseWithLengthOpts(buf.c_str(), buf.size() + 1, nullptr, 1));
        if (!root) {
            refusal = JsonRefusal::syntax;
        }
    }
    if (why) {
        *why = refusal;
    }
    return root;
}

JsonPtr parse_json_object(std::string_view text, JsonRefusal *why)
{
    JsonPtr root = parse_json(text, why);
    if (root && !cJSON_IsObject(root.get())) {
        if (why) {
            *why = JsonRefusal::syntax;
        }
        return nullptr;
    }
    return root;
}

}  // namespace wxauth
