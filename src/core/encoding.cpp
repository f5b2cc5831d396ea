#include "encoding.h"

#include <cstdint>

namespace wxauth {

namespace {

constexpr char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char hex_digits[] = "0123456789abcdef";

std::string encode64(std::string_view bytes, const char *alphabet, bool pad)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16 |
                          std::uint32_t(std::uint8_t(bytes[i + 1])) << 8 |
                          std::uint8_t(bytes[i + 2]);
        out += alphabet[n >> 18 & 63];
        out += alphabet[n >> 12 & 63];
        out += alphabet[n >> 6 & 63];
        out += alphabet[n & 63];
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 0) {
        return out;
    }
    std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) {
        n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    }
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    if (rest == 2) {
        out += alphabet[n >> 6 & 63];
    }
    if (pad) {
        out.append(3 - rest, '=');
    }
    return out;
}

// Value of a standard-alphabet base64 digit, or -1.
int b64_value(char c) noexcept
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode64(bytes, std_alphabet, true); }

std::string base64url_encode_nopad(std::string_view bytes)
{
    return encode64(bytes, url_alphabet, false);
}

bool base64_decode(std::string_view text, std::string &out)
{
    out.clear();
    if (text.size() % 4 != 0) {
        return false;
    }
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') {
        pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    }
    std::string result;
    result.reserve(text.size() / 4 * 3);
    std::uint32_t acc = 0;
    std::size_t digits = text.size() - pad;
    for (std::size_t i = 0; i < digits; ++i) {
        int v = b64_value(text[i]);
        if (v < 0) {
            return false;  // includes '=' before the final padding
        }
        acc = acc << 6 | std::uint32_t(v);
        if (i % 4 == 3) {
            result += char(acc >> 16 & 0xff);
            result += char(acc >> 8 & 0xff);
            result += char(acc & 0xff);
            acc = 0;
        }
    }
    if (pad == 2) {  // two digits left: 12 bits, 8 used
        if ((acc & 0x0f) != 0) {
            return false;
        }
        result += char(acc >> 4 & 0xff);
    } else if (pad == 1) {  // three digits left: 18 bits, 16 used
        if ((acc & 0x03) != 0) {
            return false;
        }
        result += char(acc >> 10 & 0xff);
        result += char(acc >> 2 & 0xff);
    }
    out = std::move(result);
    return true;
}

std::string hex_lower(std::string_view bytes)
{
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        auto b = std::uint8_t(c);
        out += hex_digits[b >> 4];
        out += hex_digits[b & 15];
    }
    return out;
}

std::string url_encode_component(std::string_view value)
{
    static constexpr char upper_hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        auto b = std::uint8_t(c);
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += c;
        } else {
            out += '%';
            out += upper_hex[b >> 4];
            out += upper_hex[b & 15];
        }
    }
    return out;
}

bool form_decode_component(std::string_view value, std::string &out)
{
    out.clear();
    std::string result;
    result.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (c == '+') {
            result += ' ';
        } else if (c == '%') {
            if (i + 2 >= value.size()) {
                return false;
            }
            int hi = hex_value(value[i + 1]);
            int lo = hex_value(value[i + 2]);
            if (hi < 0 || lo < 0) {
                return false;
            }
            result += char(hi << 4 | lo);
            i += 2;
        } else {
            result += c;
        }
    }
    out = std::move(result);
    return true;
}

std::string json_escape(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        auto b = std::uint8_t(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (b < 0x20 || b == 0x7f) {
                out += "\\u00";
                out += hex_digits[b >> 4];
                out += hex_digits[b & 15];
            } else {
                out += c;
            }
        }
    }
    return out;
}

}  // namespace wxauth
