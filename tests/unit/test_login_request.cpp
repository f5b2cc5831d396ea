#include <string>

#include <gtest/gtest.h>

#include "login_request.h"

using namespace wxauth;

namespace {

LoginParse parse(const std::string &ct, const std::string &body, std::string *code = nullptr)
{
    std::string c = "untouched";
    LoginParse r = parse_login_code(ct, body, c);
    if (code) {
        *code = c;
    }
    if (r != LoginParse::ok) {
        EXPECT_EQ(c, "untouched") << body;
    }
    return r;
}

}  // namespace

TEST(LoginRequest, JsonBody)
{
    std::string code;
    EXPECT_EQ(parse("application/json", R"({"code":"081aBcDe"})", &code), LoginParse::ok);
    EXPECT_EQ(code, "081aBcDe");
    EXPECT_EQ(parse("application/json; charset=utf-8", R"( {"other":1, "code" : "x1"} )", &code),
              LoginParse::ok);
    EXPECT_EQ(code, "x1");
    EXPECT_EQ(parse("Application/JSON;charset=UTF-8", R"({"code":"x2"})", &code), LoginParse::ok);
    EXPECT_EQ(code, "x2");
    EXPECT_EQ(parse(" application/json ", R"({"code":"x3"})", &code), LoginParse::ok);
    EXPECT_EQ(code, "x3");
    EXPECT_EQ(parse("application/json", R"({"code":"a\/b\u0041"})", &code), LoginParse::ok);
    EXPECT_EQ(code, "a/bA");
}

TEST(LoginRequest, JsonErrors)
{
    EXPECT_EQ(parse("application/json", ""), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", "code=abc"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", R"({"code":"abc")"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", R"({"code":"abc"}})"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", R"(["code","abc"])"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", R"("abc")"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", std::string("{\"code\":\"abc\"}\0", 15)),
              LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", R"({"code":abc})"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", "{}"), LoginParse::missing_code);
    EXPECT_EQ(parse("application/json", R"({"Code":"abc"})"), LoginParse::missing_code);
    EXPECT_EQ(parse("application/json", R"({"code":123})"), LoginParse::missing_code);
    EXPECT_EQ(parse("application/json", R"({"code":null})"), LoginParse::missing_code);
    EXPECT_EQ(parse("application/json", R"({"code":["abc"]})"), LoginParse::missing_code);
    EXPECT_EQ(parse("application/json", R"({"code":""})"), LoginParse::bad_code);
}

TEST(LoginRequest, FormBody)
{
    std::string code;
    EXPECT_EQ(parse("application/x-www-form-urlencoded", "code=081aBc", &code), LoginParse::ok);
    EXPECT_EQ(code, "081aBc");
    EXPECT_EQ(parse("application/x-www-form-urlencoded; charset=utf-8", "a=1&code=x%2By&b=2", &code),
              LoginParse::ok);
    EXPECT_EQ(code, "x+y");
    EXPECT_EQ(parse("application/x-www-form-urlencoded", "co%64e=z9&code=second", &code),
              LoginParse::ok);
    EXPECT_EQ(code, "z9");  // first occurrence wins, names are decoded
    EXPECT_EQ(parse("application/x-www-form-urlencoded", "&&code=q&", &code), LoginParse::ok);
    EXPECT_EQ(code, "q");
    // A JSON body labelled as a form (what `curl -d` sends) is read as JSON.
    EXPECT_EQ(parse("application/x-www-form-urlencoded", R"( {"code":"abc"})", &code),
              LoginParse::ok);
    EXPECT_EQ(code, "abc");
    EXPECT_EQ(parse("application/x-www-form-urlencoded", R"({"code":)"), LoginParse::bad_body);
}

TEST(LoginRequest, FormErrors)
{
    const std::string form = "application/x-www-form-urlencoded";
    EXPECT_EQ(parse(form, ""), LoginParse::missing_code);
    EXPECT_EQ(parse(form, "a=1&b=2"), LoginParse::missing_code);
    EXPECT_EQ(parse(form, "codes=abc"), LoginParse::missing_code);
    EXPECT_EQ(parse(form, "code"), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code="), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code=a+b"), LoginParse::bad_code);  // decodes to a space
    EXPECT_EQ(parse(form, "code=a%zz"), LoginParse::bad_body);
    EXPECT_EQ(parse(form, "code=abc%"), LoginParse::bad_body);
    EXPECT_EQ(parse(form, "x%g1=1&code=abc"), LoginParse::bad_body);
}

TEST(LoginRequest, Sniffing)
{
    std::string code;
    EXPECT_EQ(parse("", R"({"code":"j1"})", &code), LoginParse::ok);
    EXPECT_EQ(code, "j1");
    EXPECT_EQ(parse("", " \r\n\t{\"code\":\"j2\"}", &code), LoginParse::ok);
    EXPECT_EQ(code, "j2");
    EXPECT_EQ(parse("text/plain", R"({"code":"j3"})", &code), LoginParse::ok);
    EXPECT_EQ(code, "j3");
    EXPECT_EQ(parse("", "code=f1", &code), LoginParse::ok);
    EXPECT_EQ(code, "f1");
    EXPECT_EQ(parse("text/plain", "code=f2", &code), LoginParse::ok);
    EXPECT_EQ(code, "f2");
    EXPECT_EQ(parse("application/jsonx", "code=f3", &code), LoginParse::ok);  // not json
    EXPECT_EQ(code, "f3");
    EXPECT_EQ(parse("", "{bad json"), LoginParse::bad_body);
    EXPECT_EQ(parse("", ""), LoginParse::missing_code);
    EXPECT_EQ(parse("", "   "), LoginParse::missing_code);
}

TEST(LoginRequest, LengthLimit)
{
    std::string code;
    std::string c128(max_code_length, 'a');
    ASSERT_EQ(c128.size(), 128u);
    EXPECT_EQ(parse("application/json", R"({"code":")" + c128 + "\"}", &code), LoginParse::ok);
    EXPECT_EQ(code, c128);
    EXPECT_EQ(parse("application/x-www-form-urlencoded", "code=" + c128, &code), LoginParse::ok);
    EXPECT_EQ(code, c128);
    EXPECT_EQ(parse("application/json", R"({"code":")" + c128 + "a\"}"), LoginParse::bad_code);
    EXPECT_EQ(parse("application/x-www-form-urlencoded", "code=" + c128 + "a"), LoginParse::bad_code);
}

TEST(LoginRequest, ControlAndNonAsciiBytes)
{
    const std::string json = "application/json";
    const std::string form = "application/x-www-form-urlencoded";
    EXPECT_EQ(parse(json, R"({"code":"ab\ncd"})"), LoginParse::bad_code);
    EXPECT_EQ(parse(json, R"({"code":"ab\tcd"})"), LoginParse::bad_code);
    EXPECT_EQ(parse(json, R"({"code":"ab cd"})"), LoginParse::bad_code);
    EXPECT_EQ(parse(json, R"({"code":"ab\u007fcd"})"), LoginParse::bad_code);
    EXPECT_EQ(parse(json, R"({"code":"ab\u00e9cd"})"), LoginParse::bad_code);
    EXPECT_EQ(parse(json, "{\"code\":\"\xe5\xbe\xae\"}"), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code=ab%0Acd"), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code=ab%0D%0AX-Evil:%201"), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code=ab%00cd"), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code=ab%7Fcd"), LoginParse::bad_code);
    EXPECT_EQ(parse(form, "code=ab%FFcd"), LoginParse::bad_code);
    std::string code;
    EXPECT_EQ(parse(form, "code=%21~%7E", &code), LoginParse::ok);
    EXPECT_EQ(code, "!~~");
}

TEST(JsonStringField, Basics)
{
    std::string value = "keep";
    bool found = true;
    EXPECT_TRUE(json_string_field(R"({"encryptedData":"abc","iv":"x"})", "iv", value, found));
    EXPECT_TRUE(found);
    EXPECT_EQ(value, "x");
    EXPECT_TRUE(json_string_field(R"({"iv":5})", "iv", value, found));
    EXPECT_FALSE(found);
    EXPECT_TRUE(json_string_field(R"({})", "iv", value, found));
    EXPECT_FALSE(found);
    EXPECT_TRUE(json_string_field(R"({"IV":"x"})", "iv", value, found));
    EXPECT_FALSE(found);
    EXPECT_FALSE(json_string_field("[1]", "iv", value, found));
    EXPECT_FALSE(found);
    EXPECT_FALSE(json_string_field("", "iv", value, found));
    EXPECT_FALSE(json_string_field("{\"iv\":\"x\"", "iv", value, found));
    EXPECT_FALSE(json_string_field("{\"iv\":\"x\"} {}", "iv", value, found));
}

// cJSON keeps strings NUL-terminated: a \u0000 escape would cut the value short unnoticed
// ("abc\u0000junk" read as "abc"), so every client JSON holding one is refused.
TEST(LoginRequest, EscapedNulRefused)
{
    EXPECT_EQ(parse("application/json", R"({"code":"abc\u0000junk"})"), LoginParse::bad_body);
    EXPECT_EQ(parse("", R"({"code":"abc\u0000"})"), LoginParse::bad_body);
    EXPECT_EQ(parse("application/x-www-form-urlencoded", R"({"code":"\u0000abc"})"),
              LoginParse::bad_body);
    EXPECT_EQ(parse("application/json", R"({"code":"abc","x":"\u0000"})"), LoginParse::bad_body);
    std::string code;
    EXPECT_EQ(parse("application/json", R"({"code":"abc","x":"\\u0000"})", &code),
              LoginParse::ok);
    EXPECT_EQ(code, "abc");
}

TEST(JsonStringField, EscapedNulRefused)
{
    std::string value = "keep";
    bool found = true;
    EXPECT_FALSE(json_string_field(R"({"rawData":"{\"a\":1}\u0000junk","signature":"x"})",
                                   "rawData", value, found));
    EXPECT_FALSE(found);
    EXPECT_EQ(value, "keep");
    EXPECT_FALSE(json_string_field(R"({"encryptedData":"AAAA","iv":"r7BX\u0000junk"})", "iv",
                                   value, found));
    EXPECT_FALSE(json_string_field(R"({"iv\u0000x":"abc"})", "iv", value, found));
    EXPECT_TRUE(json_string_field(R"({"rawData":"a\\u0000b"})", "rawData", value, found));
    EXPECT_TRUE(found);
    EXPECT_EQ(value, "a\\u0000b");
}
