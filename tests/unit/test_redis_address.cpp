#include <string>

#include <gtest/gtest.h>

#include "redis_address.h"

using namespace wxauth;
using Kind = RedisAddress::Kind;

namespace {

RedisAddress ok(const std::string &text)
{
    RedisAddress a;
    std::string error;
    EXPECT_TRUE(parse_redis_address(text, a, error)) << text << ": " << error;
    EXPECT_TRUE(error.empty());
    return a;
}

void bad(const std::string &text)
{
    RedisAddress a;
    a.host = "untouched";
    std::string error;
    EXPECT_FALSE(parse_redis_address(text, a, error)) << text;
    EXPECT_FALSE(error.empty()) << text;
    EXPECT_EQ(a.host, "untouched") << text;
}

}  // namespace

TEST(RedisAddress, Tcp)
{
    RedisAddress a = ok("127.0.0.1:6379");
    EXPECT_EQ(a.kind, Kind::tcp);
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 6379);
    EXPECT_TRUE(a.path.empty());

    a = ok("localhost:6380");
    EXPECT_EQ(a.host, "localhost");
    EXPECT_EQ(a.port, 6380);

    a = ok("redis.internal");
    EXPECT_EQ(a.kind, Kind::tcp);
    EXPECT_EQ(a.host, "redis.internal");
    EXPECT_EQ(a.port, 6379);

    EXPECT_EQ(ok("h:1").port, 1);
    EXPECT_EQ(ok("h:65535").port, 65535);
    EXPECT_EQ(ok("h:06379").port, 6379);
}

TEST(RedisAddress, Ipv6)
{
    RedisAddress a = ok("[::1]:6379");
    EXPECT_EQ(a.kind, Kind::tcp);
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(a.port, 6379);

    a = ok("[2001:db8::7]");
    EXPECT_EQ(a.host, "2001:db8::7");
    EXPECT_EQ(a.port, 6379);

    a = ok("[fe80::1]:7000");
    EXPECT_EQ(a.host, "fe80::1");
    EXPECT_EQ(a.port, 7000);
}

TEST(RedisAddress, Unix)
{
    RedisAddress a = ok("unix:/run/redis/redis.sock");
    EXPECT_EQ(a.kind, Kind::unix_socket);
    EXPECT_EQ(a.path, "/run/redis/redis.sock");
    EXPECT_TRUE(a.host.empty());

    a = ok("unix:relative.sock");
    EXPECT_EQ(a.path, "relative.sock");
}

TEST(RedisAddress, Rejected)
{
    bad("");
    bad(":6379");
    bad("[]:6379");
    bad("[]");
    bad("host:");
    bad("host:0");
    bad("host:65536");
    bad("host:99999");
    bad("host:123456");
    bad("host:-1");
    bad("host:+80");
    bad("host:63a9");
    bad("host:port");
    bad("host: 6379");
    bad("host:6379 ");
    bad("host:6379:1");
    bad("::1");
    bad("unix:");
    bad("[::1");
    bad("[::1:6379");
    bad("::1]:6379");
    bad("host]");
    bad("[host]]:1");
    bad("[[host]:1");
    bad("[::1]6379");
    bad("[::1]:");
    bad("[::1]:0");
    bad("[::1]:70000");
    bad("my host:6379");
    bad("host\n:6379");
}
