// The session protocol, without nginx: for each session operation the Redis commands to send
// (one pipelined batch) and the reading of their replies into a result, plus the error ->
// metric and error -> log severity mappings of the module.
//
// The glue sends `commands` in order as one batch and, once the batch completed
// (NGX_HTTP_WXAUTH_REDIS_OK), hands the replies (one ReplyView per command, same order) to the
// matching *_result function. A batch that failed or timed out is store_unavailable without a
// log line of its own (the Redis adapter logs it): the glue keeps that check.
//
// Every *_result function is total: a reply that is missing (replies shorter than the batch)
// is read as a NULL reply (error "no reply"), and every reply shape (value, nil, integer,
// status, error) gives a defined result. Log notes carry the text without the "wxauth: "
// prefix (the glue adds it) and never the session_key or the AppSecret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "errors.h"
#include "metrics.h"
#include "redis_reply.h"
#include "session.h"
#include "wechat.h"

namespace wxauth {

// One Redis command, argument by argument (binary safe), and a pipelined batch of them.
using RedisCommand = std::vector<std::string>;
using RedisCommands = std::vector<RedisCommand>;

// Log severities, mapped to NGX_LOG_INFO / WARN / ERR / ALERT by the glue.
enum class Severity { info, warn, error, alert };

// The level a refusal with this error is logged at: trouble with Redis or WeChat
// (store_unavailable, wechat_unavailable, wechat_timeout) error, rate_limited and user_blocked
// warn, internal_error alert, client mistakes info.
Severity severity(Error e) noexcept;

// A line for the error log. Results carry std::nullopt when there is nothing to log.
struct LogNote {
    Severity severity = Severity::info;
    std::string text;
};

// The handlers whose outcomes are counted.
enum class Flow { login, check, logout, signature, decrypt };

// login_ok, check_ok, logout_ok, signature_ok, decrypt_ok.
Metric success_metric(Flow f) noexcept;
// login: login_<error> for invalid_request, method_not_allowed, invalid_code, user_blocked,
//        rate_limited, wechat_unavailable, wechat_timeout, store_unavailable; any other error
//        login_internal_error.
// check: check_<error> for missing_session, invalid_session, session_expired,
//        store_unavailable, app_not_allowed; any other error check_internal_error.
// logout, signature, decrypt: logout_failed, signature_failed, decrypt_failed whatever the error.
Metric failure_metric(Flow f, Error e) noexcept;
// wx_errcode_0, _minus1, _40029, _40163, _40226, _45011, _40013, _40125, else wx_errcode_other.
Metric wx_errcode_metric(long errcode) noexcept;


// ---- look up (the session check): GET + PTTL of the session key, pipelined ----------------

// {GET storage_key}, {PTTL storage_key}
RedisCommands lookup_commands(std::string_view storage_key);

struct LookupResult {
    std::optional<Error> error;     // none: the session is found, `record` is it
    SessionRecord record;
    std::optional<LogNote> log;
    // Sliding expiry: the expiry the renewal sets (seconds) and its fire-and-forget commands
    // (renewal_commands), or 0 and none when no renewal is due. The glue sends them only once
    // it accepts the session (app allowed, identity copied), as today.
    std::int64_t renew_seconds = 0;
    RedisCommands renewal;
};

// replies[0] (GET):
//   nil                                -> session_expired, no log
//   error, NULL, missing, integer, "OK" status (anything but a string value)
//                                      -> store_unavailable, error log "redis answered the
//                                         session lookup with an error: <reply text>"
//   a value decode_session refuses     -> session_expired, error log "unreadable session
//                                         record in redis, the session is treated as expired"
//   a record                           -> found
// replies[1] (PTTL): when it is an integer and renewal_expiry(record, pttl, now) > 0, a renewal
// is due; any other reply: none.
LookupResult lookup_result(const std::vector<ReplyView> &replies, std::string_view prefix,
                           std::string_view storage_key, std::int64_t now);


// ---- renew (fire-and-forget, no reply is read) ---------------------------------------------

// {EXPIRE storage_key N}, {EXPIRE latest_key N GT}, {EXPIRE user_sessions_key N GT}: the user's
// newest session_key and session set live as long as the session (GT: never shortened).
RedisCommands renewal_commands(std::string_view prefix, std::string_view storage_key,
                               const SessionRecord &rec, std::int64_t seconds);


// ---- log in ---------------------------------------------------------------------------------

// The configuration of the login location (durations in seconds; 0 max_lifetime: none).
struct LoginPolicy {
    std::string_view prefix;
    std::string_view appid;
    std::int64_t ttl = 0;
    bool renew = false;
    std::int64_t max_lifetime = 0;
    bool single_session = false;
};

struct LoginPlan {
    std::string storage_key;        // session_storage_key(prefix, token)
    SessionRecord record;           // what is stored
    std::int64_t expires_in = 0;    // initial_expiry(record, now): the answer's expires_in
    RedisCommands commands;         // login_command_count(single_session) commands
};

// The expiry of the user's keys (newest session_key, session set): max(ttl, max_lifetime).
std::int64_t user_keys_expiry(const LoginPolicy &policy) noexcept;

// Commands of a login batch: 2, or 3 with single_session.
constexpr std::size_t login_command_count(bool single_session) noexcept
{
    return single_session ? 3 : 2;
}

// The record: wechat's openid, session_key, unionid; policy's appid; iat now; ttl; rn; mx now +
// max_lifetime (0 when max_lifetime is 0). The batch:
//   {SET storage_key <record JSON> EX <expires_in> NX}
//   {SET latest_key <session_key> EX <user_keys_expiry>}
//   with single_session: end_other_sessions_commands(..., user_keys_expiry)
// `wechat` is a Code2SessionResult of kind ok; `token` comes from generate_token().
LoginPlan login_commands(const LoginPolicy &policy, std::string_view token,
                         const Code2SessionResult &wechat, std::int64_t now);

struct LoginResult {
    std::optional<Error> error;     // none: stored, answer with the token (after `ended`)
    std::optional<LogNote> log;
    // Single session: the storage keys of the user's older sessions, to end (end_sessions_
    // commands) before the login answers. Only keys of this prefix's session shape
    // (prefix + "s:" + 64 hex digits) are taken from the script's answer.
    std::vector<std::string> ended;
};

// `expected`: the number of commands sent (LoginPlan::commands.size()).
// First, any of replies[1 .. expected-1] that is an error (NULL, missing; an array is not) ->
// store_unavailable, error log "redis refused a login bookkeeping command: <text>" (the first
// one); other shapes are accepted. Then replies[0]: "OK" status -> stored; an error (NULL, missing) ->
// store_unavailable, error log "redis refused to store the session: <text>"; anything else
// (nil: the NX collision; a value, an integer) -> store_unavailable, alert log "a new session
// token collided with a stored one". When stored and expected is 3 (single session), an array
// reply of the script lists the sessions to end (`ended`; other shapes: none).
LoginResult login_result(const std::vector<ReplyView> &replies, std::size_t expected,
                         std::string_view prefix);

// wxauth_login_replicas N: after the login batch, each node that took its writes answered
// `WAIT N <ms>` on the same connection (replies[first .. first+count-1]). Each must be an
// integer >= N; otherwise -> store_unavailable (the session may not survive a failover, so no
// token is given out), error log "the login's writes reached <K> of <N> replicas within <ms> ms"
// (the smallest count) or "redis refused WAIT: <text>". count 0: always done.
LoginResult replication_result(const std::vector<ReplyView> &replies, std::size_t first,
                               std::size_t count, long long replicas, long long wait_ms);

// True for prefix + "s:" + 64 lowercase hex digits (session_storage_key's shape).
bool is_session_storage_key(std::string_view prefix, std::string_view key) noexcept;

// {DEL key} for each key: one command per key, so that in Redis Cluster each goes to the node
// of its own slot.
RedisCommands end_sessions_commands(const std::vector<std::string> &keys);

// Any reply that is an error (NULL, missing) -> store_unavailable, error log "redis refused to
// end an older session of the user: <text>" (the login is refused: the single-session promise
// would not hold); integers (1 ended, 0 already gone) and other shapes: done.
LoginResult end_sessions_result(const std::vector<ReplyView> &replies, std::size_t expected);


// ---- end the user's other sessions (single-session policy, part of the login batch) --------

// The Lua script: makes the user's session set (KEYS[1]) hold only ARGV[1] (the new session's
// storage key), with expiry ARGV[2], and returns the keys it held before: the sessions to end.
// It touches only KEYS[1], so it is valid in Redis Cluster, where a user's sessions live in
// other slots (each session key is hashed on its own token): the glue ends them with
// end_sessions_commands, one DEL per key, each routed to its own node, before it answers.
inline constexpr std::string_view end_other_sessions_script =
    "local old = redis.call('SMEMBERS', KEYS[1]) "
    "redis.call('DEL', KEYS[1]) "
    "redis.call('SADD', KEYS[1], ARGV[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[2]) "
    "return old";

// {EVAL <script> 1 <user_sessions_key> <storage_key> <keys_ttl>}. Its reply is read by
// login_result (an error refuses the login).
RedisCommands end_other_sessions_commands(std::string_view prefix, std::string_view appid,
                                          std::string_view openid, std::string_view storage_key,
                                          std::int64_t keys_ttl);


// ---- log out --------------------------------------------------------------------------------

// {DEL storage_key}
RedisCommands logout_commands(std::string_view storage_key);

struct LogoutResult {
    std::optional<Error> error;     // none: the session is ended
    std::optional<LogNote> log;     // on success: info "session ended by logout"
};

// replies[0]: not an integer (error, NULL, missing, nil, value, status) -> store_unavailable;
// 0 -> session_expired; any other integer -> ended. No log line on failure (the glue logs the
// refusal).
LogoutResult logout_result(const std::vector<ReplyView> &replies);


// ---- load the user's newest session_key -----------------------------------------------------

// {GET latest_key}
RedisCommands latest_key_commands(std::string_view prefix, std::string_view appid,
                                  std::string_view openid);

struct LatestKeyResult {
    std::optional<Error> error;
    std::string session_key;        // the key to use when no error
    std::optional<LogNote> log;     // always none today
};

// replies[0]: error (NULL, missing) -> store_unavailable; a value -> that key (WeChat rotated
// it at a later login); anything else (nil, integer, "OK" status) -> session_key_of_record.
LatestKeyResult latest_key_result(const std::vector<ReplyView> &replies,
                                  std::string_view session_key_of_record);

}  // namespace wxauth
