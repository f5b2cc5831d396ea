#include "token.h"

#include <cstddef>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "encoding.h"

namespace wxauth {

namespace {

// One RAND_bytes call costs a DRBG generate (a lock, a getpid(), a cipher set-up: about 5 us
// in a worker, 6% of a login's CPU), whatever the length asked for. Tokens are therefore cut
// from a per-thread block of CSPRNG output, refilled when used up. Bytes are wiped as they
// are taken, and the block is dropped in the child after a fork(), so that two processes
// never hand out the same bytes.
struct RandomBlock {
    unsigned char bytes[2048];
    std::size_t next = sizeof bytes;   // nothing left
};

thread_local RandomBlock random_block;

void drop_random_block() noexcept
{
    OPENSSL_cleanse(random_block.bytes, sizeof random_block.bytes);
    random_block.next = sizeof random_block.bytes;
}

void random_bytes(unsigned char *out, std::size_t n)
{
    static std::once_flag at_fork;
    std::call_once(at_fork, [] {
        // the child's one thread is the copy of the forking thread: its block is the one
        if (pthread_atfork(nullptr, nullptr, drop_random_block) != 0) {
            throw std::runtime_error("pthread_atfork failed");
        }
    });

    RandomBlock &b = random_block;
    if (n > sizeof b.bytes) {
        if (RAND_bytes(out, int(n)) != 1) {
            throw std::runtime_error("CSPRNG failure");
        }
        return;
    }
    if (sizeof b.bytes - b.next < n) {
        if (RAND_bytes(b.bytes, int(sizeof b.bytes)) != 1) {
            drop_random_block();
            throw std::runtime_error("CSPRNG failure");
        }
        b.next = 0;
    }
    std::memcpy(out, b.bytes + b.next, n);
    OPENSSL_cleanse(b.bytes + b.next, n);
    b.next += n;
}

}  // namespace

std::string generate_token()
{
    unsigned char bytes[32];
    random_bytes(bytes, sizeof bytes);
    std::string token = base64url_encode_nopad(
        std::string_view(reinterpret_cast<const char *>(bytes), sizeof bytes));
    OPENSSL_cleanse(bytes, sizeof bytes);
    return token;
}

bool token_well_formed(std::string_view token) noexcept
{
    if (token.size() != token_length) {
        return false;
    }
    for (char c : token) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string session_storage_key(std::string_view prefix, std::string_view token)
{
    std::string key;
    key.reserve(prefix.size() + 2 + 64);   // one allocation on every session check
    key += prefix;
    key += "s:";
    key += sha256_hex(token);
    return key;
}

std::string latest_key_storage_key(std::string_view prefix, std::string_view appid,
                                   std::string_view openid)
{
    std::string key(prefix);
    key += "k:";
    key += appid;
    key += ':';
    key += openid;
    return key;
}

std::string user_sessions_storage_key(std::string_view prefix, std::string_view appid,
                                      std::string_view openid)
{
    std::string key(prefix);
    key += "u:";
    key += appid;
    key += ':';
    key += openid;
    return key;
}

}  // namespace wxauth
