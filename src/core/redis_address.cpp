#include "redis_address.h"

namespace wxauth {

namespace {

bool parse_port(std::string_view text, int &port) noexcept
{
    if (text.empty() || text.size() > 5) {
        return false;
    }
    int value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) {
        return false;
    }
    port = value;
    return true;
}

bool has_blank_or_control(std::string_view s) noexcept
{
    for (char c : s) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool parse_redis_address(std::string_view text, RedisAddress &out, std::string &error)
{
    constexpr std::string_view unix_prefix = "unix:";
    RedisAddress addr;

    if (text.substr(0, unix_prefix.size()) == unix_prefix) {
        std::string_view path = text.substr(unix_prefix.size());
        if (path.empty()) {
            error = "empty unix socket path";
            return false;
        }
        if (has_blank_or_control(path)) {
            error = "invalid character in unix socket path";
            return false;
        }
        addr.kind = RedisAddress::Kind::unix_socket;
        addr.path = std::string(path);
        out = std::move(addr);
        return true;
    }

    std::string_view host;
    std::string_view port;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            error = "unbalanced brackets";
            return false;
        }
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                error = "unexpected text after ']'";
                return false;
            }
            port = rest.substr(1);
            has_port = true;
        }
        if (host.find_first_of("[]") != std::string_view::npos) {
            error = "unbalanced brackets";
            return false;
        }
    } else {
        if (text.find_first_of("[]") != std::string_view::npos) {
            error = "unbalanced brackets";
            return false;
        }
        std::size_t colon = text.find(':');
        if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
            error = "IPv6 addresses must be written in brackets";
            return false;
        }
        host = text.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
            has_port = true;
        }
    }

    if (host.empty()) {
        error = "empty host";
        return false;
    }
    if (has_blank_or_control(host)) {
        error = "invalid character in host";
        return false;
    }
    if (has_port && !parse_port(port, addr.port)) {
        error = "port must be a number from 1 to 65535";
        return false;
    }
    addr.kind = RedisAddress::Kind::tcp;
    addr.host = std::string(host);
    out = std::move(addr);
    return true;
}

}  // namespace wxauth
