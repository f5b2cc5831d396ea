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
