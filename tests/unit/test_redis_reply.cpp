#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "redis_reply.h"

using namespace wxauth;

namespace {

redisReply make(int type, const char *str = nullptr, long long integer = 0)
{
    redisReply r{};
    r.type = type;
    r.integer = integer;
    if (str) {
        r.str = const_cast<char *>(str);
        r.len = std::char_traits<char>::length(str);
    }
    return r;
}

}  // namespace

TEST(RedisReply, NullReply)
{
    ReplyView v = inspect_reply(nullptr);
    EXPECT_EQ(v.outcome, ReplyOutcome::error);
    EXPECT_EQ(v.text, "no reply");
}

TEST(RedisReply, Nil)
{
    redisReply r = make(REDIS_REPLY_NIL);
    ReplyView v = inspect_reply(&r);
    EXPECT_EQ(v.outcome, ReplyOutcome::nil);
    EXPECT_TRUE(v.text.empty());
}

TEST(RedisReply, BulkString)
{
    redisReply r = make(REDIS_REPLY_STRING, R"({"v":1,"openid":"o1"})");
    ReplyView v = inspect_reply(&r);
    EXPECT_EQ(v.outcome, ReplyOutcome::value);
    EXPECT_EQ(v.text, R"({"v":1,"openid":"o1"})");

    char binary[] = {'a', '\0', 'b'};
    redisReply b = make(REDIS_REPLY_STRING);
    b.str = binary;
    b.len = sizeof binary;
    v = inspect_reply(&b);
    EXPECT_EQ(v.outcome, ReplyOutcome::value);
    EXPECT_EQ(v.text, std::string(binary, 3));

    redisReply empty = make(REDIS_REPLY_STRING, "");
    v = inspect_reply(&empty);
    EXPECT_EQ(v.outcome, ReplyOutcome::value);
    EXPECT_EQ(v.text, "");

    // "OK" as a bulk string is a value, not a status.
    redisReply bulk_ok = make(REDIS_REPLY_STRING, "OK");
    EXPECT_EQ(inspect_reply(&bulk_ok).outcome, ReplyOutcome::value);
}

TEST(RedisReply, Status)
{
    redisReply ok = make(REDIS_REPLY_STATUS, "OK");
    ReplyView v = inspect_reply(&ok);
    EXPECT_EQ(v.outcome, ReplyOutcome::ok);
    EXPECT_EQ(v.text, "OK");

    redisReply queued = make(REDIS_REPLY_STATUS, "QUEUED");
    v = inspect_reply(&queued);
    EXPECT_EQ(v.outcome, ReplyOutcome::value);
    EXPECT_EQ(v.text, "QUEUED");

    redisReply pong = make(REDIS_REPLY_STATUS, "PONG");
    EXPECT_EQ(inspect_reply(&pong).outcome, ReplyOutcome::value);
}

TEST(RedisReply, Error)
{
    redisReply e = make(REDIS_REPLY_ERROR, "WRONGTYPE Operation against a key holding the wrong kind of value");
    ReplyView v = inspect_reply(&e);
    EXPECT_EQ(v.outcome, ReplyOutcome::error);
    EXPECT_EQ(v.text, "WRONGTYPE Operation against a key holding the wrong kind of value");

    redisReply empty = make(REDIS_REPLY_ERROR);
    v = inspect_reply(&empty);
    EXPECT_EQ(v.outcome, ReplyOutcome::error);
    EXPECT_FALSE(v.text.empty());
}

TEST(RedisReply, Integer)
{
    redisReply one = make(REDIS_REPLY_INTEGER, nullptr, 1);
    ReplyView v = inspect_reply(&one);
    EXPECT_EQ(v.outcome, ReplyOutcome::integer);
    EXPECT_EQ(v.integer, 1);

    redisReply neg = make(REDIS_REPLY_INTEGER, nullptr, -2);  // TTL of a missing key
    v = inspect_reply(&neg);
    EXPECT_EQ(v.outcome, ReplyOutcome::integer);
    EXPECT_EQ(v.integer, -2);

    redisReply big = make(REDIS_REPLY_INTEGER, nullptr, 9223372036854775807LL);
    EXPECT_EQ(inspect_reply(&big).integer, 9223372036854775807LL);
}

TEST(RedisReply, UnexpectedType)
{
    redisReply arr = make(REDIS_REPLY_ARRAY);
    ReplyView v = inspect_reply(&arr);
    EXPECT_EQ(v.outcome, ReplyOutcome::error);
    EXPECT_FALSE(v.text.empty());

    redisReply weird = make(42);
    EXPECT_EQ(inspect_reply(&weird).outcome, ReplyOutcome::error);
}

TEST(RedisReply, ArrayKeepsItsElements)
{
    redisReply ip = make(REDIS_REPLY_STRING, "127.0.0.1");
    redisReply port = make(REDIS_REPLY_STRING, "6380");
    redisReply nil = make(REDIS_REPLY_NIL);
    redisReply num = make(REDIS_REPLY_INTEGER, nullptr, 42);
    redisReply *inner_items[] = {&ip, &num};
    redisReply inner = make(REDIS_REPLY_ARRAY);
    inner.element = inner_items;
    inner.elements = 2;
    redisReply *items[] = {&ip, &port, &nil, &inner};
    redisReply arr = make(REDIS_REPLY_ARRAY);
    arr.element = items;
    arr.elements = 4;

    ReplyView v = inspect_reply(&arr);
    // the outcome of an array is what it always was: no session command expects one
    EXPECT_EQ(v.outcome, ReplyOutcome::error);
    EXPECT_EQ(v.text, "unexpected reply type 2");
    EXPECT_TRUE(v.array);
    ASSERT_EQ(v.elements.size(), 4u);
    EXPECT_EQ(v.elements[0].outcome, ReplyOutcome::value);
    EXPECT_EQ(v.elements[0].text, "127.0.0.1");
    EXPECT_EQ(v.elements[1].text, "6380");
    EXPECT_EQ(v.elements[2].outcome, ReplyOutcome::nil);
    EXPECT_FALSE(v.elements[2].array);
    EXPECT_TRUE(v.elements[3].array);
    ASSERT_EQ(v.elements[3].elements.size(), 2u);
    EXPECT_EQ(v.elements[3].elements[1].outcome, ReplyOutcome::integer);
    EXPECT_EQ(v.elements[3].elements[1].integer, 42);
}

TEST(RedisReply, ScalarsAreNotArrays)
{
    redisReply s = make(REDIS_REPLY_STRING, "x");
    redisReply e = make(REDIS_REPLY_ERROR, "ERR x");
    EXPECT_FALSE(inspect_reply(&s).array);
    EXPECT_TRUE(inspect_reply(&s).elements.empty());
    EXPECT_FALSE(inspect_reply(&e).array);
    EXPECT_FALSE(inspect_reply(nullptr).array);

    redisReply empty = make(REDIS_REPLY_ARRAY);   // *0
    ReplyView v = inspect_reply(&empty);
    EXPECT_TRUE(v.array);
    EXPECT_TRUE(v.elements.empty());
}

TEST(RedisReply, DeepNestingIsCut)
{
    redisReply leaf = make(REDIS_REPLY_STRING, "leaf");
    std::vector<redisReply> levels(12, make(REDIS_REPLY_ARRAY));
    std::vector<redisReply *> links(12);
    for (size_t i = 0; i < levels.size(); i++) {
        links[i] = i + 1 < levels.size() ? &levels[i + 1] : &leaf;
        levels[i].element = &links[i];
        levels[i].elements = 1;
    }
    ReplyView v = inspect_reply(&levels[0]);
    size_t depth = 0;
    const ReplyView *p = &v;
    while (p->array && !p->elements.empty()) {
        p = &p->elements[0];
        depth++;
    }
    EXPECT_EQ(depth, 8u);
    EXPECT_TRUE(p->array);   // the ninth level: an array given without its elements
}
