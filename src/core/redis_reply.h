// Interpreting hiredis replies for the module's commands (no nginx dependency).
#pragma once

#include <string>
#include <vector>

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
    // An array reply (ROLE, SENTINEL get-master-addr-by-name, a Pub/Sub message): `array` is
    // true and `elements` holds its items, inspected the same way. The outcome of an array
    // stays `error` ("unexpected reply type"): none of the session commands expects one.
    bool array = false;
    std::vector<ReplyView> elements{};
};

// NULL (connection lost) maps to error with text "no reply". An array nested more than 8
// levels deep is given without its elements.
ReplyView inspect_reply(const redisReply *reply);

}  // namespace wxauth
