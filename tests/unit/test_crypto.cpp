#include <algorithm>
#include <memory>
#include <string>

#include <cjson/cJSON.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "encoding.h"

using namespace wxauth;

namespace {

// WeChat's published demo for encryptedData decryption.
const char demo_appid[] = "wx4f4bc4dec97d474b";
const char demo_session_key[] = "tiihtNczf5v6AKRyjwEUhQ==";
const char demo_iv[] = "r7BXXKkLb8qrSNn05n0qiA==";
const char demo_encrypted_data[] =
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC"
    "+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poO"
    "FtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8"
    "xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB"
    "6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJd"
    "NiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOy"
    "uxINew==";
const std::int64_t demo_timestamp = 1477314187;

const std::string key16 = "0123456789abcdef";
const std::string iv16 = "fedcba9876543210";

// AES-128-CBC encryption for building test vectors; `pad` selects OpenSSL's PKCS#7 padding.
std::string encrypt(const std::string &plain, const std::string &key = key16,
                    const std::string &iv = iv16, bool pad = true)
{
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                         &EVP_CIPHER_CTX_free);
    EXPECT_TRUE(ctx);
    EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr,
                                 reinterpret_cast<const unsigned char *>(key.data()),
                                 reinterpret_cast<const unsigned char *>(iv.data())),
              1);
    EVP_CIPHER_CTX_set_padding(ctx.get(), pad ? 1 : 0);
    std::string out(plain.size() + 32, '\0');
    int n1 = 0, n2 = 0;
    auto *o = reinterpret_cast<unsigned char *>(out.data());
    EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), o, &n1,
                                reinterpret_cast<const unsigned char *>(plain.data()),
                                int(plain.size())),
              1);
    EXPECT_EQ(EVP_EncryptFinal_ex(ctx.get(), o + n1, &n2), 1);
    out.resize(std::size_t(n1 + n2));
    return out;
}

DecryptResult decrypt_own(const std::string &plain, const std::string &appid = "wxapp",
                          std::int64_t max_age = 0, std::int64_t now = 0, bool pad = true)
{
    return decrypt_user_data(base64_encode(encrypt(plain, key16, iv16, pad)), base64_encode(iv16),
                             base64_encode(key16), appid, max_age, now);
}

std::string payload(const std::string &watermark)
{
    return R"({"openId":"oUser","nickName":"Band","watermark":)" + watermark + "}";
}

}  // namespace

TEST(Hash, Sha1)
{
    EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Hash, Sha256)
{
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_raw("abc").size(), 32u);
    EXPECT_EQ(hex_lower(sha256_raw("abc")), sha256_hex("abc"));
}

TEST(Hash, HmacSha256Rfc4231)
{
    EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(hmac_sha256_hex("", "").size(), 64u);
}

TEST(ConstantTime, Equal)
{
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
    EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Signature, WeChatPublicVector)
{
    const std::string raw =
        R"({"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"})";
    const std::string key = "HyVFkGl5F5OQWJZZaNzBBg==";
    const std::string sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
    EXPECT_EQ(sha1_hex(raw + key), sig);
    EXPECT_TRUE(verify_user_signature(raw, key, sig));

    std::string upper = sig;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    EXPECT_TRUE(verify_user_signature(raw, key, upper));

    std::string flipped = sig;
    flipped[0] = '8';
    EXPECT_FALSE(verify_user_signature(raw, key, flipped));
    EXPECT_FALSE(verify_user_signature(raw, key, sig.substr(0, 39)));
    EXPECT_FALSE(verify_user_signature(raw, key, sig + "0"));
    EXPECT_FALSE(verify_user_signature(raw, key, ""));
    EXPECT_FALSE(verify_user_signature(raw + " ", key, sig));
    EXPECT_FALSE(verify_user_signature(raw, "AAAAAAAAAAAAAAAAAAAAAA==", sig));
}

TEST(Decrypt, WeChatDemoVector)
{
    DecryptResult r = decrypt_user_data(demo_encrypted_data, demo_iv, demo_session_key, demo_appid);
    ASSERT_EQ(r.status, DecryptStatus::ok);
    std::unique_ptr<cJSON, decltype(&cJSON_Delete)> root(cJSON_Parse(r.plaintext.c_str()),
                                                         &cJSON_Delete);
    ASSERT_TRUE(root);
    const cJSON *open_id = cJSON_GetObjectItemCaseSensitive(root.get(), "openId");
    ASSERT_TRUE(cJSON_IsString(open_id));
    EXPECT_STREQ(open_id->valuestring, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root.get(), "watermark");
    EXPECT_STREQ(cJSON_GetObjectItemCaseSensitive(wm, "appid")->valuestring, demo_appid);
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(wm, "timestamp")->valuedouble, demo_timestamp);
}

TEST(Decrypt, DemoVectorWrongAppid)
{
    DecryptResult r =
        decrypt_user_data(demo_encrypted_data, demo_iv, demo_session_key, "wx0000000000000000");
    EXPECT_EQ(r.status, DecryptStatus::watermark_mismatch);
    EXPECT_TRUE(r.plaintext.empty());
    EXPECT_EQ(decrypt_user_data(demo_encrypted_data, demo_iv, demo_session_key, "").status,
              DecryptStatus::watermark_mismatch);
}

TEST(Decrypt, DemoVectorWatermarkAge)
{
    auto at = [](std::int64_t max_age, std::int64_t now) {
        return decrypt_user_data(demo_encrypted_data, demo_iv, demo_session_key, demo_appid,
                                 max_age, now)
            .status;
    };
    EXPECT_EQ(at(0, demo_timestamp + 1000000), DecryptStatus::ok);  // age not checked
    EXPECT_EQ(at(3600, demo_timestamp + 100), DecryptStatus::ok);
    EXPECT_EQ(at(3600, demo_timestamp + 3600), DecryptStatus::ok);  // exactly at the limit
    EXPECT_EQ(at(3600, demo_timestamp + 3601), DecryptStatus::watermark_expired);
    EXPECT_EQ(at(3600, demo_timestamp + 86400), DecryptStatus::watermark_expired);
}

TEST(Decrypt, SpacesReadAsPlus)
{
    std::string mangled = demo_encrypted_data;
    ASSERT_NE(mangled.find('+'), std::string::npos);
    std::replace(mangled.begin(), mangled.end(), '+', ' ');
    EXPECT_EQ(decrypt_user_data(mangled, demo_iv, demo_session_key, demo_appid).status,
              DecryptStatus::ok);

    // Own vector whose key and iv contain '+' as well.
    std::string key("\xfb\xef\xbe\xfb\xef\xbe\xfb\xef\xbe\xfb\xef\xbe\xfb\xef\xbe\x01", 16);
    std::string iv = key;
    std::string key_b64 = base64_encode(key);
    ASSERT_NE(key_b64.find('+'), std::string::npos);
    std::string data = base64_encode(encrypt(payload(R"({"appid":"wxapp","timestamp":1})"), key, iv));
    auto spaced = [](std::string s) {
        std::replace(s.begin(), s.end(), '+', ' ');
        return s;
    };
    EXPECT_EQ(decrypt_user_data(spaced(data), spaced(key_b64), spaced(key_b64), "wxapp").status,
              DecryptStatus::ok);
}

TEST(Decrypt, OwnVectorOk)
{
    std::string plain = payload(R"({"appid":"wxapp","timestamp":1700000000})");
    DecryptResult r = decrypt_own(plain);
    ASSERT_EQ(r.status, DecryptStatus::ok);
    EXPECT_EQ(r.plaintext, plain);
}

TEST(Decrypt, FullPaddingBlock)
{
    std::string plain = payload(R"({"appid":"wxapp","timestamp":1})");
    plain.insert(1, std::string(16 - plain.size() % 16, ' '));  // whitespace inside the object
    ASSERT_EQ(plain.size() % 16, 0u);
    DecryptResult r = decrypt_own(plain);
    ASSERT_EQ(r.status, DecryptStatus::ok);
    EXPECT_EQ(r.plaintext, plain);
}

TEST(Decrypt, BadInput)
{
    std::string data = base64_encode(encrypt(payload(R"({"appid":"wxapp","timestamp":1})")));
    std::string iv = base64_encode(iv16);
    std::string key = base64_encode(key16);
    auto status = [](const std::string &d, const std::string &i, const std::string &k) {
        return decrypt_user_data(d, i, k, "wxapp").status;
    };
    ASSERT_EQ(status(data, iv, key), DecryptStatus::ok);
    EXPECT_EQ(status(data, iv, base64_encode(key16.substr(0, 15))), DecryptStatus::bad_input);
    EXPECT_EQ(status(data, iv, base64_encode(key16 + "01234567")), DecryptStatus::bad_input);
    EXPECT_EQ(status(data, iv, base64_encode(key16 + key16)), DecryptStatus::bad_input);
    EXPECT_EQ(status(data, iv, ""), DecryptStatus::bad_input);
    EXPECT_EQ(status(data, base64_encode(iv16.substr(0, 12)), key), DecryptStatus::bad_input);
    EXPECT_EQ(status(data, base64_encode(iv16 + "x"), key), DecryptStatus::bad_input);
    EXPECT_EQ(status(data, "not base64!", key), DecryptStatus::bad_input);
    EXPECT_EQ(status("", iv, key), DecryptStatus::bad_input);
    EXPECT_EQ(status(data.substr(0, data.size() - 4), iv, key), DecryptStatus::bad_input);
    EXPECT_EQ(status(base64_encode(std::string(17, 'x')), iv, key), DecryptStatus::bad_input);
    EXPECT_EQ(status(base64_encode(std::string(15, 'x')), iv, key), DecryptStatus::bad_input);
    EXPECT_EQ(status(data + "@", iv, key), DecryptStatus::bad_input);
    EXPECT_EQ(status(data.substr(1), iv, key), DecryptStatus::bad_input);
}

TEST(Decrypt, BadPadding)
{
    auto raw = [](std::string plain) {
        EXPECT_EQ(plain.size() % 16, 0u);
        return decrypt_user_data(base64_encode(encrypt(plain, key16, iv16, false)),
                                 base64_encode(iv16), base64_encode(key16), "wxapp")
            .status;
    };
    std::string block(15, 'a');
    EXPECT_EQ(raw(block + '\x00'), DecryptStatus::bad_padding);  // pad byte 0
    EXPECT_EQ(raw(block + '\x11'), DecryptStatus::bad_padding);  // pad byte 17
    EXPECT_EQ(raw(block + '\xff'), DecryptStatus::bad_padding);
    EXPECT_EQ(raw(std::string(13, 'a') + "\x02\x03\x03"), DecryptStatus::bad_padding);
    EXPECT_EQ(raw(std::string(12, 'a') + "\x03\x04\x04\x04"), DecryptStatus::bad_padding);
    EXPECT_EQ(raw(std::string(16, '\x11') + std::string(16, '\x11')), DecryptStatus::bad_padding);
    // Valid padding over non-JSON text is a JSON problem, not a padding one.
    EXPECT_EQ(raw(std::string(15, 'a') + '\x01'), DecryptStatus::bad_json);
    EXPECT_EQ(raw(std::string(16, '\x10')), DecryptStatus::bad_json);  // empty plaintext

    // A wrong key garbles the plaintext: never ok, never any plaintext returned.
    std::string data = base64_encode(encrypt(payload(R"({"appid":"wxapp","timestamp":1})")));
    DecryptResult r =
        decrypt_user_data(data, base64_encode(iv16), base64_encode("ffffffffffffffff"), "wxapp");
    EXPECT_NE(r.status, DecryptStatus::ok);
    EXPECT_TRUE(r.plaintext.empty());
}

TEST(Decrypt, BadJson)
{
    EXPECT_EQ(decrypt_own("hello, world").status, DecryptStatus::bad_json);
    EXPECT_EQ(decrypt_own("").status, DecryptStatus::bad_json);
    EXPECT_EQ(decrypt_own("[1,2,3]").status, DecryptStatus::bad_json);
    EXPECT_EQ(decrypt_own("\"string\"").status, DecryptStatus::bad_json);
    EXPECT_EQ(decrypt_own(R"({"watermark":{"appid":"wxapp","timestamp":1})").status,
              DecryptStatus::bad_json);
    EXPECT_EQ(decrypt_own(payload(R"({"appid":"wxapp","timestamp":1})") + "garbage").status,
              DecryptStatus::bad_json);
    EXPECT_EQ(decrypt_own(payload(R"({"appid":"wxapp","timestamp":1})") + std::string(1, '\0'))
                  .status,
              DecryptStatus::bad_json);
}

TEST(Decrypt, WatermarkChecks)
{
    auto st = [](const std::string &wm) { return decrypt_own(payload(wm)).status; };
    EXPECT_EQ(st(R"({"appid":"wxapp","timestamp":1})"), DecryptStatus::ok);
    EXPECT_EQ(st(R"({"appid":"wxother","timestamp":1})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"appid":"WXAPP","timestamp":1})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"appid":"wxapp2","timestamp":1})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"timestamp":1})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"appid":"wxapp"})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"appid":"wxapp","timestamp":"1"})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"appid":1,"timestamp":1})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"({"appid":null,"timestamp":1})"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st(R"("wxapp")"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(st("null"), DecryptStatus::watermark_mismatch);
    EXPECT_EQ(decrypt_own(R"({"openId":"x"})").status, DecryptStatus::watermark_mismatch);
    // watermark.appid must be checked even inside a nested key called appid elsewhere.
    EXPECT_EQ(decrypt_own(R"({"appid":"wxapp","watermark":{"appid":"evil","timestamp":1}})").status,
              DecryptStatus::watermark_mismatch);
}

TEST(Decrypt, WatermarkExpiredOwnVector)
{
    std::string plain = payload(R"({"appid":"wxapp","timestamp":1000})");
    EXPECT_EQ(decrypt_own(plain, "wxapp", 60, 1060).status, DecryptStatus::ok);
    EXPECT_EQ(decrypt_own(plain, "wxapp", 60, 1061).status, DecryptStatus::watermark_expired);
    EXPECT_EQ(decrypt_own(plain, "wxapp", 60, 500).status, DecryptStatus::ok);  // from the future
    // A wrong appid is reported before the age.
    EXPECT_EQ(decrypt_own(plain, "wxother", 60, 5000).status, DecryptStatus::watermark_mismatch);
}
