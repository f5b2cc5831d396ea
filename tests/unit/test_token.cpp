#include <set>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "crypto.h"
#include "token.h"

using namespace wxauth;

TEST(Token, LengthAndCharset)
{
    for (int i = 0; i < 200; ++i) {
        std::string t = generate_token();
        ASSERT_EQ(t.size(), token_length);
        ASSERT_EQ(t.size(), 43u);
        for (char c : t) {
            ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t;
        }
        EXPECT_TRUE(token_well_formed(t));
    }
}

TEST(Token, Unique)
{
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        EXPECT_TRUE(seen.insert(generate_token()).second);
    }
}

TEST(Token, AllCharactersEventuallyUsed)
{
    std::set<char> chars;
    for (int i = 0; i < 2000; ++i) {
        for (char c : generate_token()) {
            chars.insert(c);
        }
    }
    EXPECT_EQ(chars.size(), 64u);
}

// The random bytes are drawn in blocks: a fork()ed child must not hand out the bytes its
// parent hands out next (the block is dropped in the child).
TEST(Token, ForkedChildNeverRepeatsTheParent)
{
    (void) generate_token();   // the block is filled, and mostly unused
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::string mine;
        for (int i = 0; i < 8; ++i) {
            mine += generate_token();
        }
        ssize_t w = write(fds[1], mine.data(), mine.size());
        _exit(w == ssize_t(mine.size()) ? 0 : 1);
    }
    close(fds[1]);
    std::string theirs;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) {
        theirs.append(buf, std::size_t(n));
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(theirs.size(), 8 * token_length);

    std::set<std::string> child;
    for (std::size_t i = 0; i < 8; ++i) {
        child.insert(theirs.substr(i * token_length, token_length));
    }
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(child.count(generate_token()), 0u) << "token " << i;
    }
}

TEST(Token, WellFormed)
{
    std::string good(43, 'A');
    EXPECT_TRUE(token_well_formed(good));
    EXPECT_TRUE(token_well_formed("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_9"));
    EXPECT_FALSE(token_well_formed(""));
    EXPECT_FALSE(token_well_formed(std::string(42, 'A')));
    EXPECT_FALSE(token_well_formed(std::string(44, 'A')));
    for (char bad : {'+', '/', '=', ' ', '.', '\0', '\n', '%', '\x80'}) {
        std::string t = good;
        t[20] = bad;
        EXPECT_FALSE(token_well_formed(t)) << int(bad);
    }
}

TEST(Token, SessionStorageKey)
{
    std::string token = generate_token();
    std::string key = session_storage_key("wxauth:", token);
    EXPECT_EQ(key, "wxauth:s:" + sha256_hex(token));
    EXPECT_EQ(key.size(), std::string("wxauth:s:").size() + 64);
    EXPECT_EQ(key.find(token), std::string::npos);
    EXPECT_EQ(session_storage_key("", "abc"),
              "s:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_NE(session_storage_key("p:", token), session_storage_key("p:", generate_token()));
}

TEST(Token, UserKeys)
{
    EXPECT_EQ(latest_key_storage_key("wxauth:", "wx123", "oABC"), "wxauth:k:wx123:oABC");
    EXPECT_EQ(user_sessions_storage_key("wxauth:", "wx123", "oABC"), "wxauth:u:wx123:oABC");
    EXPECT_EQ(latest_key_storage_key("", "a", "b"), "k:a:b");
}
