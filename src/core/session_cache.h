// The shared session cache (wxauth_session_cache), the parts that need no nginx: the cache key,
// when an entry may be served, the reading of Redis's invalidation messages, and the log of
// recent invalidations that decides whether a lookup's reply may still be cached.
//
// How the cache stays honest (the glue, ngx_http_wxauth_cache.cpp and
// ngx_http_wxauth_tracking.cpp): each worker's data connection to a Redis has
// `CLIENT TRACKING ON REDIRECT <id>` to a second connection of the worker subscribed to
// __redis__:invalidate; every change to a key that connection read is announced there, and the
// entry is dropped. An entry is inserted only from a lookup sent while tracking was confirmed
// and answered with no invalidation of that key (nor a loss of either connection) in between.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_reply.h"

namespace wxauth {

// The channel the invalidation connection subscribes to (RESP2 client tracking).
inline constexpr std::string_view invalidation_channel = "__redis__:invalidate";

// The cache key of a session: sha256(identity + '\0' + storage_key), 32 raw bytes. `identity`
// names the Redis data set (a configured address and db, a sentinel master name and db), so
// that two data sets sharing a zone never answer for each other. Never the token itself.
std::string cache_key_digest(std::string_view identity, std::string_view storage_key);

// 64 bits of a digest, for the invalidation log (the first 8 bytes, little endian).
std::uint64_t digest_hash64(std::string_view digest) noexcept;

// The absolute expiry (in the caller's millisecond clock) of a session whose PTTL was asked at
// `sent_ms`: sent_ms + pttl for pttl >= 0 (the earliest the key can expire, so never late);
// no_expiry for -1 (a key without expiry); std::nullopt for anything else (-2: the key is gone,
// nothing is cached).
inline constexpr std::int64_t no_expiry = -1;
std::optional<std::int64_t> entry_expiry(std::int64_t sent_ms, long long pttl_ms) noexcept;

// Whether an entry inserted at `inserted_ms` that expires at `expires_ms` (or no_expiry) may be
// served at `now_ms` by a location whose valid= is `valid_ms`: now < inserted + valid and now <
// expires. A clock that went backwards (now < inserted) serves nothing.
bool entry_servable(std::int64_t now_ms, std::int64_t inserted_ms, std::int64_t expires_ms,
                    std::int64_t valid_ms) noexcept;

// The session's remaining lifetime in ms as Redis's PTTL would say it (-1: no expiry), for the
// renewal decision (renewal_expiry) of a cached session.
std::int64_t entry_remaining_ms(std::int64_t now_ms, std::int64_t expires_ms) noexcept;


// One message read on the invalidation connection (a Pub/Sub reply).
struct Invalidation {
    enum class Kind {
        ignore,       // not for us (another channel, an unknown shape)
        subscribed,   // ["subscribe", channel, n]: the subscription is confirmed
        keys,         // ["message", channel, [key...]]: these keys changed
        flush_all,    // ["message", channel, nil]: the whole data set was flushed
    };
    Kind kind = Kind::ignore;
    std::vector<std::string> keys;
};

Invalidation parse_invalidation(const ReplyView &reply);


// The recent invalidations of one tracking connection pair, so that a lookup's reply is cached
// only if nothing that concerns it happened while it was on its way:
//   mark = log.mark() when the lookup is sent;
//   log.record(hash) for every key invalidated, log.flush() for anything that makes every
//   entry suspect (a flush-all message, a connection lost or made, tracking turned on);
//   log.clean_since(mark, hash) when the reply arrives: true only when no flush came since
//   and none of the keys invalidated since has this hash (false, too, when more than
//   `capacity` invalidations came since: they are no longer known one by one).
// All zeros is a valid empty log (it lives in memory nginx allocates zeroed).
struct InvalidationLog {
    static constexpr std::size_t capacity = 64;

    std::uint64_t seq = 0;        // invalidations and flushes so far
    std::uint64_t flushed = 0;    // a mark below this one saw a flush
    std::uint64_t ring[capacity] = {};

    std::uint64_t mark() const noexcept { return seq; }
    void record(std::uint64_t hash) noexcept;
    void flush() noexcept;
    bool clean_since(std::uint64_t mark, std::uint64_t hash) const noexcept;
};

}  // namespace wxauth
