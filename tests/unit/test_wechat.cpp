#include <string>

#include <gtest/gtest.h>

#include "wechat.h"

using namespace wxauth;
using Kind = Code2SessionResult::Kind;

namespace {

const char key[] = "HyVFkGl5F5OQWJZZaNzBBg==";  // base64 of 16 bytes

// A bad_response reason must never repeat a value from the body.
void expect_bad(const std::string &body, const std::string &reason)
{
    SCOPED_TRACE(body.substr(0, 200));
    Code2SessionResult r = parse_code2session(body);
    EXPECT_EQ(r.kind, Kind::bad_response);
    EXPECT_EQ(r.reason, reason);
    EXPECT_TRUE(r.openid.empty());
    EXPECT_TRUE(r.session_key.empty());
    EXPECT_TRUE(r.unionid.empty());
    EXPECT_EQ(r.reason.find("oUser"), std::string::npos);
    EXPECT_EQ(r.reason.find("HyVF"), std::string::npos);
}

long wx_error(const std::string &body)
{
    Code2SessionResult r = parse_code2session(body);
    EXPECT_EQ(r.kind, Kind::wx_error) << body;
    EXPECT_TRUE(r.openid.empty());
    EXPECT_TRUE(r.session_key.empty());
    return r.errcode;
}

}  // namespace

TEST(Code2SessionArgs, EncodesEveryValue)
{
    EXPECT_EQ(code2session_args("wx123", "s3cr3t", "081abc"),
              "appid=wx123&secret=s3cr3t&js_code=081abc&grant_type=authorization_code");
    EXPECT_EQ(code2session_args("wx 1", "a&b=c", "x+y/z%"),
              "appid=wx%201&secret=a%26b%3Dc&js_code=x%2By%2Fz%25&grant_type=authorization_code");
    EXPECT_EQ(code2session_args("", "", ""),
              "appid=&secret=&js_code=&grant_type=authorization_code");
}

TEST(Code2Session, Success)
{
    Code2SessionResult r =
        parse_code2session(R"({"openid":"oUser123","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})");
    ASSERT_EQ(r.kind, Kind::ok);
    EXPECT_EQ(r.openid, "oUser123");
    EXPECT_EQ(r.session_key, key);
    EXPECT_EQ(r.unionid, "");
    EXPECT_TRUE(r.reason.empty());
}

TEST(Code2Session, SuccessWithUnionid)
{
    Code2SessionResult r = parse_code2session(
        R"({"openid":"oUser123","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","unionid":"uUnion9"})");
    ASSERT_EQ(r.kind, Kind::ok);
    EXPECT_EQ(r.unionid, "uUnion9");
}

TEST(Code2Session, SuccessWithErrcodeZero)
{
    for (const char *body :
         {R"({"errcode":0,"errmsg":"ok","openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})",
          R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","errcode":"0"})",
          R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","errcode":0.0})"}) {
        Code2SessionResult r = parse_code2session(body);
        ASSERT_EQ(r.kind, Kind::ok) << body;
        EXPECT_EQ(r.openid, "oUser1");
        EXPECT_EQ(r.session_key, key);
    }
}

TEST(Code2Session, ExtraFieldsAndWhitespaceIgnored)
{
    Code2SessionResult r = parse_code2session(
        "\n { \"expires_in\": 7200, \"openid\" : \"oUser1\",\r\n\t\"session_key\":"
        "\"HyVFkGl5F5OQWJZZaNzBBg==\", \"extra\":{\"nested\":[1,2,{\"a\":null}]}, "
        "\"OpenID\":\"other\" } \n");
    ASSERT_EQ(r.kind, Kind::ok);
    EXPECT_EQ(r.openid, "oUser1");
}

TEST(Code2Session, IntErrcodes)
{
    EXPECT_EQ(wx_error(R"({"errcode":40029,"errmsg":"invalid code, rid: 1"})"), 40029);
    EXPECT_EQ(wx_error(R"({"errcode":40163,"errmsg":"code been used, rid: 2"})"), 40163);
    EXPECT_EQ(wx_error(R"({"errcode":45011,"errmsg":"api minute-quota reach limit"})"), 45011);
    EXPECT_EQ(wx_error(R"({"errcode":40226,"errmsg":"code blocked"})"), 40226);
    EXPECT_EQ(wx_error(R"({"errcode":-1,"errmsg":"system error"})"), -1);
    EXPECT_EQ(wx_error(R"({"errcode":40013,"errmsg":"invalid appid"})"), 40013);
    EXPECT_EQ(wx_error(R"({"errcode":40125,"errmsg":"invalid appsecret"})"), 40125);
    EXPECT_EQ(wx_error(R"({"errcode":99999})"), 99999);  // no errmsg needed
}

TEST(Code2Session, StringErrcodes)
{
    EXPECT_EQ(wx_error(R"({"errcode":"40029","errmsg":"invalid code"})"), 40029);
    EXPECT_EQ(wx_error(R"({"errcode":"40163","errmsg":"code been used"})"), 40163);
    EXPECT_EQ(wx_error(R"({"errcode":"45011"})"), 45011);
    EXPECT_EQ(wx_error(R"({"errcode":"40226"})"), 40226);
    EXPECT_EQ(wx_error(R"({"errcode":"-1"})"), -1);
    EXPECT_EQ(wx_error(R"({"errcode":"40013"})"), 40013);
    EXPECT_EQ(wx_error(R"({"errcode":"40125"})"), 40125);
}

TEST(Code2Session, ErrcodeWinsOverFields)
{
    EXPECT_EQ(wx_error(R"({"errcode":40029,"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})"),
              40029);
}

TEST(Code2Session, MalformedErrcode)
{
    expect_bad(R"({"errcode":"abc","errmsg":"x"})", "malformed errcode");
    expect_bad(R"({"errcode":"","errmsg":"x"})", "malformed errcode");
    expect_bad(R"({"errcode":"40029x"})", "malformed errcode");
    expect_bad(R"({"errcode":" 40029"})", "malformed errcode");
    expect_bad(R"({"errcode":"-"})", "malformed errcode");
    expect_bad(R"({"errcode":40029.5})", "malformed errcode");
    expect_bad(R"({"errcode":1e300})", "malformed errcode");
    expect_bad(R"({"errcode":"99999999999999999999"})", "malformed errcode");
    expect_bad(R"({"errcode":null})", "malformed errcode");
    expect_bad(R"({"errcode":true})", "malformed errcode");
    expect_bad(R"({"errcode":[40029]})", "malformed errcode");
    expect_bad(R"({"errcode":{"v":40029}})", "malformed errcode");
}

// cJSON keeps strings NUL-terminated: an escaped NUL would cut a field short unnoticed.
TEST(Code2Session, EscapedNulRefused)
{
    expect_bad(R"({"openid":"oUser1\u0000junk","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})",
               "NUL character in the answer");
    expect_bad(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==\u0000"})",
               "NUL character in the answer");
    expect_bad(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","x\u0000":1})",
               "NUL character in the answer");
    expect_bad(R"({"errcode":"40029\u0000","errmsg":"x"})", "NUL character in the answer");
    // an escaped backslash followed by u0000 is text, not a NUL
    Code2SessionResult r = parse_code2session(
        R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","errmsg":"a\\u0000"})");
    EXPECT_EQ(r.kind, Code2SessionResult::Kind::ok);
}

TEST(Code2Session, EmptyGarbageAndWrongShapes)
{
    expect_bad("", "empty body");
    expect_bad("   ", "not json");
    expect_bad("<html><body>502 Bad Gateway</body></html>", "not json");
    expect_bad("{\"openid\":\"oUser1\"", "not json");
    expect_bad(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="} trailing)", "not json");
    expect_bad(std::string(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})") +
                   std::string(1, '\0') + "x",
               "NUL character in the answer");
    expect_bad("[]", "not a json object");
    expect_bad("\"openid\"", "not a json object");
    expect_bad("42", "not a json object");
    expect_bad("null", "not a json object");
    expect_bad("{}", "missing openid");
}

TEST(Code2Session, Oversized)
{
    std::string base = R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","pad":")";
    std::string body = base + std::string(max_code2session_body - base.size() - 2, 'x') + "\"}";
    ASSERT_EQ(body.size(), max_code2session_body);
    EXPECT_EQ(parse_code2session(body).kind, Kind::ok);
    body.insert(body.size() - 2, "x");
    ASSERT_EQ(body.size(), max_code2session_body + 1);
    expect_bad(body, "body too large");
    expect_bad(std::string(1 << 20, ' '), "body too large");
}

TEST(Code2Session, MissingFields)
{
    expect_bad(R"({"session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "missing openid");
    expect_bad(R"({"errcode":0,"errmsg":"ok"})", "missing openid");
    expect_bad(R"({"openid":"oUser1"})", "missing session_key");
    expect_bad(R"({"openid":"oUser1","unionid":"uUnion"})", "missing session_key");
    expect_bad(R"({"Openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "missing openid");
}

TEST(Code2Session, WrongTypes)
{
    expect_bad(R"({"openid":123,"session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "malformed openid");
    expect_bad(R"({"openid":null,"session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "malformed openid");
    expect_bad(R"({"openid":["oUser1"],"session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "malformed openid");
    expect_bad(R"({"openid":"","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "malformed openid");
    expect_bad(R"({"openid":"o User","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})", "malformed openid");
    expect_bad(R"({"openid":"oUser\r\nX-Evil: 1","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})",
               "malformed openid");
    expect_bad(R"({"openid":"oUser1","session_key":12345})", "malformed session_key");
    expect_bad(R"({"openid":"oUser1","session_key":null})", "malformed session_key");
    expect_bad(R"({"openid":"oUser1","session_key":{"k":"v"}})", "malformed session_key");
    expect_bad(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","unionid":7})",
               "malformed unionid");
    expect_bad(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","unionid":""})",
               "malformed unionid");
}

TEST(Code2Session, IdLengthLimit)
{
    std::string id128(128, 'o');
    Code2SessionResult r = parse_code2session(R"({"openid":")" + id128 +
                                              R"(","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","unionid":")" +
                                              id128 + "\"}");
    EXPECT_EQ(r.kind, Kind::ok);
    expect_bad(R"({"openid":")" + id128 + R"(o","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="})",
               "malformed openid");
    expect_bad(R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","unionid":")" + id128 +
                   "u\"}",
               "malformed unionid");
}

TEST(Code2Session, SessionKeyMustBe16Bytes)
{
    auto body = [](const std::string &k) {
        return R"({"openid":"oUser1","session_key":")" + k + "\"}";
    };
    EXPECT_EQ(parse_code2session(body("AAAAAAAAAAAAAAAAAAAAAA==")).kind, Kind::ok);
    expect_bad(body(""), "malformed session_key");
    expect_bad(body("AAAAAAAAAAAAAAAAAAAA"), "malformed session_key");        // 15 bytes
    expect_bad(body("AAAAAAAAAAAAAAAAAAAAAAAA"), "malformed session_key");    // 18 bytes
    expect_bad(body("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "malformed session_key");  // 32
    expect_bad(body("AAAAAAAAAAAAAAAAAAAAAA"), "malformed session_key");      // no padding
    expect_bad(body("AAAAAAAAAAAAAAAAAAAAAB=="), "malformed session_key");    // stray bits
    expect_bad(body("AAAAAAAAAAAAAAAAAAAA-_=="), "malformed session_key");    // url alphabet
    expect_bad(body("not a key at all!"), "malformed session_key");
}

TEST(Code2Session, ReasonsNeverCarryValues)
{
    const char *bodies[] = {
        R"({"openid":"oUserSECRETVALUE","session_key":"SECRETKEYVALUE"})",
        R"({"openid":"","session_key":"SECRETKEYVALUE=="})",
        R"({"errcode":"SECRETVALUE","errmsg":"SECRETVALUE"})",
        R"({"openid":"oUser1","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","unionid":["SECRETVALUE"]})",
        "SECRETVALUE",
    };
    for (const char *b : bodies) {
        Code2SessionResult r = parse_code2session(b);
        EXPECT_EQ(r.kind, Kind::bad_response) << b;
        EXPECT_FALSE(r.reason.empty());
        EXPECT_EQ(r.reason.find("SECRET"), std::string::npos) << r.reason;
        EXPECT_LE(r.reason.size(), 40u);
    }
}

TEST(WxErrcode, Mapping)
{
    EXPECT_EQ(map_wx_errcode(40029), Error::invalid_code);
    EXPECT_EQ(map_wx_errcode(40163), Error::invalid_code);
    EXPECT_EQ(map_wx_errcode(40226), Error::user_blocked);
    EXPECT_EQ(map_wx_errcode(45011), Error::rate_limited);
    EXPECT_EQ(map_wx_errcode(-1), Error::wechat_unavailable);
    EXPECT_EQ(map_wx_errcode(40013), Error::wechat_unavailable);
    EXPECT_EQ(map_wx_errcode(40125), Error::wechat_unavailable);
    EXPECT_EQ(map_wx_errcode(0), Error::wechat_unavailable);
    EXPECT_EQ(map_wx_errcode(1), Error::wechat_unavailable);
    EXPECT_EQ(map_wx_errcode(40001), Error::wechat_unavailable);
    EXPECT_EQ(map_wx_errcode(99999999), Error::wechat_unavailable);
}

TEST(WxErrcode, StatusesMatchTheFieldNotes)
{
    EXPECT_EQ(http_status(map_wx_errcode(40029)), 401);
    EXPECT_EQ(http_status(map_wx_errcode(40163)), 401);
    EXPECT_EQ(http_status(map_wx_errcode(45011)), 429);
    EXPECT_EQ(http_status(map_wx_errcode(40226)), 403);
    EXPECT_EQ(http_status(map_wx_errcode(-1)), 502);
    EXPECT_EQ(http_status(map_wx_errcode(40013)), 502);
    EXPECT_EQ(http_status(map_wx_errcode(40125)), 502);
}

TEST(WxErrcode, Misconfiguration)
{
    EXPECT_TRUE(wx_errcode_is_misconfiguration(40013));
    EXPECT_TRUE(wx_errcode_is_misconfiguration(40125));
    EXPECT_FALSE(wx_errcode_is_misconfiguration(40029));
    EXPECT_FALSE(wx_errcode_is_misconfiguration(-1));
    EXPECT_FALSE(wx_errcode_is_misconfiguration(0));
    EXPECT_FALSE(wx_errcode_is_misconfiguration(45011));
}
