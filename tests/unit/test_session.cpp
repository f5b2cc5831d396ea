#include <string>

#include <gtest/gtest.h>

#include "session.h"

using namespace wxauth;

namespace {

SessionRecord sample()
{
    SessionRecord r;
    r.openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
    r.session_key = "tiihtNczf5v6AKRyjwEUhQ==";
    r.unionid = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA";
    r.appid = "wx4f4bc4dec97d474b";
    r.issued_at = 1700000000;
    return r;
}

void expect_same(const SessionRecord &a, const SessionRecord &b)
{
    EXPECT_EQ(a.openid, b.openid);
    EXPECT_EQ(a.session_key, b.session_key);
    EXPECT_EQ(a.unionid, b.unionid);
    EXPECT_EQ(a.appid, b.appid);
    EXPECT_EQ(a.issued_at, b.issued_at);
}

}  // namespace

TEST(Session, EncodeExactText)
{
    EXPECT_EQ(encode_session(sample()),
              R"({"v":1,"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","appid":"wx4f4bc4dec97d474b","iat":1700000000})");
    SessionRecord r = sample();
    r.unionid.clear();
    EXPECT_EQ(encode_session(r),
              R"({"v":1,"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==","appid":"wx4f4bc4dec97d474b","iat":1700000000})");
}

TEST(Session, RoundTrip)
{
    SessionRecord in = sample();
    SessionRecord out;
    ASSERT_TRUE(decode_session(encode_session(in), out));
    expect_same(in, out);

    in.unionid.clear();
    out = SessionRecord();
    ASSERT_TRUE(decode_session(encode_session(in), out));
    expect_same(in, out);
}

TEST(Session, RoundTripOddValues)
{
    SessionRecord in = sample();
    in.openid = "quote\" backslash\\ newline\n tab\t \xe5\xbe\xae\xe4\xbf\xa1";
    in.appid = "wx/with/slashes";
    for (std::int64_t iat : {std::int64_t(0), std::int64_t(1), std::int64_t(2147483647),
                             std::int64_t(2147483648LL), std::int64_t(4102444800LL),
                             std::int64_t(1) << 52}) {
        in.issued_at = iat;
        SessionRecord out;
        ASSERT_TRUE(decode_session(encode_session(in), out)) << iat;
        expect_same(in, out);
    }
}

TEST(Session, UnknownFieldsIgnored)
{
    SessionRecord out;
    ASSERT_TRUE(decode_session(
        R"({"v":2,"openid":"o1","session_key":"k1","appid":"wx1","iat":5,"new_field":[1,{"x":2}]})",
        out));
    EXPECT_EQ(out.openid, "o1");
    EXPECT_EQ(out.session_key, "k1");
    EXPECT_EQ(out.appid, "wx1");
    EXPECT_EQ(out.unionid, "");
    EXPECT_EQ(out.issued_at, 5);
}

TEST(Session, Malformed)
{
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "null",
        "\"text\"",
        R"({"openid":"o1","session_key":"k1","appid":"wx1")",
        R"({"openid":"o1","session_key":"k1","appid":"wx1"} x)",
        R"({"session_key":"k1","appid":"wx1","iat":1})",
        R"({"openid":"o1","appid":"wx1","iat":1})",
        R"({"openid":"o1","session_key":"k1","iat":1})",
        R"({"openid":1,"session_key":"k1","appid":"wx1"})",
        R"({"openid":"o1","session_key":null,"appid":"wx1"})",
        R"({"openid":"o1","session_key":"k1","appid":["wx1"]})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","unionid":5})",
    };
    for (const char *text : bad) {
        SessionRecord out = sample();
        EXPECT_FALSE(decode_session(text, out)) << text;
        expect_same(out, sample());  // untouched on failure
    }
    SessionRecord out;
    std::string with_nul = encode_session(sample()) + std::string(1, '\0');
    EXPECT_FALSE(decode_session(with_nul, out));
}

TEST(Session, MissingIatIsZero)
{
    SessionRecord out;
    ASSERT_TRUE(decode_session(R"({"openid":"o1","session_key":"k1","appid":"wx1"})", out));
    EXPECT_EQ(out.issued_at, 0);
    ASSERT_TRUE(decode_session(R"({"openid":"o1","session_key":"k1","appid":"wx1","iat":"x"})", out));
    EXPECT_EQ(out.issued_at, 0);
}
