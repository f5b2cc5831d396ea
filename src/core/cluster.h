// Redis Cluster, without nginx: which slot a key lives in, and what a redirect or cluster error
// reply says. Used by the Redis adapter to route each command to the node that owns its slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "redis_reply.h"
#include "sentinel.h"

namespace wxauth {

constexpr unsigned cluster_slots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as in the Redis Cluster spec.
std::uint16_t crc16_xmodem(std::string_view data) noexcept;

// The part of a key that is hashed: between the first '{' and the next '}' when that is
// non-empty (a hash tag), the whole key otherwise.
std::string_view key_hash_part(std::string_view key) noexcept;

// The slot of a key: crc16_xmodem(key_hash_part(key)) mod 16384.
unsigned key_slot(std::string_view key) noexcept;

// What an error reply of a cluster node means for the command that got it.
struct ClusterReply {
    enum class Kind {
        other,        // any other error (or not a cluster condition)
        moved,        // -MOVED <slot> <host:port>: the slot lives there now (update the map)
        ask,          // -ASK <slot> <host:port>: this once, ASKING then the command there
        try_again,    // -TRYAGAIN: a multi-key command during a migration
        cluster_down, // -CLUSTERDOWN: slots are not covered
    };
    Kind kind = Kind::other;
    unsigned slot = 0;      // moved, ask
    std::string host;       // moved, ask (an IPv6 address without brackets)
    int port = 0;           // moved, ask
};

// Reads the text of an error reply (without the leading '-'). A MOVED or ASK whose slot,
// host or port is malformed is `other`: never a redirect to a made-up address.
ClusterReply parse_cluster_error(std::string_view error);

// The key a command of the module touches, for routing: EVAL/EVALSHA's first key (numkeys >= 1),
// otherwise the first argument. Empty when the command names no key (PING, ROLE, CLUSTER ...):
// any node may answer it.
std::string_view command_key(const std::vector<std::string> &cmd) noexcept;

// One range of `CLUSTER SLOTS`: its slots, the master serving them, and its replicas.
struct SlotRange {
    unsigned first = 0;
    unsigned last = 0;
    NodeAddress master;
    std::vector<NodeAddress> replicas;
};

// The reply to `CLUSTER SLOTS`: an array of [first, last, [host, port, id, ...], replica...].
// An empty host means "the node you asked" (`asked_host`); a host of "?" (an unknown endpoint)
// leaves that range out, as does a replica whose address is unusable. False, with `error`
// (safe to log), when the reply is not such an array, a range is out of 0..16383 or reversed,
// or a master's address is not numeric (cluster-announce-hostname is not supported: a worker
// never resolves names).
bool parse_cluster_slots(const ReplyView &reply, std::string_view asked_host,
                         std::vector<SlotRange> &out, std::string &error);

// Which node serves each slot. Nodes are numbered in the order they are first seen and keep
// their number for the life of the map (the glue keeps one connection per node number).
class SlotMap {
public:
    static constexpr std::uint16_t none = 0xffff;
    static constexpr std::size_t max_nodes = 1024;

    SlotMap() : owner_(cluster_slots, none) {}

    // The number of `a`, given a new number when it is new; `none` when max_nodes are known.
    std::uint16_t intern(const NodeAddress &a);
    // The number of `a`, or `none` when it is unknown.
    std::uint16_t find(const NodeAddress &a) const noexcept;

    // Replaces the whole map with these ranges (slots they leave out: `none`). Returns the
    // number of slots whose owner changed.
    std::size_t assign(const std::vector<SlotRange> &ranges);
    // A MOVED: `slot` is served by `node` now.
    void move(unsigned slot, std::uint16_t node) noexcept;

    std::uint16_t owner(unsigned slot) const noexcept
    {
        return slot < cluster_slots ? owner_[slot] : none;
    }
    // Slots served by `node`.
    std::size_t slots_of(std::uint16_t node) const noexcept;
    // Slots served by each node (node_count() of them), in one pass over the map.
    std::vector<std::size_t> slot_counts() const;
    // Slots no node serves.
    std::size_t uncovered() const noexcept;

    const NodeAddress &address(std::uint16_t node) const { return nodes_.at(node); }
    std::size_t node_count() const noexcept { return nodes_.size(); }
    // The replicas the last assign() named, by master number.
    const std::vector<std::vector<std::uint16_t>> &replicas() const noexcept { return replicas_; }

private:
    std::vector<std::uint16_t> owner_;
    std::vector<NodeAddress> nodes_;
    std::vector<std::vector<std::uint16_t>> replicas_;
};

}  // namespace wxauth
