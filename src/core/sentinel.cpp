#include "sentinel.h"

#include <arpa/inet.h>

namespace wxauth {

std::string to_string(const NodeAddress &a)
{
    std::string s;
    if (a.host.find(':') != std::string::npos) {
        s = "[" + a.host + "]";
    } else {
        s = a.host;
    }
    s += ':';
    s += std::to_string(a.port);
    return s;
}

bool parse_node_address(std::string_view host, std::string_view port, NodeAddress &out,
                        std::string &error)
{
    if (host.empty() || host.size() > 45) {
        error = "no usable host";
        return false;
    }

    std::string h(host);
    unsigned char buf[16];

    if (h.find('\0') != std::string::npos
        || (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1))
    {
        error = "the host is not a numeric address";
        return false;
    }

    if (port.empty() || port.size() > 5) {
        error = "invalid port";
        return false;
    }

    int p = 0;
    for (char ch : port) {
        if (ch < '0' || ch > '9') {
            error = "invalid port";
            return false;
        }
        p = p * 10 + (ch - '0');
    }

    if (p < 1 || p > 65535) {
        error = "invalid port";
        return false;
    }

    out.host = std::move(h);
    out.port = p;
    return true;
}

bool parse_master_addr_reply(const ReplyView &reply, NodeAddress &out, std::string &error)
{
    if (reply.outcome == ReplyOutcome::nil) {
        error = "the sentinel does not know this master";
        return false;
    }

    if (!reply.array) {
        error = reply.outcome == ReplyOutcome::error ? reply.text : "not an array";
        return false;
    }

    if (reply.elements.size() != 2 || reply.elements[0].outcome != ReplyOutcome::value
        || reply.elements[1].outcome != ReplyOutcome::value)
    {
        error = "not an address";
        return false;
    }

    return parse_node_address(reply.elements[0].text, reply.elements[1].text, out, error);
}

RedisRole parse_role_reply(const ReplyView &reply)
{
    if (!reply.array || reply.elements.empty()
        || reply.elements[0].outcome != ReplyOutcome::value)
    {
        return RedisRole::unknown;
    }

    const std::string &role = reply.elements[0].text;

    if (role == "master") {
        return RedisRole::master;
    }
    if (role == "slave") {
        return RedisRole::replica;
    }
    if (role == "sentinel") {
        return RedisRole::sentinel;
    }
    return RedisRole::unknown;
}

bool parse_switch_master(std::string_view payload, std::string_view name, NodeAddress &to)
{
    std::string_view parts[5];
    std::size_t n = 0;
    std::size_t i = 0;

    while (i < payload.size()) {
        std::size_t end = payload.find(' ', i);
        if (end == std::string_view::npos) {
            end = payload.size();
        }
        if (end == i || n == 5) {
            return false;   // an empty field or a sixth one
        }
        parts[n++] = payload.substr(i, end - i);
        if (end == payload.size()) {
            break;
        }
        i = end + 1;
        if (i == payload.size()) {
            return false;   // a trailing space
        }
    }

    if (n != 5 || parts[0] != name) {
        return false;
    }

    NodeAddress address;
    std::string error;

    if (!parse_node_address(parts[3], parts[4], address, error)) {
        return false;
    }

    to = std::move(address);
    return true;
}

bool parse_pubsub_message(const ReplyView &reply, std::string_view channel,
                          std::string &payload)
{
    if (!reply.array || reply.elements.size() != 3) {
        return false;
    }

    for (const ReplyView &e : reply.elements) {
        if (e.outcome != ReplyOutcome::value) {
            return false;
        }
    }

    if (reply.elements[0].text != "message" || reply.elements[1].text != channel) {
        return false;
    }

    payload = reply.elements[2].text;
    return true;
}

bool is_failover_error(const ReplyView &reply)
{
    if (reply.outcome != ReplyOutcome::error || reply.array) {
        return false;
    }

    std::string_view text = reply.text;

    for (std::string_view code : {std::string_view("READONLY"), std::string_view("MASTERDOWN")}) {
        if (text.substr(0, code.size()) == code
            && (text.size() == code.size() || text[code.size()] == ' '))
        {
            return true;
        }
    }

    return false;
}

std::size_t next_sentinel(std::size_t current, std::size_t count) noexcept
{
    if (count == 0) {
        return 0;
    }
    return (current + 1) % count;
}

}  // namespace wxauth
