#include <string>

#include <gtest/gtest.h>

#include "crypto.h"
#include "session.h"
#include "session_cache.h"

using namespace wxauth;

namespace {

ReplyView str(const std::string &s)
{
    ReplyView v;
    v.outcome = ReplyOutcome::value;
    v.text = s;
    return v;
}

ReplyView nil()
{
    ReplyView v;
    v.outcome = ReplyOutcome::nil;
    return v;
}

ReplyView integer(long long n)
{
    ReplyView v;
    v.outcome = ReplyOutcome::integer;
    v.integer = n;
    return v;
}

ReplyView array(std::vector<ReplyView> items)
{
    ReplyView v;
    v.array = true;
    v.text = "unexpected reply type 2";
    v.elements = std::move(items);
    return v;
}

}  // namespace

// ---- the key ---------------------------------------------------------------------------------

TEST(SessionCacheKey, IsSha256OfIdentityAndStorageKey)
{
    std::string d = cache_key_digest("127.0.0.1:6379/0", "wxauth:s:abc");
    EXPECT_EQ(d.size(), 32u);
    EXPECT_EQ(d, sha256_raw(std::string("127.0.0.1:6379/0") + '\0' + "wxauth:s:abc"));
}

TEST(SessionCacheKey, DependsOnBothParts)
{
    std::string a = cache_key_digest("A", "k");
    EXPECT_NE(a, cache_key_digest("B", "k"));
    EXPECT_NE(a, cache_key_digest("A", "k2"));
    // the separator keeps "A" + "Bk" apart from "AB" + "k"
    EXPECT_NE(cache_key_digest("A", "Bk"), cache_key_digest("AB", "k"));
    EXPECT_EQ(a, cache_key_digest("A", "k"));
}

TEST(SessionCacheKey, Hash64IsTheFirstEightBytes)
{
    std::string d("\x01\x02\x03\x04\x05\x06\x07\x08\xff", 9);
    EXPECT_EQ(digest_hash64(d), 0x0807060504030201ull);
    EXPECT_EQ(digest_hash64(std::string()), 0u);
}

// ---- expiry ----------------------------------------------------------------------------------

TEST(SessionCacheExpiry, FromPttl)
{
    EXPECT_EQ(entry_expiry(1000, 5000), 6000);
    EXPECT_EQ(entry_expiry(1000, 0), 1000);
    EXPECT_EQ(entry_expiry(1000, -1), no_expiry);
    EXPECT_FALSE(entry_expiry(1000, -2).has_value());
    EXPECT_FALSE(entry_expiry(1000, -3).has_value());
}

TEST(SessionCacheExpiry, ServedWithinValidAndBeforeExpiry)
{
    // inserted at 1000, valid 5000, session expires at 100000
    EXPECT_TRUE(entry_servable(1000, 1000, 100000, 5000));
    EXPECT_TRUE(entry_servable(5999, 1000, 100000, 5000));
    EXPECT_FALSE(entry_servable(6000, 1000, 100000, 5000));   // valid= reached
    EXPECT_FALSE(entry_servable(60000, 1000, 100000, 5000));
}

TEST(SessionCacheExpiry, NeverPastTheSessionExpiry)
{
    // the session ends at 3000, before valid= would
    EXPECT_TRUE(entry_servable(2999, 1000, 3000, 5000));
    EXPECT_FALSE(entry_servable(3000, 1000, 3000, 5000));
    EXPECT_FALSE(entry_servable(4000, 1000, 3000, 5000));
    // a key without expiry: valid= alone
    EXPECT_TRUE(entry_servable(5999, 1000, no_expiry, 5000));
    EXPECT_FALSE(entry_servable(6000, 1000, no_expiry, 5000));
}

TEST(SessionCacheExpiry, ClockBackwardsServesNothing)
{
    EXPECT_FALSE(entry_servable(999, 1000, 100000, 5000));
}

TEST(SessionCacheExpiry, RemainingForRenewal)
{
    EXPECT_EQ(entry_remaining_ms(1000, 6000), 5000);
    EXPECT_EQ(entry_remaining_ms(7000, 6000), 0);
    EXPECT_EQ(entry_remaining_ms(7000, no_expiry), -1);
}

TEST(SessionCacheExpiry, RenewalDueFromTheCachedExpiry)
{
    SessionRecord rec;
    rec.renew = true;
    rec.ttl = 100;   // seconds
    // cached with 80 s left, checked 20 s later: 60 s left, above half: nothing due
    std::int64_t expires = 80000;
    EXPECT_EQ(renewal_expiry(rec, entry_remaining_ms(20000, expires), 1700000000), 0);
    // 40 s later: 40 s left, below half: renewed to the full ttl
    EXPECT_EQ(renewal_expiry(rec, entry_remaining_ms(40000, expires), 1700000000), 100);
}

// ---- invalidation messages -------------------------------------------------------------------

TEST(SessionCacheInvalidation, Subscribed)
{
    Invalidation inv = parse_invalidation(
        array({str("subscribe"), str("__redis__:invalidate"), integer(1)}));
    EXPECT_EQ(inv.kind, Invalidation::Kind::subscribed);
}

TEST(SessionCacheInvalidation, Keys)
{
    Invalidation inv = parse_invalidation(array(
        {str("message"), str("__redis__:invalidate"), array({str("wxauth:s:1"), str("k2")})}));
    ASSERT_EQ(inv.kind, Invalidation::Kind::keys);
    ASSERT_EQ(inv.keys.size(), 2u);
    EXPECT_EQ(inv.keys[0], "wxauth:s:1");
    EXPECT_EQ(inv.keys[1], "k2");
}

TEST(SessionCacheInvalidation, BinaryKeysKept)
{
    std::string key("a\0b\r\n", 5);
    Invalidation inv = parse_invalidation(
        array({str("message"), str("__redis__:invalidate"), array({str(key)})}));
    ASSERT_EQ(inv.keys.size(), 1u);
    EXPECT_EQ(inv.keys[0], key);
}

TEST(SessionCacheInvalidation, NilIsFlushAll)
{
    Invalidation inv =
        parse_invalidation(array({str("message"), str("__redis__:invalidate"), nil()}));
    EXPECT_EQ(inv.kind, Invalidation::Kind::flush_all);
    EXPECT_TRUE(inv.keys.empty());
}

TEST(SessionCacheInvalidation, SingleStringKey)
{
    Invalidation inv =
        parse_invalidation(array({str("message"), str("__redis__:invalidate"), str("k")}));
    ASSERT_EQ(inv.kind, Invalidation::Kind::keys);
    EXPECT_EQ(inv.keys, std::vector<std::string>{"k"});
}

TEST(SessionCacheInvalidation, OtherShapesIgnored)
{
    EXPECT_EQ(parse_invalidation(str("message")).kind, Invalidation::Kind::ignore);
    EXPECT_EQ(parse_invalidation(nil()).kind, Invalidation::Kind::ignore);
    EXPECT_EQ(parse_invalidation(array({})).kind, Invalidation::Kind::ignore);
    EXPECT_EQ(parse_invalidation(array({str("message"), str("__redis__:invalidate")})).kind,
              Invalidation::Kind::ignore);
    // another channel
    EXPECT_EQ(parse_invalidation(array({str("message"), str("news"), array({str("k")})})).kind,
              Invalidation::Kind::ignore);
    EXPECT_EQ(parse_invalidation(array({str("subscribe"), str("news"), integer(1)})).kind,
              Invalidation::Kind::ignore);
    // unsubscribe, pong, pmessage
    EXPECT_EQ(parse_invalidation(
                  array({str("unsubscribe"), str("__redis__:invalidate"), integer(0)})).kind,
              Invalidation::Kind::ignore);
    EXPECT_EQ(parse_invalidation(array({str("pong"), str(""), str("")})).kind,
              Invalidation::Kind::ignore);
    // an integer payload
    EXPECT_EQ(parse_invalidation(
                  array({str("message"), str("__redis__:invalidate"), integer(3)})).kind,
              Invalidation::Kind::ignore);
}

// ---- the invalidation log --------------------------------------------------------------------

TEST(SessionCacheLog, ZeroedIsEmptyAndClean)
{
    InvalidationLog log{};
    std::uint64_t m = log.mark();
    EXPECT_TRUE(log.clean_since(m, 42));
}

TEST(SessionCacheLog, OtherKeysDoNotMatter)
{
    InvalidationLog log{};
    std::uint64_t m = log.mark();
    log.record(1);
    log.record(2);
    EXPECT_TRUE(log.clean_since(m, 42));
    EXPECT_FALSE(log.clean_since(m, 2));
    // a mark taken after the invalidation is clean
    EXPECT_TRUE(log.clean_since(log.mark(), 2));
}

TEST(SessionCacheLog, FlushMakesEveryEarlierMarkDirty)
{
    InvalidationLog log{};
    std::uint64_t m = log.mark();
    log.flush();
    EXPECT_FALSE(log.clean_since(m, 42));
    std::uint64_t after = log.mark();
    EXPECT_TRUE(log.clean_since(after, 42));
    log.record(7);
    EXPECT_TRUE(log.clean_since(after, 42));
    EXPECT_FALSE(log.clean_since(after, 7));
}

TEST(SessionCacheLog, TooManySinceIsDirty)
{
    InvalidationLog log{};
    std::uint64_t m = log.mark();
    for (std::size_t i = 0; i < InvalidationLog::capacity; i++) {
        log.record(1000 + i);
    }
    EXPECT_TRUE(log.clean_since(m, 42));   // exactly capacity: all still known
    log.record(5000);
    EXPECT_FALSE(log.clean_since(m, 42));  // one more: forgotten ones might have matched
}

TEST(SessionCacheLog, MarkFromTheFutureIsDirty)
{
    InvalidationLog log{};
    EXPECT_FALSE(log.clean_since(log.mark() + 1, 42));
}
