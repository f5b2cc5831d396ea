#include <string>

#include <gtest/gtest.h>

#include "encoding.h"

using namespace wxauth;

namespace {

std::string all_bytes()
{
    std::string s;
    for (int i = 0; i < 256; ++i) {
        s += char(i);
    }
    return s;
}

}  // namespace

TEST(Base64, EncodeRfc4648Vectors)
{
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
}

TEST(Base64, UrlNoPad)
{
    EXPECT_EQ(base64url_encode_nopad(""), "");
    EXPECT_EQ(base64url_encode_nopad("f"), "Zg");
    EXPECT_EQ(base64url_encode_nopad("fo"), "Zm8");
    EXPECT_EQ(base64url_encode_nopad("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode_nopad(std::string("\xfb\xff\xbf", 3)), "-_-_");
}

TEST(Base64, DecodeVectors)
{
    std::string out;
    EXPECT_TRUE(base64_decode("", out));
    EXPECT_EQ(out, "");
    EXPECT_TRUE(base64_decode("Zg==", out));
    EXPECT_EQ(out, "f");
    EXPECT_TRUE(base64_decode("Zm8=", out));
    EXPECT_EQ(out, "fo");
    EXPECT_TRUE(base64_decode("Zm9vYmFy", out));
    EXPECT_EQ(out, "foobar");
    EXPECT_TRUE(base64_decode("+/+/", out));
    EXPECT_EQ(out, std::string("\xfb\xff\xbf", 3));
}

TEST(Base64, RoundTripAllLengths)
{
    std::string bytes = all_bytes();
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
        std::string in = bytes.substr(bytes.size() - n);
        std::string out;
        ASSERT_TRUE(base64_decode(base64_encode(in), out)) << n;
        EXPECT_EQ(out, in);
    }
}

TEST(Base64, DecodeIsStrict)
{
    const char *bad[] = {
        "Zg",        // missing padding
        "Zg=",       // short padding
        "Zg===",     // too much padding
        "====",      // padding only
        "Z===",      // three padding characters
        "Zg==Zg==",  // padding in the middle
        "Z=g=",      // padding in the middle of a quantum
        "Zh==",      // unused trailing bits not zero
        "Zm9=",      // unused trailing bits not zero
        "Zm9v\n",    // whitespace
        "Zm 9v",     // space
        "Zm9-",      // url-safe alphabet
        "Zm9_",      // url-safe alphabet
        "Zm9v*A==",  // foreign character
    };
    for (const char *text : bad) {
        std::string out = "previous";
        EXPECT_FALSE(base64_decode(text, out)) << text;
        EXPECT_TRUE(out.empty() || out == "previous") << text;
    }
    std::string out;
    EXPECT_FALSE(base64_decode(std::string("Zg\0=", 4), out));
}

TEST(Hex, Lower)
{
    EXPECT_EQ(hex_lower(""), "");
    EXPECT_EQ(hex_lower(std::string("\x00\x01\xab\xff", 4)), "0001abff");
    EXPECT_EQ(hex_lower(all_bytes()).size(), 512u);
}

TEST(UrlEncode, Component)
{
    EXPECT_EQ(url_encode_component(""), "");
    EXPECT_EQ(url_encode_component("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(url_encode_component("a b+c&d=e/f?g#h%"), "a%20b%2Bc%26d%3De%2Ff%3Fg%23h%25");
    EXPECT_EQ(url_encode_component("\xe4\xbd\xa0"), "%E4%BD%A0");
    EXPECT_EQ(url_encode_component(std::string("\0\n", 2)), "%00%0A");
}

TEST(FormDecode, Basics)
{
    std::string out;
    EXPECT_TRUE(form_decode_component("", out));
    EXPECT_EQ(out, "");
    EXPECT_TRUE(form_decode_component("a+b%20c", out));
    EXPECT_EQ(out, "a b c");
    EXPECT_TRUE(form_decode_component("%2b%2B%e4%BD%a0", out));
    EXPECT_EQ(out, "++\xe4\xbd\xa0");
    EXPECT_TRUE(form_decode_component("%00", out));
    EXPECT_EQ(out, std::string(1, '\0'));
}

TEST(FormDecode, MalformedEscapes)
{
    for (const char *text : {"%", "%2", "a%", "a%g0", "%0g", "%%", "abc%2"}) {
        std::string out;
        EXPECT_FALSE(form_decode_component(text, out)) << text;
    }
}

TEST(FormDecode, RoundTripWithUrlEncode)
{
    std::string bytes = all_bytes();
    std::string out;
    ASSERT_TRUE(form_decode_component(url_encode_component(bytes), out));
    EXPECT_EQ(out, bytes);
    const char *samples[] = {"081aBc+/=", "a b&c", "\xe5\xbe\xae\xe4\xbf\xa1", "~!@#$%^&*()"};
    for (const char *s : samples) {
        ASSERT_TRUE(form_decode_component(url_encode_component(s), out));
        EXPECT_EQ(out, s);
    }
}

TEST(JsonEscape, Escapes)
{
    EXPECT_EQ(json_escape(""), "");
    EXPECT_EQ(json_escape("plain text"), "plain text");
    EXPECT_EQ(json_escape("\"\\"), "\\\"\\\\");
    EXPECT_EQ(json_escape("\b\f\n\r\t"), "\\b\\f\\n\\r\\t");
    EXPECT_EQ(json_escape(std::string("\x00\x01\x1f\x7f", 4)), "\\u0000\\u0001\\u001f\\u007f");
    EXPECT_EQ(json_escape("/"), "/");
    EXPECT_EQ(json_escape("\xe5\xbe\xae"), "\xe5\xbe\xae");  // UTF-8 passes through
}
