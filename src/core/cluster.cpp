#include "cluster.h"

namespace wxauth {

std::uint16_t crc16_xmodem(std::string_view data) noexcept
{
    std::uint16_t crc = 0;
    for (unsigned char byte : data) {
        crc ^= std::uint16_t(byte) << 8;
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000) ? std::uint16_t((crc << 1) ^ 0x1021) : std::uint16_t(crc << 1);
        }
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

}  // namespace wxauth
