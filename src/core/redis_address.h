// Parsing the argument of `wxauth_redis`: host:port, [v6]:port or unix:/path, plus options.
#pragma once

#include <string>
#include <string_view>

namespace wxauth {

struct RedisAddress {
    enum class Kind { tcp, unix_socket };
    Kind kind = Kind::tcp;
    std::string host;       // as written (name or numeric), without brackets; empty for unix
    int port = 6379;
    std::string path;       // for unix sockets
};

// "127.0.0.1:6379", "localhost:6380", "[::1]:6379", "unix:/run/redis.sock", "host" (port 6379).
// Returns false and sets `error` to a human-readable reason on malformed input.
bool parse_redis_address(std::string_view text, RedisAddress &out, std::string &error);

}  // namespace wxauth
