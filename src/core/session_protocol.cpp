#include "session_protocol.h"

#include <algorithm>

#include <utility>

#include "token.h"

namespace wxauth {

namespace {

// The reply of command i, or a NULL reply when the batch has none there.
const ReplyView &reply_at(const std::vector<ReplyView> &replies, std::size_t i)
{
    static const ReplyView missing{ReplyOutcome::error, "no reply", 0};
    return i < replies.size() ? replies[i] : missing;
}

LogNote note(Severity s, std::string text)
{
    return LogNote{s, std::move(text)};
}

}  // namespace


Severity severity(Error e) noexcept
{
    switch (e) {
    case Error::store_unavailable:
    case Error::wechat_unavailable:
    case Error::wechat_timeout:
        return Severity::error;
    case Error::rate_limited:
    case Error::user_blocked:
        return Severity::warn;
    case Error::internal_error:
        return Severity::alert;
    default:
        return Severity::info;
    }
}


Metric success_metric(Flow f) noexcept
{
    switch (f) {
    case Flow::login:
        return Metric::login_ok;
    case Flow::check:
        return Metric::check_ok;
    case Flow::logout:
        return Metric::logout_ok;
    case Flow::signature:
        return Metric::signature_ok;
    case Flow::decrypt:
        break;
    }
    return Metric::decrypt_ok;
}


Metric failure_metric(Flow f, Error e) noexcept
{
    switch (f) {
    case Flow::login:
        switch (e) {
        case Error::invalid_request:    return Metric::login_invalid_request;
        case Error::method_not_allowed: return Metric::login_method_not_allowed;
        case Error::invalid_code:       return Metric::login_invalid_code;
        case Error::user_blocked:       return Metric::login_user_blocked;
        case Error::rate_limited:       return Metric::login_rate_limited;
        case Error::wechat_unavailable: return Metric::login_wechat_unavailable;
        case Error::wechat_timeout:     return Metric::login_wechat_timeout;
        case Error::store_unavailable:  return Metric::login_store_unavailable;
        case Error::request_too_large:  return Metric::login_request_too_large;
        default:                        return Metric::login_internal_error;
        }
    case Flow::check:
        switch (e) {
        case Error::missing_session:    return Metric::check_missing_session;
        case Error::invalid_session:    return Metric::check_invalid_session;
        case Error::session_expired:    return Metric::check_session_expired;
        case Error::store_unavailable:  return Metric::check_store_unavailable;
        case Error::app_not_allowed:    return Metric::check_app_not_allowed;
        default:                        return Metric::check_internal_error;
        }
    case Flow::logout:
        return Metric::logout_failed;
    case Flow::signature:
        return Metric::signature_failed;
    case Flow::decrypt:
        break;
    }
    return Metric::decrypt_failed;
}


Metric wx_errcode_metric(long errcode) noexcept
{
    switch (errcode) {
    case 0:     return Metric::wx_errcode_0;
    case -1:    return Metric::wx_errcode_minus1;
    case 40029: return Metric::wx_errcode_40029;
    case 40163: return Metric::wx_errcode_40163;
    case 40226: return Metric::wx_errcode_40226;
    case 45011: return Metric::wx_errcode_45011;
    case 40013: return Metric::wx_errcode_40013;
    case 40125: return Metric::wx_errcode_40125;
    default:    return Metric::wx_errcode_other;
    }
}


// ---- look up --------------------------------------------------------------------------------

RedisCommands lookup_commands(std::string_view storage_key)
{
    RedisCommands cmds(2);
    cmds[0].reserve(2);
    cmds[0].emplace_back("GET");
    cmds[0].emplace_back(storage_key);
    cmds[1].reserve(2);
    cmds[1].emplace_back("PTTL");
    cmds[1].emplace_back(storage_key);
    return cmds;
}

LookupResult lookup_result(const std::vector<ReplyView> &replies, std::string_view prefix,
                           std::string_view storage_key, std::int64_t now)
{
    LookupResult res;
    const ReplyView &get = reply_at(replies, 0);

    if (get.outcome == ReplyOutcome::nil) {
        res.error = Error::session_expired;
        return res;
    }

    if (get.outcome != ReplyOutcome::value) {
        res.error = Error::store_unavailable;
        res.log = note(Severity::error,
                       "redis answered the session lookup with an error: " + get.text);
        return res;
    }

    if (!decode_session(get.text, res.record)) {
        res.record = SessionRecord{};
        res.error = Error::session_expired;
        res.log = note(Severity::error,
                       "unreadable session record in redis, the session is treated as expired");
        return res;
    }

    const ReplyView &pttl = reply_at(replies, 1);
    if (pttl.outcome == ReplyOutcome::integer) {
        res.renew_seconds = renewal_expiry(res.record, pttl.integer, now);
        if (res.renew_seconds > 0) {
            res.renewal = renewal_commands(prefix, storage_key, res.record, res.renew_seconds);
        } else {
            res.renew_seconds = 0;
        }
    }
    return res;
}


// ---- renew ----------------------------------------------------------------------------------

RedisCommands renewal_commands(std::string_view prefix, std::string_view storage_key,
                               const SessionRecord &rec, std::int64_t seconds)
{
    std::string n = std::to_string(seconds);
    return {
        {"EXPIRE", std::string(storage_key), n},
        {"EXPIRE", latest_key_storage_key(prefix, rec.appid, rec.openid), n, "GT"},
        {"EXPIRE", user_sessions_storage_key(prefix, rec.appid, rec.openid), n, "GT"},
    };
}


// ---- log in ---------------------------------------------------------------------------------

std::int64_t user_keys_expiry(const LoginPolicy &policy) noexcept
{
    return policy.ttl > policy.max_lifetime ? policy.ttl : policy.max_lifetime;
}

LoginPlan login_commands(const LoginPolicy &policy, std::string_view token,
                         const Code2SessionResult &wechat, std::int64_t now)
{
    LoginPlan plan;
    SessionRecord &rec = plan.record;

    rec.openid = wechat.openid;
    rec.session_key = wechat.session_key;
    rec.unionid = wechat.unionid;
    rec.appid = std::string(policy.appid);
    rec.issued_at = now;
    rec.ttl = policy.ttl;
    rec.renew = policy.renew;
    rec.max_until = policy.max_lifetime ? now + policy.max_lifetime : 0;

    plan.storage_key = session_storage_key(policy.prefix, token);
    plan.expires_in = initial_expiry(rec, now);

    std::string keys_ttl = std::to_string(user_keys_expiry(policy));

    plan.commands.reserve(login_command_count(policy.single_session));
    plan.commands.push_back({"SET", plan.storage_key, encode_session(rec), "EX",
                             std::to_string(plan.expires_in), "NX"});
    plan.commands.push_back({"SET", latest_key_storage_key(policy.prefix, rec.appid, rec.openid),
                             rec.session_key, "EX", keys_ttl});

    if (policy.single_session) {
        RedisCommands end = end_other_sessions_commands(policy.prefix, rec.appid, rec.openid,
                                                        plan.storage_key,
                                                        user_keys_expiry(policy));
        for (RedisCommand &cmd : end) {
            plan.commands.push_back(std::move(cmd));
        }
    }
    return plan;
}

LoginResult login_result(const std::vector<ReplyView> &replies, std::size_t expected,
                         std::string_view prefix)
{
    LoginResult res;

    for (std::size_t i = 1; i < expected; i++) {
        const ReplyView &r = reply_at(replies, i);
        if (r.outcome == ReplyOutcome::error && !r.array) {   // the script answers an array
            res.error = Error::store_unavailable;
            res.log = note(Severity::error,
                           "redis refused a login bookkeeping command: " + r.text);
            return res;
        }
    }

    const ReplyView &set = reply_at(replies, 0);
    if (set.outcome == ReplyOutcome::ok) {
        if (expected == login_command_count(true)) {
            const ReplyView &old = reply_at(replies, 2);
            for (const ReplyView &k : old.elements) {
                if (k.outcome == ReplyOutcome::value && is_session_storage_key(prefix, k.text)) {
                    res.ended.push_back(k.text);
                }
            }
        }
        return res;
    }

    res.error = Error::store_unavailable;
    if (set.outcome == ReplyOutcome::error) {
        res.log = note(Severity::error, "redis refused to store the session: " + set.text);
    } else {
        res.log = note(Severity::alert, "a new session token collided with a stored one");
    }
    return res;
}


bool is_session_storage_key(std::string_view prefix, std::string_view key) noexcept
{
    if (key.size() != prefix.size() + 2 + 64 || key.substr(0, prefix.size()) != prefix
        || key.substr(prefix.size(), 2) != "s:")
    {
        return false;
    }
    for (char c : key.substr(prefix.size() + 2)) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

LoginResult replication_result(const std::vector<ReplyView> &replies, std::size_t first,
                               std::size_t count, long long replicas, long long wait_ms)
{
    LoginResult res;
    long long fewest = replicas;
    for (std::size_t i = first; i < first + count; i++) {
        const ReplyView &r = reply_at(replies, i);
        if (r.outcome == ReplyOutcome::integer) {
            fewest = std::min(fewest, r.integer);
            continue;
        }
        res.error = Error::store_unavailable;
        res.log = note(Severity::error, "redis refused WAIT: " +
                                            (r.outcome == ReplyOutcome::error
                                                 ? r.text
                                                 : std::string("an answer that is no count")));
        return res;
    }
    if (fewest < replicas) {
        res.error = Error::store_unavailable;
        res.log = note(Severity::error, "the login's writes reached " + std::to_string(fewest) +
                                            " of " + std::to_string(replicas) +
                                            " replicas within " + std::to_string(wait_ms) +
                                            " ms");
    }
    return res;
}

RedisCommands end_sessions_commands(const std::vector<std::string> &keys)
{
    RedisCommands cmds;
    cmds.reserve(keys.size());
    for (const std::string &k : keys) {
        cmds.push_back({"DEL", k});
    }
    return cmds;
}

LoginResult end_sessions_result(const std::vector<ReplyView> &replies, std::size_t expected)
{
    LoginResult res;
    for (std::size_t i = 0; i < expected; i++) {
        const ReplyView &r = reply_at(replies, i);
        if (r.outcome == ReplyOutcome::error) {
            res.error = Error::store_unavailable;
            res.log = note(Severity::error,
                           "redis refused to end an older session of the user: " + r.text);
            return res;
        }
    }
    return res;
}


// ---- end the user's other sessions ----------------------------------------------------------

RedisCommands end_other_sessions_commands(std::string_view prefix, std::string_view appid,
                                          std::string_view openid, std::string_view storage_key,
                                          std::int64_t keys_ttl)
{
    return {{"EVAL", std::string(end_other_sessions_script), "1",
             user_sessions_storage_key(prefix, appid, openid), std::string(storage_key),
             std::to_string(keys_ttl)}};
}


// ---- log out --------------------------------------------------------------------------------

RedisCommands logout_commands(std::string_view storage_key)
{
    return {{"DEL", std::string(storage_key)}};
}

LogoutResult logout_result(const std::vector<ReplyView> &replies)
{
    LogoutResult res;
    const ReplyView &del = reply_at(replies, 0);

    if (del.outcome != ReplyOutcome::integer) {
        res.error = Error::store_unavailable;
    } else if (del.integer == 0) {
        res.error = Error::session_expired;
    } else {
        res.log = note(Severity::info, "session ended by logout");
    }
    return res;
}


// ---- load the user's newest session_key -----------------------------------------------------

RedisCommands latest_key_commands(std::string_view prefix, std::string_view appid,
                                  std::string_view openid)
{
    return {{"GET", latest_key_storage_key(prefix, appid, openid)}};
}

LatestKeyResult latest_key_result(const std::vector<ReplyView> &replies,
                                  std::string_view session_key_of_record)
{
    LatestKeyResult res;
    const ReplyView &get = reply_at(replies, 0);

    if (get.outcome == ReplyOutcome::error) {
        res.error = Error::store_unavailable;
    } else if (get.outcome == ReplyOutcome::value) {
        res.session_key = get.text;
    } else {
        res.session_key = std::string(session_key_of_record);
    }
    return res;
}

}  // namespace wxauth
