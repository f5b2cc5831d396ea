// Redis Sentinel, the pure part (no nginx dependency): what the sentinels and the discovered
// master answer, what a +switch-master message says, which sentinel to ask next, and which
// Redis errors mean "the master moved".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "redis_reply.h"

namespace wxauth {

// A Redis node as a sentinel names it. The module only ever connects to numeric addresses
// (a worker never resolves a name), so `host` is a numeric IPv4 or IPv6 address.
struct NodeAddress {
    std::string host;
    int port = 0;

    bool operator==(const NodeAddress &o) const { return host == o.host && port == o.port; }
    bool operator!=(const NodeAddress &o) const { return !(*this == o); }
};

// "ip:port", "[ipv6]:port"
std::string to_string(const NodeAddress &a);

// A host and a port as sentinels send them: a numeric IP address (no name: sentinels with
// `announce-hostnames yes` are not supported) and a decimal port 1-65535.
bool parse_node_address(std::string_view host, std::string_view port, NodeAddress &out,
                        std::string &error);

// The reply to `SENTINEL get-master-addr-by-name <name>`: an array of two bulk strings, the
// master's ip and port. nil (this sentinel does not monitor the name) and errors (e.g.
// -IDONTKNOW, -NOAUTH) are failures, explained in `error` (safe to log).
bool parse_master_addr_reply(const ReplyView &reply, NodeAddress &out, std::string &error);

enum class RedisRole {
    master,
    replica,    // "slave" in ROLE's answer
    sentinel,
    unknown,    // an error, no reply, or an answer that is not a ROLE answer
};

// The reply to `ROLE`: an array whose first element is "master", "slave" or "sentinel".
RedisRole parse_role_reply(const ReplyView &reply);

// A +switch-master message: "<name> <old-ip> <old-port> <new-ip> <new-port>". True when it is
// well formed and about `name` (exact match); `to` is then the new master.
bool parse_switch_master(std::string_view payload, std::string_view name, NodeAddress &to);

// A reply on a SUBSCRIBE connection, as hiredis hands it: ["message", channel, payload].
// True for a message on `channel`; `payload` is then its text.
bool parse_pubsub_message(const ReplyView &reply, std::string_view channel,
                          std::string &payload);

// Errors that mean the node is no longer (or not yet) the master: -READONLY (a demoted master,
// a replica) and -MASTERDOWN (a replica that lost its master). Ask the sentinels again.
bool is_failover_error(const ReplyView &reply);

// The sentinel to ask after `current` did not answer (or, for a subscription, went away):
// the next one in the configured order, wrapping around.
std::size_t next_sentinel(std::size_t current, std::size_t count) noexcept;

}  // namespace wxauth
