#include <climits>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "session_protocol.h"

using namespace wxauth;

namespace {

// Reply views made the way the Redis adapter makes them: inspect_reply of a hiredis reply.
ReplyView make(int type, const char *str = nullptr, long long integer = 0)
{
    redisReply r{};
    r.type = type;
    r.integer = integer;
    if (str) {
        r.str = const_cast<char *>(str);
        r.len = std::char_traits<char>::length(str);
    }
    return inspect_reply(&r);
}

ReplyView value(const char *s) { return make(REDIS_REPLY_STRING, s); }
ReplyView nil() { return make(REDIS_REPLY_NIL); }
ReplyView integer(long long n) { return make(REDIS_REPLY_INTEGER, nullptr, n); }
ReplyView status(const char *s) { return make(REDIS_REPLY_STATUS, s); }
ReplyView ok() { return status("OK"); }
ReplyView error(const char *s) { return make(REDIS_REPLY_ERROR, s); }
ReplyView no_reply() { return inspect_reply(nullptr); }  // connection lost before the reply
ReplyView array() { return make(REDIS_REPLY_ARRAY); }    // a type the module never expects

using Replies = std::vector<ReplyView>;

const std::string prefix = "wxauth:";
const std::string token = "ZPm1Ojn0yQ8VJ6r5-b5e0aYqk1ahh4r1Y4qGh0hK6xk";
const std::string skey =
    "wxauth:s:71c638b439a48d9a12abe237e3222e57968469fbd005c91343c35ab590f392e4";
const std::string appid = "wx4f4bc4dec97d474b";
const std::string openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
const std::string unionid = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA";
const std::string session_key = "tiihtNczf5v6AKRyjwEUhQ==";
const std::string latest_key = "wxauth:k:wx4f4bc4dec97d474b:oGZUI0egBJY1zhBYw2KhdUfwVJJE";
const std::string user_key = "wxauth:u:wx4f4bc4dec97d474b:oGZUI0egBJY1zhBYw2KhdUfwVJJE";

constexpr std::int64_t now = 1700000400;

const char *const script_text =
    "local old = redis.call('SMEMBERS', KEYS[1]) "
    "redis.call('DEL', KEYS[1]) "
    "redis.call('SADD', KEYS[1], ARGV[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[2]) "
    "return old";

// A renewing session of 600 s issued 400 s ago (so 200 s are left when PTTL says 200000).
SessionRecord renewing(std::int64_t max_until = 0)
{
    SessionRecord r;
    r.openid = openid;
    r.session_key = session_key;
    r.unionid = unionid;
    r.appid = appid;
    r.issued_at = now - 400;
    r.ttl = 600;
    r.renew = true;
    r.max_until = max_until;
    return r;
}

std::string record_text(const SessionRecord &r) { return encode_session(r); }

Code2SessionResult wechat_ok(std::string union_id = unionid)
{
    Code2SessionResult w;
    w.kind = Code2SessionResult::Kind::ok;
    w.openid = openid;
    w.session_key = session_key;
    w.unionid = std::move(union_id);
    return w;
}

LoginPolicy policy(std::int64_t ttl, bool renew, std::int64_t max_lifetime, bool single)
{
    LoginPolicy p;
    p.prefix = prefix;
    p.appid = appid;
    p.ttl = ttl;
    p.renew = renew;
    p.max_lifetime = max_lifetime;
    p.single_session = single;
    return p;
}

void expect_log(const std::optional<LogNote> &log, Severity s, const std::string &text)
{
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(log->severity, s);
    EXPECT_EQ(log->text, text);
}

void expect_store_unavailable_no_renewal(const LookupResult &r, const std::string &log_tail)
{
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error,
               "redis answered the session lookup with an error: " + log_tail);
    EXPECT_EQ(r.renew_seconds, 0);
    EXPECT_TRUE(r.renewal.empty());
    EXPECT_TRUE(r.record.openid.empty());
}

}  // namespace


// ---- severities and metrics -----------------------------------------------------------------

TEST(SessionProtocol, SeverityOfEveryError)
{
    const std::map<Error, Severity> expected{
        {Error::missing_session, Severity::info},
        {Error::invalid_session, Severity::info},
        {Error::session_expired, Severity::info},
        {Error::store_unavailable, Severity::error},
        {Error::invalid_request, Severity::info},
        {Error::request_too_large, Severity::info},
        {Error::method_not_allowed, Severity::info},
        {Error::invalid_code, Severity::info},
        {Error::user_blocked, Severity::warn},
        {Error::rate_limited, Severity::warn},
        {Error::wechat_unavailable, Severity::error},
        {Error::wechat_timeout, Severity::error},
        {Error::decrypt_failed, Severity::info},
        {Error::watermark_mismatch, Severity::info},
        {Error::signature_mismatch, Severity::info},
        {Error::app_not_allowed, Severity::info},
        {Error::internal_error, Severity::alert},
    };
    ASSERT_EQ(expected.size(), std::size(all_errors));
    for (Error e : all_errors) {
        EXPECT_EQ(severity(e), expected.at(e)) << error_code(e);
    }
}

TEST(SessionProtocol, SuccessMetrics)
{
    EXPECT_EQ(success_metric(Flow::login), Metric::login_ok);
    EXPECT_EQ(success_metric(Flow::check), Metric::check_ok);
    EXPECT_EQ(success_metric(Flow::logout), Metric::logout_ok);
    EXPECT_EQ(success_metric(Flow::signature), Metric::signature_ok);
    EXPECT_EQ(success_metric(Flow::decrypt), Metric::decrypt_ok);
}

TEST(SessionProtocol, LoginFailureMetricOfEveryError)
{
    const std::map<Error, Metric> expected{
        {Error::missing_session, Metric::login_internal_error},
        {Error::invalid_session, Metric::login_internal_error},
        {Error::session_expired, Metric::login_internal_error},
        {Error::store_unavailable, Metric::login_store_unavailable},
        {Error::invalid_request, Metric::login_invalid_request},
        {Error::request_too_large, Metric::login_request_too_large},
        {Error::method_not_allowed, Metric::login_method_not_allowed},
        {Error::invalid_code, Metric::login_invalid_code},
        {Error::user_blocked, Metric::login_user_blocked},
        {Error::rate_limited, Metric::login_rate_limited},
        {Error::wechat_unavailable, Metric::login_wechat_unavailable},
        {Error::wechat_timeout, Metric::login_wechat_timeout},
        {Error::decrypt_failed, Metric::login_internal_error},
        {Error::watermark_mismatch, Metric::login_internal_error},
        {Error::signature_mismatch, Metric::login_internal_error},
        {Error::app_not_allowed, Metric::login_internal_error},
        {Error::internal_error, Metric::login_internal_error},
    };
    ASSERT_EQ(expected.size(), std::size(all_errors));
    for (Error e : all_errors) {
        EXPECT_EQ(failure_metric(Flow::login, e), expected.at(e)) << error_code(e);
    }
}

TEST(SessionProtocol, CheckFailureMetricOfEveryError)
{
    const std::map<Error, Metric> expected{
        {Error::missing_session, Metric::check_missing_session},
        {Error::invalid_session, Metric::check_invalid_session},
        {Error::session_expired, Metric::check_session_expired},
        {Error::store_unavailable, Metric::check_store_unavailable},
        {Error::invalid_request, Metric::check_internal_error},
        {Error::request_too_large, Metric::check_internal_error},
        {Error::method_not_allowed, Metric::check_internal_error},
        {Error::invalid_code, Metric::check_internal_error},
        {Error::user_blocked, Metric::check_internal_error},
        {Error::rate_limited, Metric::check_internal_error},
        {Error::wechat_unavailable, Metric::check_internal_error},
        {Error::wechat_timeout, Metric::check_internal_error},
        {Error::decrypt_failed, Metric::check_internal_error},
        {Error::watermark_mismatch, Metric::check_internal_error},
        {Error::signature_mismatch, Metric::check_internal_error},
        {Error::app_not_allowed, Metric::check_app_not_allowed},
        {Error::internal_error, Metric::check_internal_error},
    };
    ASSERT_EQ(expected.size(), std::size(all_errors));
    for (Error e : all_errors) {
        EXPECT_EQ(failure_metric(Flow::check, e), expected.at(e)) << error_code(e);
    }
}

TEST(SessionProtocol, HandlerFailureMetricOfEveryError)
{
    for (Error e : all_errors) {
        EXPECT_EQ(failure_metric(Flow::logout, e), Metric::logout_failed) << error_code(e);
        EXPECT_EQ(failure_metric(Flow::signature, e), Metric::signature_failed) << error_code(e);
        EXPECT_EQ(failure_metric(Flow::decrypt, e), Metric::decrypt_failed) << error_code(e);
    }
}

TEST(SessionProtocol, WxErrcodeMetrics)
{
    EXPECT_EQ(wx_errcode_metric(0), Metric::wx_errcode_0);
    EXPECT_EQ(wx_errcode_metric(-1), Metric::wx_errcode_minus1);
    EXPECT_EQ(wx_errcode_metric(40029), Metric::wx_errcode_40029);
    EXPECT_EQ(wx_errcode_metric(40163), Metric::wx_errcode_40163);
    EXPECT_EQ(wx_errcode_metric(40226), Metric::wx_errcode_40226);
    EXPECT_EQ(wx_errcode_metric(45011), Metric::wx_errcode_45011);
    EXPECT_EQ(wx_errcode_metric(40013), Metric::wx_errcode_40013);
    EXPECT_EQ(wx_errcode_metric(40125), Metric::wx_errcode_40125);
    for (long other : {1L, -2L, 40030L, 45009L, 40001L, LONG_MAX, LONG_MIN}) {
        EXPECT_EQ(wx_errcode_metric(other), Metric::wx_errcode_other) << other;
    }
}


// ---- look up --------------------------------------------------------------------------------

TEST(SessionProtocol, LookupCommands)
{
    RedisCommands cmds = lookup_commands(skey);
    EXPECT_EQ(cmds, (RedisCommands{{"GET", skey}, {"PTTL", skey}}));
}

TEST(SessionProtocol, LookupFound)
{
    SessionRecord rec = renewing();
    LookupResult r = lookup_result({value(record_text(rec).c_str()), integer(599000)}, prefix,
                                   skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.log.has_value());
    EXPECT_EQ(r.record.openid, openid);
    EXPECT_EQ(r.record.session_key, session_key);
    EXPECT_EQ(r.record.unionid, unionid);
    EXPECT_EQ(r.record.appid, appid);
    EXPECT_EQ(r.record.issued_at, now - 400);
    EXPECT_EQ(r.record.ttl, 600);
    EXPECT_TRUE(r.record.renew);
    EXPECT_EQ(r.record.max_until, 0);
    EXPECT_EQ(r.renew_seconds, 0);   // 599 s of 600 left: not due
    EXPECT_TRUE(r.renewal.empty());
}

TEST(SessionProtocol, LookupNilIsExpired)
{
    LookupResult r = lookup_result({nil(), integer(-2)}, prefix, skey, now);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::session_expired);
    EXPECT_FALSE(r.log.has_value());
    EXPECT_TRUE(r.renewal.empty());

    // nil whatever PTTL says, also with PTTL missing
    r = lookup_result({nil()}, prefix, skey, now);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::session_expired);
    EXPECT_FALSE(r.log.has_value());
}

TEST(SessionProtocol, LookupErrorReplies)
{
    expect_store_unavailable_no_renewal(
        lookup_result({error("WRONGTYPE Operation against a key holding the wrong kind of value"),
                       error("WRONGTYPE x")},
                      prefix, skey, now),
        "WRONGTYPE Operation against a key holding the wrong kind of value");
    expect_store_unavailable_no_renewal(
        lookup_result({error("LOADING Redis is loading the dataset in memory"), integer(100)},
                      prefix, skey, now),
        "LOADING Redis is loading the dataset in memory");
    expect_store_unavailable_no_renewal(lookup_result({no_reply(), no_reply()}, prefix, skey, now),
                                        "no reply");
    expect_store_unavailable_no_renewal(lookup_result({array(), integer(1)}, prefix, skey, now),
                                        "unexpected reply type 2");
}

TEST(SessionProtocol, LookupWrongTypes)
{
    // an integer or an OK status where GET's string is expected: today's glue logs the reply
    // text (empty for an integer)
    expect_store_unavailable_no_renewal(lookup_result({integer(7), integer(100)}, prefix, skey,
                                                      now),
                                        "");
    expect_store_unavailable_no_renewal(lookup_result({ok(), integer(100)}, prefix, skey, now),
                                        "OK");

    // another status is a value for inspect_reply: not a record
    LookupResult r = lookup_result({status("QUEUED"), integer(100)}, prefix, skey, now);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::session_expired);
    expect_log(r.log, Severity::error,
               "unreadable session record in redis, the session is treated as expired");
}

TEST(SessionProtocol, LookupShortArray)
{
    expect_store_unavailable_no_renewal(lookup_result({}, prefix, skey, now), "no reply");

    // the record arrived, PTTL did not: found, no renewal
    LookupResult r = lookup_result({value(record_text(renewing()).c_str())}, prefix, skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.log.has_value());
    EXPECT_EQ(r.record.openid, openid);
    EXPECT_EQ(r.renew_seconds, 0);
    EXPECT_TRUE(r.renewal.empty());
}

TEST(SessionProtocol, LookupUnreadableRecord)
{
    for (const char *text : {"", "not json", "[]", "{\"openid\":\"o\"}",
                             "{\"openid\":\"o\",\"session_key\":\"k\",\"appid\":1}",
                             "{\"openid\":\"o\",\"session_key\":\"k\",\"appid\":\"a\"} x"}) {
        LookupResult r = lookup_result({value(text), integer(100000)}, prefix, skey, now);
        ASSERT_TRUE(r.error.has_value()) << text;
        EXPECT_EQ(*r.error, Error::session_expired) << text;
        expect_log(r.log, Severity::error,
                   "unreadable session record in redis, the session is treated as expired");
        EXPECT_TRUE(r.renewal.empty());
        EXPECT_TRUE(r.record.openid.empty());
    }
}

TEST(SessionProtocol, LookupRenewalDue)
{
    // 200 s of 600 left: past half its lifetime, renewed to the full ttl
    LookupResult r = lookup_result({value(record_text(renewing()).c_str()), integer(200000)},
                                   prefix, skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.log.has_value());
    EXPECT_EQ(r.renew_seconds, 600);
    EXPECT_EQ(r.renewal, (RedisCommands{{"EXPIRE", skey, "600"},
                                        {"EXPIRE", latest_key, "600", "GT"},
                                        {"EXPIRE", user_key, "600", "GT"}}));

    // just below half
    r = lookup_result({value(record_text(renewing()).c_str()), integer(299999)}, prefix, skey,
                      now);
    EXPECT_EQ(r.renew_seconds, 600);
    EXPECT_EQ(r.renewal.size(), 3u);
}

TEST(SessionProtocol, LookupRenewalNotDue)
{
    const std::string rec = record_text(renewing());
    for (long long pttl : {300000LL, 450000LL, 600000LL, -1LL, -2LL}) {
        LookupResult r = lookup_result({value(rec.c_str()), integer(pttl)}, prefix, skey, now);
        EXPECT_FALSE(r.error.has_value()) << pttl;
        EXPECT_EQ(r.renew_seconds, 0) << pttl;
        EXPECT_TRUE(r.renewal.empty()) << pttl;
    }

    // a session that does not renew, or has no ttl (older record), is never renewed
    SessionRecord fixed = renewing();
    fixed.renew = false;
    LookupResult r = lookup_result({value(record_text(fixed).c_str()), integer(1000)}, prefix,
                                   skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_TRUE(r.renewal.empty());
    SessionRecord no_ttl = renewing();
    no_ttl.ttl = 0;
    r = lookup_result({value(record_text(no_ttl).c_str()), integer(1000)}, prefix, skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_TRUE(r.renewal.empty());

    // PTTL answered with anything but an integer: the session is found, no renewal
    for (const ReplyView &pttl : {nil(), ok(), value("100"), error("ERR"), no_reply(), array()}) {
        r = lookup_result({value(rec.c_str()), pttl}, prefix, skey, now);
        EXPECT_FALSE(r.error.has_value());
        EXPECT_FALSE(r.log.has_value());
        EXPECT_EQ(r.record.openid, openid);
        EXPECT_EQ(r.renew_seconds, 0);
        EXPECT_TRUE(r.renewal.empty());
    }
}

TEST(SessionProtocol, LookupRenewalBoundedByMaxLifetime)
{
    // 199 s to the absolute end: renewed to 199 s, not 600
    const std::string rec = record_text(renewing(now + 199));
    LookupResult r = lookup_result({value(rec.c_str()), integer(100000)}, prefix, skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_EQ(r.renew_seconds, 199);
    EXPECT_EQ(r.renewal, (RedisCommands{{"EXPIRE", skey, "199"},
                                        {"EXPIRE", latest_key, "199", "GT"},
                                        {"EXPIRE", user_key, "199", "GT"}}));

    // the end is reached: the key already expires then, no write
    const std::string at_end = record_text(renewing(now + 100));
    r = lookup_result({value(at_end.c_str()), integer(100000)}, prefix, skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_EQ(r.renew_seconds, 0);
    EXPECT_TRUE(r.renewal.empty());
}

TEST(SessionProtocol, LookupExtraRepliesIgnored)
{
    LookupResult r = lookup_result(
        {value(record_text(renewing()).c_str()), integer(200000), error("ERR extra")}, prefix,
        skey, now);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_EQ(r.renew_seconds, 600);
}


// ---- renew ----------------------------------------------------------------------------------

TEST(SessionProtocol, RenewalCommands)
{
    EXPECT_EQ(renewal_commands("shop:wx:", "shop:wx:s:abc", renewing(), 42),
              (RedisCommands{{"EXPIRE", "shop:wx:s:abc", "42"},
                             {"EXPIRE", "shop:wx:k:" + appid + ":" + openid, "42", "GT"},
                             {"EXPIRE", "shop:wx:u:" + appid + ":" + openid, "42", "GT"}}));
}


// ---- log in ---------------------------------------------------------------------------------

TEST(SessionProtocol, LoginCommandsDefault)
{
    LoginPlan plan = login_commands(policy(86400, false, 0, false), token, wechat_ok(), now);
    EXPECT_EQ(plan.storage_key, skey);
    EXPECT_EQ(plan.expires_in, 86400);
    EXPECT_EQ(plan.record.openid, openid);
    EXPECT_EQ(plan.record.session_key, session_key);
    EXPECT_EQ(plan.record.unionid, unionid);
    EXPECT_EQ(plan.record.appid, appid);
    EXPECT_EQ(plan.record.issued_at, now);
    EXPECT_EQ(plan.record.ttl, 86400);
    EXPECT_FALSE(plan.record.renew);
    EXPECT_EQ(plan.record.max_until, 0);

    const std::string json =
        R"({"v":1,"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==",)"
        R"("unionid":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","appid":"wx4f4bc4dec97d474b",)"
        R"("iat":1700000400,"ttl":86400})";
    EXPECT_EQ(plan.commands,
              (RedisCommands{{"SET", skey, json, "EX", "86400", "NX"},
                             {"SET", latest_key, session_key, "EX", "86400"}}));
    EXPECT_EQ(plan.commands.size(), login_command_count(false));
}

TEST(SessionProtocol, LoginCommandsRenewMaxLifetimeShorterThanTtl)
{
    // ttl 1 d, max lifetime 1 h: stored for 1 h, the user's keys for 1 d
    LoginPlan plan = login_commands(policy(86400, true, 3600, false), token, wechat_ok(""), now);
    EXPECT_EQ(plan.expires_in, 3600);
    EXPECT_TRUE(plan.record.renew);
    EXPECT_EQ(plan.record.max_until, now + 3600);
    EXPECT_TRUE(plan.record.unionid.empty());

    const std::string json =
        R"({"v":1,"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==",)"
        R"("appid":"wx4f4bc4dec97d474b","iat":1700000400,"ttl":86400,"rn":1,"mx":1700004000})";
    EXPECT_EQ(plan.commands,
              (RedisCommands{{"SET", skey, json, "EX", "3600", "NX"},
                             {"SET", latest_key, session_key, "EX", "86400"}}));
}

TEST(SessionProtocol, LoginCommandsMaxLifetimeLongerThanTtl)
{
    // ttl 2 h renewing, max lifetime 30 d: stored for 2 h, the user's keys for 30 d
    LoginPlan plan = login_commands(policy(7200, true, 2592000, false), token, wechat_ok(), now);
    EXPECT_EQ(plan.expires_in, 7200);
    EXPECT_EQ(plan.record.max_until, now + 2592000);
    ASSERT_EQ(plan.commands.size(), 2u);
    EXPECT_EQ(plan.commands[0][4], "7200");
    EXPECT_EQ(plan.commands[1], (RedisCommand{"SET", latest_key, session_key, "EX", "2592000"}));
    EXPECT_EQ(user_keys_expiry(policy(7200, true, 2592000, false)), 2592000);
    EXPECT_EQ(user_keys_expiry(policy(7200, true, 0, false)), 7200);
    EXPECT_EQ(user_keys_expiry(policy(7200, true, 7200, false)), 7200);
}

TEST(SessionProtocol, LoginCommandsSingleSession)
{
    LoginPlan plan = login_commands(policy(600, false, 1200, true), token, wechat_ok(), now);
    EXPECT_EQ(plan.expires_in, 600);
    ASSERT_EQ(plan.commands.size(), 3u);
    EXPECT_EQ(plan.commands.size(), login_command_count(true));
    EXPECT_EQ(plan.commands[0][0], "SET");
    EXPECT_EQ(plan.commands[0][1], skey);
    EXPECT_EQ(plan.commands[0][4], "600");
    EXPECT_EQ(plan.commands[1], (RedisCommand{"SET", latest_key, session_key, "EX", "1200"}));
    EXPECT_EQ(plan.commands[2],
              (RedisCommand{"EVAL", script_text, "1", user_key, skey, "1200"}));
    EXPECT_EQ(plan.commands[2],
              end_other_sessions_commands(prefix, appid, openid, skey, 1200).at(0));
}

TEST(SessionProtocol, LoginCommandsOtherPrefix)
{
    LoginPolicy p = policy(60, false, 0, true);
    p.prefix = "shop:wx:";
    LoginPlan plan = login_commands(p, token, wechat_ok(), now);
    const std::string other_skey =
        "shop:wx:s:71c638b439a48d9a12abe237e3222e57968469fbd005c91343c35ab590f392e4";
    EXPECT_EQ(plan.storage_key, other_skey);
    EXPECT_EQ(plan.commands[0][1], other_skey);
    EXPECT_EQ(plan.commands[1][1], "shop:wx:k:" + appid + ":" + openid);
    EXPECT_EQ(plan.commands[2][3], "shop:wx:u:" + appid + ":" + openid);
    EXPECT_EQ(plan.commands[2][4], other_skey);
    EXPECT_EQ(plan.commands[2][5], "60");
}

TEST(SessionProtocol, EndOtherSessionsCommands)
{
    EXPECT_EQ(end_other_sessions_script, std::string_view(script_text));
    EXPECT_EQ(end_other_sessions_commands(prefix, appid, openid, skey, 86400),
              (RedisCommands{{"EVAL", script_text, "1", user_key, skey, "86400"}}));
}

TEST(SessionProtocol, LoginStored)
{
    LoginResult r = login_result({ok(), ok()}, 2, prefix);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.log.has_value());

    // EVAL answers the sessions the set held: they are to be ended (only session keys of this
    // prefix are taken; anything else in the set is never deleted)
    r = login_result({ok(), ok(), array()}, 3, prefix);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.log.has_value());
    EXPECT_TRUE(r.ended.empty());
    const std::string other = prefix + "s:" + std::string(64, 'a');
    ReplyView held = array();
    const std::string upper = prefix + "s:" + std::string(64, 'A');
    const std::string foreign = "shop:s:" + std::string(64, 'a');
    const std::string longer = skey + "0";
    held.elements = {value(skey.c_str()), value(other.c_str()), value("wxauth:k:x"),
                     value(upper.c_str()), value(foreign.c_str()), integer(3),
                     value(longer.c_str())};
    r = login_result({ok(), ok(), held}, 3, prefix);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_EQ(r.ended, (std::vector<std::string>{skey, other}));
    // an integer (a script of an older module): nothing to end here
    r = login_result({ok(), ok(), integer(2)}, 3, prefix);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_TRUE(r.ended.empty());
    // not stored: nothing is ended
    r = login_result({nil(), ok(), held}, 3, prefix);
    EXPECT_TRUE(r.error.has_value());
    EXPECT_TRUE(r.ended.empty());

    // bookkeeping replies of another shape are accepted, as today
    for (const ReplyView &other : {nil(), integer(1), value("x"), status("QUEUED")}) {
        r = login_result({ok(), other, other}, 3, prefix);
        EXPECT_FALSE(r.error.has_value());
        EXPECT_FALSE(r.log.has_value());
    }
}

TEST(SessionProtocol, LoginCollision)
{
    LoginResult r = login_result({nil(), ok()}, 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::alert, "a new session token collided with a stored one");

    r = login_result({nil(), ok(), integer(0)}, 3, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::alert, "a new session token collided with a stored one");
}

TEST(SessionProtocol, LoginSetRefused)
{
    LoginResult r = login_result({error("OOM command not allowed when used memory > 'maxmemory'."),
                                  ok()},
                                 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error,
               "redis refused to store the session: OOM command not allowed when used memory > "
               "'maxmemory'.");

    r = login_result({no_reply(), ok()}, 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error, "redis refused to store the session: no reply");

    r = login_result({array(), ok()}, 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error,
               "redis refused to store the session: unexpected reply type 2");
}

TEST(SessionProtocol, LoginSetWrongType)
{
    // anything but OK and an error: today's glue takes it for the NX collision
    for (const ReplyView &other : {integer(1), value("OK"), status("QUEUED")}) {
        LoginResult r = login_result({other, ok()}, 2, prefix);
        ASSERT_TRUE(r.error.has_value());
        EXPECT_EQ(*r.error, Error::store_unavailable);
        expect_log(r.log, Severity::alert, "a new session token collided with a stored one");
    }
}

TEST(SessionProtocol, LoginBookkeepingRefused)
{
    LoginResult r = login_result({ok(), error("READONLY You can't write against a read only "
                                              "replica.")},
                                 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error,
               "redis refused a login bookkeeping command: READONLY You can't write against a "
               "read only replica.");

    // the script failing
    r = login_result({ok(), ok(), error("NOSCRIPT x")}, 3, prefix);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error, "redis refused a login bookkeeping command: NOSCRIPT x");

    // checked before the session's own SET, the first one is logged
    r = login_result({nil(), error("ERR first"), error("ERR second")}, 3, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error, "redis refused a login bookkeeping command: ERR first");

    r = login_result({ok(), no_reply()}, 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error, "redis refused a login bookkeeping command: no reply");
}

TEST(SessionProtocol, LoginShortArray)
{
    LoginResult r = login_result({}, 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error, "redis refused a login bookkeeping command: no reply");

    r = login_result({ok()}, 2, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error, "redis refused a login bookkeeping command: no reply");

    r = login_result({ok(), ok()}, 3, prefix);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error, "redis refused a login bookkeeping command: no reply");

    // a batch of one command only (never sent today): its reply is all there is to read
    r = login_result({}, 1, prefix);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error, "redis refused to store the session: no reply");
    r = login_result({}, 0, prefix);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error, "redis refused to store the session: no reply");
}

TEST(SessionProtocol, LoginRepliesBeyondExpectedIgnored)
{
    LoginResult r = login_result({ok(), ok(), error("ERR extra")}, 2, prefix);
    EXPECT_FALSE(r.error.has_value());
}


// ---- log out --------------------------------------------------------------------------------

TEST(SessionProtocol, LogoutCommands)
{
    EXPECT_EQ(logout_commands(skey), (RedisCommands{{"DEL", skey}}));
}

TEST(SessionProtocol, LogoutEnded)
{
    for (long long n : {1LL, 2LL}) {
        LogoutResult r = logout_result({integer(n)});
        EXPECT_FALSE(r.error.has_value());
        expect_log(r.log, Severity::info, "session ended by logout");
    }
}

TEST(SessionProtocol, LogoutNothingToEnd)
{
    LogoutResult r = logout_result({integer(0)});
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::session_expired);
    EXPECT_FALSE(r.log.has_value());
}

TEST(SessionProtocol, LogoutEveryOtherShape)
{
    std::vector<Replies> shapes{{},
                                {no_reply()},
                                {error("ERR wrong number of arguments for 'del' command")},
                                {nil()},
                                {value("1")},
                                {ok()},
                                {status("QUEUED")},
                                {array()}};
    for (const Replies &replies : shapes) {
        LogoutResult r = logout_result(replies);
        ASSERT_TRUE(r.error.has_value());
        EXPECT_EQ(*r.error, Error::store_unavailable);
        EXPECT_FALSE(r.log.has_value());
    }
}


// ---- load the user's newest session_key -----------------------------------------------------

TEST(SessionProtocol, LatestKeyCommands)
{
    EXPECT_EQ(latest_key_commands(prefix, appid, openid), (RedisCommands{{"GET", latest_key}}));
    EXPECT_EQ(latest_key_commands("p:", "wxa", "o-1"), (RedisCommands{{"GET", "p:k:wxa:o-1"}}));
}

TEST(SessionProtocol, LatestKeyRotated)
{
    LatestKeyResult r = latest_key_result({value("bmV3ZXN0a2V5MTIzNDU2Nw==")}, session_key);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_EQ(r.session_key, "bmV3ZXN0a2V5MTIzNDU2Nw==");
    EXPECT_FALSE(r.log.has_value());

    // another status is a value for inspect_reply
    r = latest_key_result({status("QUEUED")}, session_key);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_EQ(r.session_key, "QUEUED");
}

TEST(SessionProtocol, LatestKeyFallsBackToTheRecord)
{
    for (const ReplyView &reply : {nil(), integer(3), ok()}) {
        LatestKeyResult r = latest_key_result({reply}, session_key);
        EXPECT_FALSE(r.error.has_value());
        EXPECT_EQ(r.session_key, session_key);
        EXPECT_FALSE(r.log.has_value());
    }
}

TEST(SessionProtocol, LatestKeyErrors)
{
    std::vector<Replies> shapes{{}, {no_reply()}, {error("WRONGTYPE x")}, {array()}};
    for (const Replies &replies : shapes) {
        LatestKeyResult r = latest_key_result(replies, session_key);
        ASSERT_TRUE(r.error.has_value());
        EXPECT_EQ(*r.error, Error::store_unavailable);
        EXPECT_TRUE(r.session_key.empty());
        EXPECT_FALSE(r.log.has_value());
    }
}

TEST(SessionProtocol, EndSessions)
{
    const std::string other = prefix + "s:" + std::string(64, 'b');
    EXPECT_EQ(end_sessions_commands({skey, other}),
              (RedisCommands{{"DEL", skey}, {"DEL", other}}));
    EXPECT_TRUE(end_sessions_commands({}).empty());

    LoginResult r = end_sessions_result({integer(1), integer(0)}, 2);
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.log.has_value());
    r = end_sessions_result({integer(1), error("CLUSTERDOWN The cluster is down")}, 2);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error,
               "redis refused to end an older session of the user: CLUSTERDOWN The cluster is "
               "down");
    r = end_sessions_result({integer(1)}, 2);   // a reply missing
    ASSERT_TRUE(r.error.has_value());
}

TEST(SessionProtocol, SessionStorageKeyShape)
{
    EXPECT_TRUE(is_session_storage_key(prefix, skey));
    EXPECT_TRUE(is_session_storage_key("", "s:" + std::string(64, '0')));
    EXPECT_FALSE(is_session_storage_key(prefix, skey.substr(0, skey.size() - 1)));
    EXPECT_FALSE(is_session_storage_key("other:", skey));
    EXPECT_FALSE(is_session_storage_key(prefix, prefix + "u:" + std::string(64, '0')));
    EXPECT_FALSE(is_session_storage_key(prefix, prefix + "s:" + std::string(63, '0') + "g"));
}

TEST(SessionProtocol, ReplicationResult)
{
    // nothing asked
    EXPECT_FALSE(replication_result({ok(), ok()}, 2, 0, 1, 500).error.has_value());
    // two nodes took writes, both acknowledged by enough replicas
    EXPECT_FALSE(replication_result({ok(), ok(), integer(1), integer(2)}, 2, 2, 1, 500)
                     .error.has_value());
    // one node's replicas did not acknowledge in time
    LoginResult r = replication_result({ok(), ok(), integer(2), integer(0)}, 2, 2, 1, 500);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(*r.error, Error::store_unavailable);
    expect_log(r.log, Severity::error, "the login's writes reached 0 of 1 replicas within 500 ms");
    r = replication_result({ok(), ok(), integer(1)}, 2, 1, 2, 1000);
    expect_log(r.log, Severity::error, "the login's writes reached 1 of 2 replicas within 1000 ms");
    // WAIT refused, missing, or answered with something else
    r = replication_result({ok(), ok(), error("ERR WAIT cannot be used with replica instances.")},
                           2, 1, 1, 500);
    ASSERT_TRUE(r.error.has_value());
    expect_log(r.log, Severity::error,
               "redis refused WAIT: ERR WAIT cannot be used with replica instances.");
    r = replication_result({ok(), ok()}, 2, 1, 1, 500);
    ASSERT_TRUE(r.error.has_value());
    r = replication_result({ok(), ok(), nil()}, 2, 1, 1, 500);
    expect_log(r.log, Severity::error, "redis refused WAIT: an answer that is no count");
}
