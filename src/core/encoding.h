// Byte encodings: base64 (standard and url-safe), hex, URL/form percent-encoding, JSON escaping.
#pragma once

#include <string>
#include <string_view>

namespace wxauth {

std::string base64_encode(std::string_view bytes);            // standard alphabet, '=' padded
std::string base64url_encode_nopad(std::string_view bytes);   // '-' '_' alphabet, no padding
// Strict standard-alphabet decoding: length a multiple of 4, padding only at the end,
// unused trailing bits zero. Returns false (out untouched or cleared) on any error.
bool base64_decode(std::string_view text, std::string &out);

std::string hex_lower(std::string_view bytes);

// RFC 3986 percent-encoding of one query component: everything except ALPHA DIGIT - . _ ~
std::string url_encode_component(std::string_view value);
// application/x-www-form-urlencoded decoding of one value: '+' -> ' ', %XX -> byte.
// Returns false on a malformed escape.
bool form_decode_component(std::string_view value, std::string &out);

// Escapes a string for inclusion between double quotes in JSON (no quotes added).
std::string json_escape(std::string_view s);

}  // namespace wxauth
