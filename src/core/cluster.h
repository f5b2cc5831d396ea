// Redis Cluster, without nginx: which slot a key lives in, and what a redirect or cluster error
// reply says. Used by the Redis adapter to route each command to the node that owns its slot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

}  // namespace wxauth
