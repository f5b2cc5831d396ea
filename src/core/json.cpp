#include "json.h"

#include <string>

namespace wxauth {

JsonPtr parse_json(std::string_view text)
{
    if (text.find('\0') != std::string_view::npos) {
        return nullptr;
    }
    std::string buf(text);
    return JsonPtr(cJSON_ParseWithLengthOpts(buf.c_str(), buf.size() + 1, nullptr, 1));
}

JsonPtr parse_json_object(std::string_view text)
{
    JsonPtr root = parse_json(text);
    if (!cJSON_IsObject(root.get())) {
        return nullptr;
    }
    return root;
}

}  // namespace wxauth
