// decode_session reads the records of the plain shape itself and leaves every other text to
// cJSON: the two readers must give the same answer for every text. Checked on the records
// encode_session writes, on hand-made texts at the edges of the plain shape, and on hundreds
// of thousands of mutations of records (a fixed seed: the same texts every run).
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "session.h"

using namespace wxauth;
using detail::PlainDecode;

namespace {

SessionRecord full()
{
    SessionRecord r;
    r.openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
    r.session_key = "tiihtNczf5v6AKRyjwEUhQ==";
    r.unionid = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA";
    r.appid = "wx4f4bc4dec97d474b";
    r.issued_at = 1700000000;
    r.ttl = 86400;
    r.renew = true;
    r.max_until = 1702592000;
    return r;
}

std::string describe(bool ok, const SessionRecord &r)
{
    if (!ok) {
        return "refused";
    }
    return "openid=" + r.openid + " session_key=" + r.session_key + " unionid=" + r.unionid
           + " appid=" + r.appid + " iat=" + std::to_string(r.issued_at)
           + " ttl=" + std::to_string(r.ttl) + " rn=" + std::to_string(r.renew)
           + " mx=" + std::to_string(r.max_until);
}

// decode_session (plain reader, cJSON when not plain) against the cJSON reader alone
void expect_agree(const std::string &text)
{
    SessionRecord a, b;
    bool ra = decode_session(text, a);
    bool rb = detail::decode_session_cjson(text, b);
    ASSERT_EQ(describe(ra, a), describe(rb, b)) << "text: " << text;
}

}  // namespace

TEST(SessionReader, WrittenRecordsAreReadWithoutCjson)
{
    SessionRecord r = full();
    for (int variant = 0; variant < 4; ++variant) {
        if (variant == 1) {
            r.unionid.clear();
        } else if (variant == 2) {
            r.ttl = 0;
            r.renew = false;
            r.max_until = 0;
        } else if (variant == 3) {
            r.issued_at = 0;
        }
        SessionRecord out;
        ASSERT_EQ(detail::decode_session_plain(encode_session(r), out), PlainDecode::accepted);
        EXPECT_EQ(describe(true, out), describe(true, r));
        expect_agree(encode_session(r));
    }
}

TEST(SessionReader, EdgesOfThePlainShape)
{
    const char *texts[] = {
        // plain, read without cJSON
        R"({"openid":"o1","session_key":"k1","appid":"wx1"})",
        " \t\r\n{ \"openid\" : \"o1\" , \"session_key\":\"k1\",\"appid\":\"wx1\" } \n",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","openid":"o2"})",
        R"({"v":1,"openid":"o1","session_key":"k1","appid":"wx1","iat":-0,"ttl":0,"rn":1})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","ttl":-1})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","mx":-5})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","ttl":"86400","rn":"1"})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","unionid":7})",
        R"({"openid":1,"session_key":"k1","appid":"wx1"})",
        R"({"openid":"","session_key":"","appid":""})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","iat":999999999999999})",
        R"({"openid":"微信","session_key":"k1","appid":"wx1"})",
        R"({"session_key":"k1","appid":"wx1"})",
        // not plain: cJSON decides
        R"({"openid":"o1","session_key":"k1","appid":"wx1","iat":9999999999999999})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","iat":1e9,"ttl":86400.7,"rn":1.0})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","iat":01,"ttl":-})",
        R"({"openid":"o\"1","session_key":"k\/1","appid":"wx\u00311"})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","x":null,"y":true,"z":[1,{"a":2}]})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1","unionid":null})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1",})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1"} x)",
        R"({"openid":"o1","session_key":"k1","appid":"wx1"}})",
        R"({"openid":"o1" "session_key":"k1","appid":"wx1"})",
        R"({"openid":"o1","session_key":"k1","appid":"wx1")",
        R"({"openid":"o1\u0000x","session_key":"k1","appid":"wx1"})",
        "{\"openid\":\"o1\x01\",\"session_key\":\"k1\",\"appid\":\"wx1\"}",
        "{\"openid\":\"o1\x7f\",\"session_key\":\"k1\",\"appid\":\"wx1\"}",
        "\x0b{\"openid\":\"o1\",\"session_key\":\"k1\",\"appid\":\"wx1\"}",
        "{}", "{,}", "[]", "\"s\"", "1", "", "{", "}", "null",
    };
    for (const char *t : texts) {
        expect_agree(t);
    }
    expect_agree(std::string(R"({"openid":"o1","session_key":"k1","appid":"wx1"})") + '\0');
    expect_agree(std::string("{\"openid\":\"o\0\",\"session_key\":\"k1\",\"appid\":\"wx1\"}", 45));
}

TEST(SessionReader, MutatedRecordsGetTheSameAnswer)
{
    SessionRecord a = full();
    SessionRecord b = full();
    b.unionid.clear();
    b.max_until = 0;
    std::vector<std::string> bases = {
        encode_session(a),
        encode_session(b),
        R"({"v":2,"openid":"o1","session_key":"k1","appid":"wx1","iat":5,"new":"x","ttl":60})",
    };
    const std::string alphabet = "\"\\{}[],:-+.eE0123456789 \t\n\r\x01\x7f\x80u/ntfrl";
    std::mt19937 rng(20261202);
    int plain = 0;
    for (int round = 0; round < 60000; ++round) {
        std::string t = bases[round % bases.size()];
        int edits = 1 + int(rng() % 3);
        for (int e = 0; e < edits && !t.empty(); ++e) {
            std::size_t at = rng() % t.size();
            char c = alphabet[rng() % alphabet.size()];
            switch (rng() % 4) {
            case 0: t[at] = c; break;
            case 1: t.erase(at, 1); break;
            case 2: t.insert(at, 1, c); break;
            default: {   // a stretch repeated: duplicate names, doubled punctuation
                std::size_t len = 1 + rng() % 12;
                t.insert(at, t.substr(at, len));
            }
            }
        }
        SessionRecord out;
        if (detail::decode_session_plain(t, out) != PlainDecode::not_plain) {
            ++plain;
        }
        expect_agree(t);
        if (HasFatalFailure()) {
            return;
        }
    }
    // the plain reader answered a good share of them itself (not everything went to cJSON)
    EXPECT_GT(plain, 6000);
}
