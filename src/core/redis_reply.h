// Interpreting hiredis replies for the module's commands (no nginx dependency).
#pragma once

#include <string>

struct redisReply;

namespace wxauth {

enum class ReplyOutcome {
    value,    // a bulk/status string reply
    nil,      // nil reply (key absent)
    integer,  // integer reply
    ok,       // status "OK"
    error,    // Redis error reply, NULL reply, or an unexpected type
};

struct ReplyView {
    ReplyOutcome outcome = ReplyOutcome::error;
    std::string text;       // bulk/status contents, or the error message (safe to log)
    long long integer = 0;
};

// NULL (connection lost) maps to error with text "no reply".
ReplyView inspect_reply(const redisReply *reply);

}  // namespace wxauth
