#include "cluster.h"

namespace wxauth {

namespace {

// CRC16-XMODEM one byte at a time: the table of the polynomial 0x1021, built at compile time
// (the bit-by-bit loop was 2% of a worker's time checking sessions through a cluster)
struct Crc16Table {
    std::uint16_t entry[256] = {};
    constexpr Crc16Table()
    {
        for (unsigned byte = 0; byte < 256; ++byte) {
            std::uint16_t crc = std::uint16_t(byte << 8);
            for (int bit = 0; bit < 8; ++bit) {
                crc = (crc & 0x8000) ? std::uint16_t((crc << 1) ^ 0x1021) : std::uint16_t(crc << 1);
            }
            entry[byte] = crc;
        }
    }
};

constexpr Crc16Table crc16_table;

}  // namespace

std::uint16_t crc16_xmodem(std::string_view data) noexcept
{
    std::uint16_t crc = 0;
    for (unsigned char byte : data) {
        crc = std::uint16_t((crc << 8) ^ crc16_table.entry[((crc >> 8) ^ byte) & 0xff]);
    }
    return crc;
}

std::string_view key_hash_part(std::string_view key) noexcept
{
    std::size_t open = key.find('{');
    if (open == std::string_view::npos) {
        return key;
    }
    std::size_t close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) {
        return key;
    }
    return key.substr(open + 1, close - open - 1);
}

unsigned key_slot(std::string_view key) noexcept
{
    return crc16_xmodem(key_hash_part(key)) % cluster_slots;
}

namespace {

bool parse_uint(std::string_view s, unsigned long max, unsigned long &out) noexcept
{
    if (s.empty() || s.size() > 10) {
        return false;
    }
    unsigned long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + unsigned(c - '0');
    }
    if (v > max) {
        return false;
    }
    out = v;
    return true;
}

// "<slot> <host:port>" after MOVED/ASK; the host may be an IPv6 address ("::1:7000" or
// "[::1]:7000"): the port follows the last ':'.
bool parse_target(std::string_view rest, ClusterReply &r)
{
    std::size_t sp = rest.find(' ');
    if (sp == std::string_view::npos) {
        return false;
    }
    unsigned long slot = 0, port = 0;
    if (!parse_uint(rest.substr(0, sp), cluster_slots - 1, slot)) {
        return false;
    }
    std::string_view addr = rest.substr(sp + 1);
    std::size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos || colon == 0 ||
        !parse_uint(addr.substr(colon + 1), 65535, port) || port == 0) {
        return false;
    }
    std::string_view host = addr.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty() || host.find_first_of(" []") != std::string_view::npos) {
        return false;
    }
    r.slot = unsigned(slot);
    r.host.assign(host);
    r.port = int(port);
    return true;
}

bool starts_with_word(std::string_view text, std::string_view word) noexcept
{
    return text.size() >= word.size() && text.substr(0, word.size()) == word &&
           (text.size() == word.size() || text[word.size()] == ' ');
}

}  // namespace

ClusterReply parse_cluster_error(std::string_view error)
{
    ClusterReply r;
    if (starts_with_word(error, "MOVED") || starts_with_word(error, "ASK")) {
        bool moved = error[0] == 'M';
        std::size_t skip = moved ? 6 : 4;   // the word and its space
        if (error.size() > skip && parse_target(error.substr(skip), r)) {
            r.kind = moved ? ClusterReply::Kind::moved : ClusterReply::Kind::ask;
        } else {
            r = ClusterReply();
        }
    } else if (starts_with_word(error, "TRYAGAIN")) {
        r.kind = ClusterReply::Kind::try_again;
    } else if (starts_with_word(error, "CLUSTERDOWN")) {
        r.kind = ClusterReply::Kind::cluster_down;
    }
    return r;
}

std::string_view command_key(const std::vector<std::string> &cmd) noexcept
{
    if (cmd.size() < 2) {
        return {};
    }
    const std::string &name = cmd[0];
    if (name == "EVAL" || name == "EVALSHA") {
        if (cmd.size() < 4 || cmd[2] == "0") {
            return {};
        }
        return cmd[3];
    }
    if (name == "PING" || name == "ROLE" || name == "CLUSTER" || name == "ASKING" ||
        name == "WAIT" || name == "CLIENT" || name == "INFO") {
        return {};
    }
    return cmd[1];
}

namespace {

bool read_node(const ReplyView &v, std::string_view asked_host, NodeAddress &out, bool &unknown,
               std::string &error)
{
    unknown = false;
    if (!v.array || v.elements.size() < 2) {
        error = "a node is not an array of host and port";
        return false;
    }
    const ReplyView &host = v.elements[0];
    const ReplyView &port = v.elements[1];
    if (host.outcome != ReplyOutcome::value) {
        error = "a node's host is not a string";
        return false;
    }
    if (host.text == "?") {
        unknown = true;
        return true;
    }
    std::string port_text;
    if (port.outcome == ReplyOutcome::integer) {
        if (port.integer <= 0 || port.integer > 65535) {
            error = "invalid port";
            return false;
        }
        port_text = std::to_string(port.integer);
    } else if (port.outcome == ReplyOutcome::value) {
        port_text = port.text;
    } else {
        error = "a node's port is not a number";
        return false;
    }
    std::string_view h = host.text.empty() ? asked_host : std::string_view(host.text);
    return parse_node_address(h, port_text, out, error);
}

}  // namespace

bool parse_cluster_slots(const ReplyView &reply, std::string_view asked_host,
                         std::vector<SlotRange> &out, std::string &error)
{
    out.clear();
    if (!reply.array) {
        error = reply.outcome == ReplyOutcome::error && !reply.text.empty()
                    ? "CLUSTER SLOTS failed: " + reply.text
                    : "CLUSTER SLOTS did not answer with an array";
        return false;
    }
    for (const ReplyView &r : reply.elements) {
        if (!r.array || r.elements.size() < 3 || r.elements[0].outcome != ReplyOutcome::integer ||
            r.elements[1].outcome != ReplyOutcome::integer) {
            error = "a slot range is not [first, last, master, ...]";
            return false;
        }
        long long first = r.elements[0].integer, last = r.elements[1].integer;
        if (first < 0 || last < first || last >= static_cast<long long>(cluster_slots)) {
            error = "a slot range is out of 0..16383";
            return false;
        }
        SlotRange range;
        range.first = unsigned(first);
        range.last = unsigned(last);
        bool unknown = false;
        std::string why;
        if (!read_node(r.elements[2], asked_host, range.master, unknown, why)) {
            error = "the master of slots " + std::to_string(first) + "-" + std::to_string(last) +
                    ": " + why;
            return false;
        }
        if (unknown) {
            continue;
        }
        for (std::size_t i = 3; i < r.elements.size(); i++) {
            NodeAddress replica;
            if (read_node(r.elements[i], asked_host, replica, unknown, why) && !unknown) {
                range.replicas.push_back(std::move(replica));
            }
        }
        out.push_back(std::move(range));
    }
    return true;
}

std::uint16_t SlotMap::find(const NodeAddress &a) const noexcept
{
    for (std::size_t i = 0; i < nodes_.size(); i++) {
        if (nodes_[i] == a) {
            return std::uint16_t(i);
        }
    }
    return none;
}

std::uint16_t SlotMap::intern(const NodeAddress &a)
{
    std::uint16_t n = find(a);
    if (n != none) {
        return n;
    }
    if (nodes_.size() >= max_nodes) {
        return none;
    }
    nodes_.push_back(a);
    replicas_.resize(nodes_.size());
    return std::uint16_t(nodes_.size() - 1);
}

std::size_t SlotMap::assign(const std::vector<SlotRange> &ranges)
{
    std::vector<std::uint16_t> next(cluster_slots, none);
    std::vector<std::vector<std::uint16_t>> reps(nodes_.size());
    for (const SlotRange &r : ranges) {
        std::uint16_t m = intern(r.master);
        if (m == none) {
            continue;
        }
        reps.resize(nodes_.size());
        for (unsigned s = r.first; s <= r.last && s < cluster_slots; s++) {
            next[s] = m;
        }
        for (const NodeAddress &ra : r.replicas) {
            std::uint16_t n = intern(ra);
            reps.resize(nodes_.size());
            if (n != none && n != m) {
                bool seen = false;
                for (std::uint16_t x : reps[m]) {
                    seen = seen || x == n;
                }
                if (!seen) {
                    reps[m].push_back(n);
                }
            }
        }
    }
    reps.resize(nodes_.size());
    std::size_t changed = 0;
    for (unsigned s = 0; s < cluster_slots; s++) {
        changed += next[s] != owner_[s];
    }
    owner_.swap(next);
    replicas_.swap(reps);
    return changed;
}

void SlotMap::move(unsigned slot, std::uint16_t node) noexcept
{
    if (slot < cluster_slots && (node == none || node < nodes_.size())) {
        owner_[slot] = node;
    }
}

std::size_t SlotMap::slots_of(std::uint16_t node) const noexcept
{
    std::size_t n = 0;
    for (std::uint16_t o : owner_) {
        n += o == node;
    }
    return n;
}

std::vector<std::size_t> SlotMap::slot_counts() const
{
    std::vector<std::size_t> counts(nodes_.size(), 0);
    for (std::uint16_t o : owner_) {
        if (o != none) {
            counts[o]++;
        }
    }
    return counts;
}

std::size_t SlotMap::uncovered() const noexcept
{
    return slots_of(none);
}

}  // namespace wxauth
