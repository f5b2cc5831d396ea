#include <memory>
#include <set>
#include <string>

#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include "errors.h"

using namespace wxauth;

namespace {

struct JsonDeleter {
    void operator()(cJSON *j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

Json parse(const std::string &text)
{
    return Json(cJSON_ParseWithLengthOpts(text.c_str(), text.size() + 1, nullptr, 1));
}

struct Row {
    Error e;
    int status;
    const char *code;
    const char *message;
};

const Row table[] = {
    {Error::missing_session, 401, "missing_session", "no session token in the request"},
    {Error::invalid_session, 401, "invalid_session", "session token is malformed"},
    {Error::session_expired, 401, "session_expired", "session is unknown or expired"},
    {Error::store_unavailable, 503, "store_unavailable", "session store unavailable"},
    {Error::invalid_request, 400, "invalid_request", "invalid request"},
    {Error::request_too_large, 413, "request_too_large", "request body too large"},
    {Error::method_not_allowed, 405, "method_not_allowed", "method not allowed"},
    {Error::invalid_code, 401, "invalid_code", "invalid or already used login code"},
    {Error::user_blocked, 403, "user_blocked", "user is blocked by WeChat"},
    {Error::rate_limited, 429, "rate_limited", "rate limited by WeChat"},
    {Error::wechat_unavailable, 502, "wechat_unavailable", "WeChat is unavailable"},
    {Error::wechat_timeout, 504, "wechat_timeout", "WeChat did not answer in time"},
    {Error::decrypt_failed, 400, "decrypt_failed", "decryption failed"},
    {Error::watermark_mismatch, 403, "watermark_mismatch", "watermark does not match the session"},
    {Error::signature_mismatch, 400, "signature_mismatch", "signature does not match"},
    {Error::app_not_allowed, 403, "app_not_allowed",
     "this location does not accept sessions of that app"},
    {Error::internal_error, 500, "internal_error", "internal error"},
};

}  // namespace

TEST(Errors, TableCoversEveryError)
{
    ASSERT_EQ(std::size(table), std::size(all_errors));
    for (std::size_t i = 0; i < std::size(table); ++i) {
        EXPECT_EQ(table[i].e, all_errors[i]);
    }
}

TEST(Errors, StatusCodeAndMessage)
{
    for (const Row &row : table) {
        SCOPED_TRACE(row.code);
        EXPECT_EQ(http_status(row.e), row.status);
        EXPECT_STREQ(error_code(row.e), row.code);
        EXPECT_STREQ(default_message(row.e), row.message);
    }
}

TEST(Errors, CodesAreUniqueAndMessagesHaveNoTrailingDot)
{
    std::set<std::string> codes;
    for (Error e : all_errors) {
        EXPECT_TRUE(codes.insert(error_code(e)).second) << error_code(e);
        std::string msg = default_message(e);
        ASSERT_FALSE(msg.empty());
        EXPECT_NE(msg.back(), '.');
    }
}

TEST(Errors, JsonExactFormat)
{
    EXPECT_EQ(error_json(Error::session_expired),
              R"({"error":"session_expired","message":"session is unknown or expired"})");
    EXPECT_EQ(error_json(Error::invalid_code, 40029),
              R"({"error":"invalid_code","message":"invalid or already used login code","wx_errcode":40029})");
    EXPECT_EQ(error_json(Error::wechat_unavailable, -1),
              R"({"error":"wechat_unavailable","message":"WeChat is unavailable","wx_errcode":-1})");
    EXPECT_EQ(error_json(Error::invalid_request, std::nullopt, "code is missing"),
              R"({"error":"invalid_request","message":"code is missing"})");
}

TEST(Errors, JsonEscapesMessage)
{
    std::string j = error_json(Error::internal_error, std::nullopt, "a \"quoted\"\\ line\nnext\x01");
    EXPECT_EQ(j, "{\"error\":\"internal_error\",\"message\":\"a \\\"quoted\\\"\\\\ line\\nnext\\u0001\"}");
    Json root = parse(j);
    ASSERT_TRUE(root);
    EXPECT_STREQ(cJSON_GetObjectItemCaseSensitive(root.get(), "message")->valuestring,
                 "a \"quoted\"\\ line\nnext\x01");
}

TEST(Errors, EveryErrorJsonParsesBack)
{
    for (Error e : all_errors) {
        SCOPED_TRACE(error_code(e));
        for (bool with_wx : {false, true}) {
            std::string text = with_wx ? error_json(e, 45011) : error_json(e);
            Json root = parse(text);
            ASSERT_TRUE(root) << text;
            ASSERT_TRUE(cJSON_IsObject(root.get()));
            const cJSON *err = cJSON_GetObjectItemCaseSensitive(root.get(), "error");
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root.get(), "message");
            const cJSON *wx = cJSON_GetObjectItemCaseSensitive(root.get(), "wx_errcode");
            ASSERT_TRUE(cJSON_IsString(err));
            ASSERT_TRUE(cJSON_IsString(msg));
            EXPECT_STREQ(err->valuestring, error_code(e));
            EXPECT_STREQ(msg->valuestring, default_message(e));
            if (with_wx) {
                ASSERT_TRUE(cJSON_IsNumber(wx));
                EXPECT_EQ(wx->valuedouble, 45011);
                EXPECT_EQ(cJSON_GetArraySize(root.get()), 3);
            } else {
                EXPECT_EQ(wx, nullptr);
                EXPECT_EQ(cJSON_GetArraySize(root.get()), 2);
            }
        }
    }
}
