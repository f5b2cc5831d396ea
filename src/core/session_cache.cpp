#include "session_cache.h"

#include "crypto.h"

namespace wxauth {

std::string cache_key_digest(std::string_view identity, std::string_view storage_key)
{
    std::string input;
    input.reserve(identity.size() + 1 + storage_key.size());
    input.append(identity);
    input.push_back('\0');
    input.append(storage_key);
    return sha256_raw(input);
}

std::uint64_t digest_hash64(std::string_view digest) noexcept
{
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < 8 && i < digest.size(); i++) {
        h |= static_cast<std::uint64_t>(static_cast<unsigned char>(digest[i])) << (8 * i);
    }
    return h;
}

std::optional<std::int64_t> entry_expiry(std::int64_t sent_ms, long long pttl_ms) noexcept
{
    if (pttl_ms >= 0) {
        return sent_ms + pttl_ms;
    }
    if (pttl_ms == -1) {
        return no_expiry;
    }
    return std::nullopt;
}

bool entry_servable(std::int64_t now_ms, std::int64_t inserted_ms, std::int64_t expires_ms,
                    std::int64_t valid_ms) noexcept
{
    if (now_ms < inserted_ms || now_ms - inserted_ms >= valid_ms) {
        return false;
    }
    return expires_ms == no_expiry || now_ms < expires_ms;
}

std::int64_t entry_remaining_ms(std::int64_t now_ms, std::int64_t expires_ms) noexcept
{
    if (expires_ms == no_expiry) {
        return -1;
    }
    return expires_ms > now_ms ? expires_ms - now_ms : 0;
}


Invalidation parse_invalidation(const ReplyView &reply)
{
    Invalidation inv;

    if (!reply.array || reply.elements.size() < 3) {
        return inv;
    }

    const ReplyView &type = reply.elements[0];
    const ReplyView &channel = reply.elements[1];
    const ReplyView &payload = reply.elements[2];

    if (type.outcome != ReplyOutcome::value || channel.outcome != ReplyOutcome::value
        || channel.text != invalidation_channel) {
        return inv;
    }

    if (type.text == "subscribe") {
        inv.kind = Invalidation::Kind::subscribed;
        return inv;
    }

    if (type.text != "message") {
        return inv;
    }

    if (payload.outcome == ReplyOutcome::nil && !payload.array) {
        inv.kind = Invalidation::Kind::flush_all;
        return inv;
    }

    if (payload.array) {
        for (const ReplyView &key : payload.elements) {
            if (key.outcome == ReplyOutcome::value) {
                inv.keys.push_back(key.text);
            }
        }
        inv.kind = Invalidation::Kind::keys;
        return inv;
    }

    if (payload.outcome == ReplyOutcome::value) {
        // one key sent as a plain string: read it the same way
        inv.keys.push_back(payload.text);
        inv.kind = Invalidation::Kind::keys;
    }
    return inv;
}


void InvalidationLog::record(std::uint64_t hash) noexcept
{
    ring[seq % capacity] = hash;
    seq++;
}

void InvalidationLog::flush() noexcept
{
    seq++;
    flushed = seq;
}

bool InvalidationLog::clean_since(std::uint64_t m, std::uint64_t hash) const noexcept
{
    if (m < flushed || m > seq || seq - m > capacity) {
        return false;
    }
    for (std::uint64_t s = m; s < seq; s++) {
        if (ring[s % capacity] == hash) {
            return false;
        }
    }
    return true;
}

}  // namespace wxauth
