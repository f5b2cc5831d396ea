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

TEST(Session, EncodeLifetimeFieldsExactText)
{
    SessionRecord r = sample();
    r.unionid.clear();
    r.ttl = 86400;
    r.renew = true;
    r.max_until = 1702592000;
    EXPECT_EQ(encode_session(r),
              R"({"v":1,"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==","appid":"wx4f4bc4dec97d474b","iat":1700000000,"ttl":86400,"rn":1,"mx":1702592000})");
}

// Every control character and DEL is escaped, and reads back as it was.
TEST(Session, EncodeControlCharactersRoundTrip)
{
    SessionRecord in = sample();
    for (int c = 1; c < 0x20; ++c) {
        in.openid += char(c);
    }
    in.openid += '\x7f';
    in.unionid = "\"\\/\xe5\xbe\xae";
    std::string text = encode_session(in);
    for (char c : text) {
        EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 && c != '\x7f') << int(c);
    }
    SessionRecord out;
    ASSERT_TRUE(decode_session(text, out)) << text;
    expect_same(in, out);
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
    // an escaped NUL in any string: an unreadable record, never a shortened field
    for (const char *text : {
             R"({"openid":"o1\u0000x","session_key":"k1","appid":"wx1"})",
             R"({"openid":"o1","session_key":"k1\u0000","appid":"wx1"})",
             R"({"openid":"o1","session_key":"k1","appid":"wx1\u0000wx2"})",
             R"({"openid":"o1","session_key":"k1","appid":"wx1","unionid":"\u0000"})",
         }) {
        SessionRecord rec = sample();
        EXPECT_FALSE(decode_session(text, rec)) << text;
        expect_same(rec, sample());
    }
}

TEST(Session, MissingIatIsZero)
{
    SessionRecord out;
    ASSERT_TRUE(decode_session(R"({"openid":"o1","session_key":"k1","appid":"wx1"})", out));
    EXPECT_EQ(out.issued_at, 0);
    ASSERT_TRUE(decode_session(R"({"openid":"o1","session_key":"k1","appid":"wx1","iat":"x"})", out));
    EXPECT_EQ(out.issued_at, 0);
}

TEST(Session, LifetimeFieldsRoundTrip)
{
    SessionRecord r = sample();
    r.ttl = 3600;
    r.renew = true;
    r.max_until = 1700086400;
    std::string text = encode_session(r);
    EXPECT_NE(text.find("\"ttl\":3600"), std::string::npos);
    EXPECT_NE(text.find("\"rn\":1"), std::string::npos);
    SessionRecord back;
    ASSERT_TRUE(decode_session(text, back));
    EXPECT_EQ(back.ttl, 3600);
    EXPECT_TRUE(back.renew);
    EXPECT_EQ(back.max_until, 1700086400);
    EXPECT_FALSE(decode_session(R"({"openid":"o","session_key":"k","appid":"a","ttl":-5})", back));
}

TEST(Session, InitialExpiry)
{
    SessionRecord r = sample();
    r.ttl = 3600;
    EXPECT_EQ(initial_expiry(r, 1000), 3600);
    r.max_until = 1000 + 600;
    EXPECT_EQ(initial_expiry(r, 1000), 600);
    r.max_until = 900;  // already past: shortest possible life
    EXPECT_EQ(initial_expiry(r, 1000), 1);
}

TEST(Session, RenewalOnlyPastHalfLife)
{
    SessionRecord r = sample();
    r.ttl = 100;
    r.renew = true;
    EXPECT_EQ(renewal_expiry(r, 90000, 0), 0);   // fresh: no write
    EXPECT_EQ(renewal_expiry(r, 50000, 0), 0);   // exactly half: no write yet
    EXPECT_EQ(renewal_expiry(r, 49999, 0), 100); // past half: renew to full ttl
    EXPECT_EQ(renewal_expiry(r, -1, 0), 0);      // no expiry on the key
    EXPECT_EQ(renewal_expiry(r, -2, 0), 0);      // key gone
    r.renew = false;
    EXPECT_EQ(renewal_expiry(r, 1000, 0), 0);    // renewal off
}

TEST(Session, RenewalBoundedByAbsoluteLimit)
{
    SessionRecord r = sample();
    r.ttl = 100;
    r.renew = true;
    r.max_until = 1030;
    EXPECT_EQ(renewal_expiry(r, 20000, 1000), 30);  // only up to the limit
    EXPECT_EQ(renewal_expiry(r, 40000, 1000), 0);   // would shorten: no write
    r.max_until = 1000;
    EXPECT_EQ(renewal_expiry(r, 20000, 1000), 0);   // limit reached
}
