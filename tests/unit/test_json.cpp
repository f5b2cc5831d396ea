#include <string>

#include <gtest/gtest.h>

#include "json.h"

using namespace wxauth;

TEST(Json, NulDetection)
{
    EXPECT_FALSE(json_has_nul(""));
    EXPECT_FALSE(json_has_nul(R"({"a":"b"})"));
    EXPECT_TRUE(json_has_nul(R"({"a":"b\u0000"})"));
    EXPECT_TRUE(json_has_nul(R"({"a\u0000":"b"})"));
    EXPECT_TRUE(json_has_nul(R"(["\u0000"])"));
    EXPECT_TRUE(json_has_nul(R"({"a":"x\"\u0000"})"));     // after an escaped quote
    EXPECT_TRUE(json_has_nul(R"({"a":"\\\u0000"})"));      // after an escaped backslash
    EXPECT_FALSE(json_has_nul(R"({"a":"\\u0000"})"));      // a backslash, then text
    EXPECT_TRUE(json_has_nul(R"({"a":"\u00000"})"));       // \u0000 then the digit 0
    EXPECT_FALSE(json_has_nul(R"({"a":"\u0001\u0100\u1000"})"));
    EXPECT_FALSE(json_has_nul(R"({"a":"u0000"})"));
    EXPECT_TRUE(json_has_nul(R"({"a":1} "\u0000)"));   // inside a (broken) string
    EXPECT_TRUE(json_has_nul(std::string("{\"a\":\"b\"}\0", 10)));   // a raw NUL anywhere
    EXPECT_TRUE(json_has_nul(std::string("{\"a\":\"b\0c\"}", 11)));
    EXPECT_FALSE(json_has_nul(R"({"a":"\)"));   // a lone backslash at the end: no overrun
    EXPECT_FALSE(json_has_nul(R"({"a":"\u00)"));
}

TEST(Json, ParseRefusals)
{
    JsonRefusal why = JsonRefusal::syntax;
    EXPECT_TRUE(parse_json(R"({"a":"\u0041"})", &why));
    EXPECT_EQ(why, JsonRefusal::none);

    EXPECT_FALSE(parse_json(R"({"a":"b\u0000c"})", &why));
    EXPECT_EQ(why, JsonRefusal::nul);

    EXPECT_FALSE(parse_json(R"({"a":1} x)", &why));
    EXPECT_EQ(why, JsonRefusal::syntax);

    EXPECT_FALSE(parse_json_object("[1]", &why));
    EXPECT_EQ(why, JsonRefusal::syntax);

    EXPECT_FALSE(parse_json_object(R"(["\u0000"])", &why));
    EXPECT_EQ(why, JsonRefusal::nul);

    EXPECT_TRUE(parse_json_object(R"({"a":"\\u0000"})", &why));
    EXPECT_EQ(why, JsonRefusal::none);
    EXPECT_TRUE(parse_json("1"));
}
