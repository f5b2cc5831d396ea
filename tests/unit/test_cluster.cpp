#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "cluster.h"

using namespace wxauth;

// The Redis Cluster specification's check value and examples.
TEST(Cluster, Crc16Xmodem)
{
    EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
    EXPECT_EQ(crc16_xmodem(""), 0);
    EXPECT_EQ(crc16_xmodem(std::string("\0", 1)), 0);
    EXPECT_EQ(crc16_xmodem("A"), 0x58E5);
}

// The table-driven CRC against the bit-by-bit definition, on random texts of every length
// up to 300 bytes and every byte value.
TEST(Cluster, Crc16XmodemMatchesTheBitwiseDefinition)
{
    auto bitwise = [](const std::string &data) {
        std::uint16_t crc = 0;
        for (unsigned char byte : data) {
            crc ^= std::uint16_t(byte) << 8;
            for (int bit = 0; bit < 8; ++bit) {
                crc = (crc & 0x8000) ? std::uint16_t((crc << 1) ^ 0x1021) : std::uint16_t(crc << 1);
            }
        }
        return crc;
    };
    std::mt19937 rng(16384);
    for (int len = 0; len <= 300; ++len) {
        std::string data(std::size_t(len), '\0');
        for (char &c : data) {
            c = char(rng() & 0xff);
        }
        ASSERT_EQ(crc16_xmodem(data), bitwise(data)) << "length " << len;
    }
    for (int b = 0; b < 256; ++b) {
        std::string one(1, char(b));
        ASSERT_EQ(crc16_xmodem(one), bitwise(one)) << "byte " << b;
    }
}

TEST(Cluster, KeySlotOfKnownKeys)
{
    // as CLUSTER KEYSLOT answers
    EXPECT_EQ(key_slot("foo"), 12182u);
    EXPECT_EQ(key_slot("bar"), 5061u);
    EXPECT_EQ(key_slot("hello"), 866u);
    EXPECT_EQ(key_slot(""), 0u);
}

TEST(Cluster, HashTags)
{
    EXPECT_EQ(key_hash_part("{user1000}.following"), "user1000");
    EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
    EXPECT_EQ(key_hash_part("foo{}{bar}"), "foo{}{bar}");      // empty tag: the whole key
    EXPECT_EQ(key_hash_part("foo{{bar}}zap"), "{bar");          // up to the first '}'
    EXPECT_EQ(key_hash_part("foo{bar}{zap}"), "bar");           // the first tag only
    EXPECT_EQ(key_hash_part("foo{bar"), "foo{bar");             // no closing brace
    EXPECT_EQ(key_hash_part("}foo{bar}"), "bar");
    EXPECT_EQ(key_slot("wxauth:u:{wx1:o1}"), key_slot("x{wx1:o1}y"));
}

TEST(Cluster, Redirects)
{
    ClusterReply r = parse_cluster_error("MOVED 3999 127.0.0.1:6381");
    EXPECT_EQ(r.kind, ClusterReply::Kind::moved);
    EXPECT_EQ(r.slot, 3999u);
    EXPECT_EQ(r.host, "127.0.0.1");
    EXPECT_EQ(r.port, 6381);

    r = parse_cluster_error("ASK 16383 10.0.0.5:7002");
    EXPECT_EQ(r.kind, ClusterReply::Kind::ask);
    EXPECT_EQ(r.slot, 16383u);
    EXPECT_EQ(r.host, "10.0.0.5");
    EXPECT_EQ(r.port, 7002);

    r = parse_cluster_error("MOVED 0 ::1:7000");
    EXPECT_EQ(r.kind, ClusterReply::Kind::moved);
    EXPECT_EQ(r.host, "::1");
    EXPECT_EQ(r.port, 7000);

    r = parse_cluster_error("MOVED 12 [fe80::1]:7001");
    EXPECT_EQ(r.kind, ClusterReply::Kind::moved);
    EXPECT_EQ(r.host, "fe80::1");

    EXPECT_EQ(parse_cluster_error("TRYAGAIN Multiple keys request during rehashing of slot").kind,
              ClusterReply::Kind::try_again);
    EXPECT_EQ(parse_cluster_error("CLUSTERDOWN The cluster is down").kind,
              ClusterReply::Kind::cluster_down);
    EXPECT_EQ(parse_cluster_error("CLUSTERDOWN").kind, ClusterReply::Kind::cluster_down);
}

TEST(Cluster, MalformedRedirectsAreNotRedirects)
{
    const char *bad[] = {
        "MOVED",
        "MOVED ",
        "MOVED 3999",
        "MOVED 3999 ",
        "MOVED 16384 127.0.0.1:6381",     // no such slot
        "MOVED -1 127.0.0.1:6381",
        "MOVED 12x 127.0.0.1:6381",
        "MOVED 3999 127.0.0.1",           // no port
        "MOVED 3999 127.0.0.1:",
        "MOVED 3999 127.0.0.1:0",
        "MOVED 3999 127.0.0.1:65536",
        "MOVED 3999 :6381",               // no host
        "MOVED 3999 a b:6381",
        "ASK 1",
        "MOVEDX 1 127.0.0.1:1",
        "ASKING",
        "ERR unknown command",
        "READONLY You can't write against a read only replica.",
        "",
    };
    for (const char *text : bad) {
        ClusterReply r = parse_cluster_error(text);
        EXPECT_TRUE(r.kind != ClusterReply::Kind::moved && r.kind != ClusterReply::Kind::ask)
            << text;
        EXPECT_EQ(r.port, 0) << text;
        EXPECT_TRUE(r.host.empty()) << text;
    }
    EXPECT_EQ(parse_cluster_error("TRYAGAINX").kind, ClusterReply::Kind::other);
}

namespace {

ReplyView v_str(const std::string &s)
{
    ReplyView v;
    v.outcome = ReplyOutcome::value;
    v.text = s;
    return v;
}

ReplyView v_int(long long n)
{
    ReplyView v;
    v.outcome = ReplyOutcome::integer;
    v.integer = n;
    return v;
}

ReplyView v_arr(std::vector<ReplyView> items)
{
    ReplyView v;
    v.array = true;
    v.elements = std::move(items);
    return v;
}

ReplyView node(const std::string &host, long long port)
{
    return v_arr({v_str(host), v_int(port), v_str("07c37dfeb235213a872192d90877d0cd55635b91")});
}

}  // namespace

TEST(Cluster, CommandKey)
{
    EXPECT_EQ(command_key({"GET", "k1"}), "k1");
    EXPECT_EQ(command_key({"SET", "k2", "v", "EX", "5", "NX"}), "k2");
    EXPECT_EQ(command_key({"EVAL", "return 1", "1", "u:1", "a"}), "u:1");
    EXPECT_EQ(command_key({"EVAL", "return 1", "0"}), "");
    EXPECT_EQ(command_key({"PING"}), "");
    EXPECT_EQ(command_key({"CLUSTER", "SLOTS"}), "");
    EXPECT_EQ(command_key({"WAIT", "1", "100"}), "");
    EXPECT_EQ(command_key({}), "");
}

TEST(Cluster, SlotsReplyOfThreeMasters)
{
    ReplyView reply = v_arr({
        v_arr({v_int(0), v_int(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7004)}),
        v_arr({v_int(5461), v_int(10922), node("127.0.0.1", 7001), node("127.0.0.1", 7005)}),
        v_arr({v_int(10923), v_int(16383), node("", 7002), node("?", 7003)}),
    });
    std::vector<SlotRange> ranges;
    std::string error;
    ASSERT_TRUE(parse_cluster_slots(reply, "10.0.0.9", ranges, error)) << error;
    ASSERT_EQ(ranges.size(), 3u);
    EXPECT_EQ(ranges[0].first, 0u);
    EXPECT_EQ(ranges[0].last, 5460u);
    EXPECT_EQ(to_string(ranges[0].master), "127.0.0.1:7000");
    ASSERT_EQ(ranges[0].replicas.size(), 1u);
    EXPECT_EQ(to_string(ranges[0].replicas[0]), "127.0.0.1:7004");
    // an empty host: the node that was asked; an unknown replica ("?") is left out
    EXPECT_EQ(to_string(ranges[2].master), "10.0.0.9:7002");
    EXPECT_TRUE(ranges[2].replicas.empty());
}

TEST(Cluster, SlotsReplyRefusals)
{
    std::vector<SlotRange> ranges;
    std::string error;
    ReplyView err;
    err.outcome = ReplyOutcome::error;
    err.text = "ERR This instance has cluster support disabled";
    EXPECT_FALSE(parse_cluster_slots(err, "127.0.0.1", ranges, error));
    EXPECT_NE(error.find("cluster support disabled"), std::string::npos);

    // reversed, out of range, a host name, a bad port, a short range
    EXPECT_FALSE(parse_cluster_slots(
        v_arr({v_arr({v_int(10), v_int(5), node("127.0.0.1", 7000)})}), "", ranges, error));
    EXPECT_FALSE(parse_cluster_slots(
        v_arr({v_arr({v_int(0), v_int(16384), node("127.0.0.1", 7000)})}), "", ranges, error));
    EXPECT_FALSE(parse_cluster_slots(
        v_arr({v_arr({v_int(0), v_int(1), node("redis-1.example", 7000)})}), "", ranges, error));
    EXPECT_FALSE(parse_cluster_slots(
        v_arr({v_arr({v_int(0), v_int(1), node("127.0.0.1", 70000)})}), "", ranges, error));
    EXPECT_FALSE(parse_cluster_slots(v_arr({v_arr({v_int(0), v_int(1)})}), "", ranges, error));
    // an unknown master endpoint: the range is left out, the rest is used
    ASSERT_TRUE(parse_cluster_slots(
        v_arr({v_arr({v_int(0), v_int(1), node("?", 7000)}),
               v_arr({v_int(2), v_int(3), node("::1", 7001)})}), "", ranges, error));
    ASSERT_EQ(ranges.size(), 1u);
    EXPECT_EQ(to_string(ranges[0].master), "[::1]:7001");
    // no slots at all (a cluster being created): an empty map, not a failure
    ASSERT_TRUE(parse_cluster_slots(v_arr({}), "", ranges, error));
    EXPECT_TRUE(ranges.empty());
}

TEST(Cluster, SlotMapAssignAndMove)
{
    SlotMap map;
    EXPECT_EQ(map.uncovered(), cluster_slots);
    EXPECT_EQ(map.owner(0), SlotMap::none);
    EXPECT_EQ(map.owner(cluster_slots), SlotMap::none);

    NodeAddress a{"127.0.0.1", 7000}, b{"127.0.0.1", 7001}, ra{"127.0.0.1", 7003};
    std::vector<SlotRange> ranges(2);
    ranges[0].first = 0;
    ranges[0].last = 8191;
    ranges[0].master = a;
    ranges[0].replicas = {ra};
    ranges[1].first = 8192;
    ranges[1].last = 16383;
    ranges[1].master = b;
    EXPECT_EQ(map.assign(ranges), cluster_slots);
    EXPECT_EQ(map.uncovered(), 0u);
    std::uint16_t na = map.find(a), nb = map.find(b), nra = map.find(ra);
    ASSERT_NE(na, SlotMap::none);
    ASSERT_NE(nb, SlotMap::none);
    ASSERT_NE(nra, SlotMap::none);
    EXPECT_EQ(map.owner(key_slot("hello")), na);   // 866
    EXPECT_EQ(map.owner(key_slot("foo")), nb);     // 12182
    EXPECT_EQ(map.slots_of(na), 8192u);
    ASSERT_EQ(map.replicas()[na].size(), 1u);
    EXPECT_EQ(map.replicas()[na][0], nra);

    // the same map again changes nothing, numbers stay
    EXPECT_EQ(map.assign(ranges), 0u);
    EXPECT_EQ(map.find(a), na);

    // a MOVED
    map.move(866, nb);
    EXPECT_EQ(map.owner(866), nb);
    EXPECT_EQ(map.slots_of(na), 8191u);

    // a failover: the replica serves a's slots now; a keeps its number
    ranges[0].master = ra;
    ranges[0].replicas.clear();
    EXPECT_EQ(map.assign(ranges), 8192u);
    EXPECT_EQ(map.owner(0), nra);
    EXPECT_EQ(map.slots_of(na), 0u);
    EXPECT_EQ(map.find(a), na);
    EXPECT_EQ(map.node_count(), 3u);
}

TEST(Cluster, SlotMapNodeLimit)
{
    SlotMap map;
    for (std::size_t i = 0; i < SlotMap::max_nodes; i++) {
        ASSERT_NE(map.intern({"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                              7000}),
                  SlotMap::none);
    }
    EXPECT_EQ(map.intern({"127.0.0.1", 1}), SlotMap::none);
    EXPECT_EQ(map.node_count(), SlotMap::max_nodes);
}

TEST(Cluster, SlotMapReplicasOfEveryMaster)
{
    SlotMap map;
    // the seeds are known first (as the worker interns them)
    map.intern({"127.0.0.1", 7001});
    std::vector<SlotRange> ranges(3);
    for (unsigned i = 0; i < 3; i++) {
        ranges[i].first = i * 5000;
        ranges[i].last = i * 5000 + 4999;
        ranges[i].master = {"127.0.0.1", int(7000 + i)};
        ranges[i].replicas = {{"127.0.0.1", int(7003 + i)}};
    }
    ranges[2].last = 16383;
    map.assign(ranges);
    for (unsigned i = 0; i < 3; i++) {
        std::uint16_t m = map.find(ranges[i].master);
        ASSERT_NE(m, SlotMap::none);
        ASSERT_EQ(map.replicas().at(m).size(), 1u) << i;
        EXPECT_EQ(map.address(map.replicas()[m][0]), ranges[i].replicas[0]);
    }
}

TEST(Cluster, SlotMapSlotCounts)
{
    SlotMap map;
    EXPECT_TRUE(map.slot_counts().empty());
    std::vector<SlotRange> ranges(2);
    ranges[0].first = 0;
    ranges[0].last = 99;
    ranges[0].master = {"127.0.0.1", 7000};
    ranges[0].replicas = {{"127.0.0.1", 7002}};
    ranges[1].first = 100;
    ranges[1].last = 16000;
    ranges[1].master = {"127.0.0.1", 7001};
    map.assign(ranges);
    std::vector<std::size_t> counts = map.slot_counts();
    ASSERT_EQ(counts.size(), map.node_count());
    EXPECT_EQ(counts[map.find(ranges[0].master)], 100u);
    EXPECT_EQ(counts[map.find(ranges[1].master)], 15901u);
    EXPECT_EQ(counts[map.find(ranges[0].replicas[0])], 0u);
    for (std::uint16_t n = 0; n < map.node_count(); n++) {
        EXPECT_EQ(counts[n], map.slots_of(n));
    }
    EXPECT_EQ(map.uncovered(), 16384u - 16001u);
}
