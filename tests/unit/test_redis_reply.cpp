#include <string>

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
