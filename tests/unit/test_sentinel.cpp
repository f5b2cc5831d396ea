#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sentinel.h"

using namespace wxauth;

namespace {

ReplyView value(const std::string &s)
{
    ReplyView v;
    v.outcome = ReplyOutcome::value;
    v.text = s;
    return v;
}

ReplyView integer(long long n)
{
    ReplyView v;
    v.outcome = ReplyOutcome::integer;
    v.integer = n;
    return v;
}

ReplyView error(const std::string &s)
{
    ReplyView v;
    v.outcome = ReplyOutcome::error;
    v.text = s;
    return v;
}

ReplyView nil()
{
    ReplyView v;
    v.outcome = ReplyOutcome::nil;
    return v;
}

ReplyView array(std::vector<ReplyView> items)
{
    ReplyView v;
    v.outcome = ReplyOutcome::error;
    v.text = "unexpected reply type 2";
    v.array = true;
    v.elements = std::move(items);
    return v;
}

}  // namespace

TEST(SentinelMasterAddr, TwoBulkStrings)
{
    NodeAddress a;
    std::string err;
    ASSERT_TRUE(parse_master_addr_reply(array({value("127.0.0.1"), value("6380")}), a, err));
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 6380);
    EXPECT_EQ(to_string(a), "127.0.0.1:6380");

    ASSERT_TRUE(parse_master_addr_reply(array({value("::1"), value("7000")}), a, err));
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(to_string(a), "[::1]:7000");
}

TEST(SentinelMasterAddr, Failures)
{
    NodeAddress a{"10.0.0.1", 1};
    std::string err;

    EXPECT_FALSE(parse_master_addr_reply(nil(), a, err));
    EXPECT_NE(err.find("does not know"), std::string::npos);

    EXPECT_FALSE(parse_master_addr_reply(error("IDONTKNOW No such master"), a, err));
    EXPECT_EQ(err, "IDONTKNOW No such master");
    EXPECT_FALSE(parse_master_addr_reply(error("NOAUTH Authentication required."), a, err));
    EXPECT_FALSE(parse_master_addr_reply(value("127.0.0.1:6380"), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(
        array({value("127.0.0.1"), value("6380"), value("x")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1"), integer(6380)}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({nil(), value("6380")}), a, err));
    // a name: workers never resolve (sentinels announcing host names are not supported)
    EXPECT_FALSE(parse_master_addr_reply(array({value("redis-1.local"), value("6379")}), a, err));
    EXPECT_NE(err.find("numeric"), std::string::npos);
    EXPECT_FALSE(parse_master_addr_reply(array({value(""), value("6379")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1"), value("0")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1"), value("65536")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1"), value("-1")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1"), value("63 79")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(array({value("127.0.0.1"), value("")}), a, err));
    EXPECT_FALSE(parse_master_addr_reply(
        array({value(std::string("127.0.0.1\0x", 11)), value("6379")}), a, err));

    // nothing was overwritten by a failure
    EXPECT_EQ(a.host, "10.0.0.1");
    EXPECT_EQ(a.port, 1);
}

TEST(SentinelRole, Roles)
{
    // ROLE on a master: ["master", offset, [[ip, port, offset], ...]]
    EXPECT_EQ(parse_role_reply(array({value("master"), integer(3129659),
                                      array({array({value("127.0.0.1"), value("9001"),
                                                    value("3129242")})})})),
              RedisRole::master);
    // on a replica: ["slave", ip, port, state, offset]: never written to
    EXPECT_EQ(parse_role_reply(array({value("slave"), value("127.0.0.1"), integer(9000),
                                      value("connected"), integer(3167038)})),
              RedisRole::replica);
    EXPECT_EQ(parse_role_reply(array({value("sentinel"), array({value("mymaster")})})),
              RedisRole::sentinel);
}

TEST(SentinelRole, AnythingElseIsUnknown)
{
    EXPECT_EQ(parse_role_reply(error("NOAUTH Authentication required.")), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(error("no reply")), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(value("master")), RedisRole::unknown);   // not an array
    EXPECT_EQ(parse_role_reply(array({})), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(array({value("MASTER")})), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(array({value("masterx")})), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(array({integer(1)})), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(array({error("master")})), RedisRole::unknown);
    EXPECT_EQ(parse_role_reply(nil()), RedisRole::unknown);
}

TEST(SentinelSwitchMaster, Message)
{
    NodeAddress to;
    ASSERT_TRUE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380", "mymaster", to));
    EXPECT_EQ(to, (NodeAddress{"127.0.0.1", 6380}));

    ASSERT_TRUE(parse_switch_master("m2 ::1 6379 ::1 6381", "m2", to));
    EXPECT_EQ(to, (NodeAddress{"::1", 6381}));
}

TEST(SentinelSwitchMaster, OtherNamesAndGarbage)
{
    NodeAddress to{"10.0.0.9", 9};
    EXPECT_FALSE(parse_switch_master("other 127.0.0.1 6379 127.0.0.1 6380", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster2 127.0.0.1 6379 127.0.0.1 6380", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380", "mymaste", to));
    EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380 x", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380 ", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster  127.0.0.1 6379 127.0.0.1 6380", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 host.local 6380", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 99999", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("", "mymaster", to));
    EXPECT_FALSE(parse_switch_master("", "", to));
    EXPECT_EQ(to, (NodeAddress{"10.0.0.9", 9}));
}

TEST(SentinelPubSub, Message)
{
    std::string payload;
    ASSERT_TRUE(parse_pubsub_message(
        array({value("message"), value("+switch-master"), value("m 1.2.3.4 1 1.2.3.5 2")}),
        "+switch-master", payload));
    EXPECT_EQ(payload, "m 1.2.3.4 1 1.2.3.5 2");

    // the confirmation of SUBSCRIBE, another channel, other shapes
    EXPECT_FALSE(parse_pubsub_message(
        array({value("subscribe"), value("+switch-master"), integer(1)}), "+switch-master",
        payload));
    EXPECT_FALSE(parse_pubsub_message(
        array({value("message"), value("+sdown"), value("x")}), "+switch-master", payload));
    EXPECT_FALSE(parse_pubsub_message(
        array({value("message"), value("+switch-master")}), "+switch-master", payload));
    EXPECT_FALSE(parse_pubsub_message(
        array({value("message"), value("+switch-master"), nil()}), "+switch-master", payload));
    EXPECT_FALSE(parse_pubsub_message(value("message"), "+switch-master", payload));
}

TEST(SentinelErrors, FailoverErrors)
{
    EXPECT_TRUE(is_failover_error(error("READONLY You can't write against a read only replica.")));
    EXPECT_TRUE(is_failover_error(error(
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")));
    EXPECT_TRUE(is_failover_error(error("READONLY")));

    EXPECT_FALSE(is_failover_error(error("READONLYX something")));
    EXPECT_FALSE(is_failover_error(error("ERR READONLY")));
    EXPECT_FALSE(is_failover_error(error("WRONGTYPE Operation against a key")));
    EXPECT_FALSE(is_failover_error(error("no reply")));   // a lost connection: handled apart
    EXPECT_FALSE(is_failover_error(value("READONLY")));
    EXPECT_FALSE(is_failover_error(nil()));
    EXPECT_FALSE(is_failover_error(array({error("READONLY x")})));
}

TEST(SentinelRotation, NextWrapsAround)
{
    EXPECT_EQ(next_sentinel(0, 3), 1u);
    EXPECT_EQ(next_sentinel(1, 3), 2u);
    EXPECT_EQ(next_sentinel(2, 3), 0u);
    EXPECT_EQ(next_sentinel(0, 1), 0u);
    EXPECT_EQ(next_sentinel(5, 0), 0u);

    // starting anywhere, count steps visit every sentinel once
    for (std::size_t start = 0; start < 4; start++) {
        std::vector<int> seen(4, 0);
        std::size_t i = start;
        for (int k = 0; k < 4; k++) {
            seen[i]++;
            i = next_sentinel(i, 4);
        }
        EXPECT_EQ(seen, std::vector<int>(4, 1));
        EXPECT_EQ(i, start);
    }
}
