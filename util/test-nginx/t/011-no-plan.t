# Self-test of util/test-nginx: 'no_plan', add_block_preprocessor,
# response_body_filters, no_long_string().

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket 'no_plan';

no_long_string();

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value("config", <<'_END_');
    location = /t {
        return 200 "hello\n";
    }
_END_
    }
    if (!defined $block->request) {
        $block->set_value("request", "GET /t\n");
    }
});

run_tests();

__DATA__

=== TEST 1: defaults from the preprocessor
--- response_body
hello



=== TEST 2: builtin filter names
--- response_body_filters
uc
--- response_body
HELLO



=== TEST 3: several filters in order
--- response_body_filters
uc lc length
--- response_body chomp
6



=== TEST 4: md5_hex
--- response_body_filters: md5_hex
--- response_body chomp
b1946ac92492d2347c6235b4d2611184



=== TEST 5: code refs, per request
--- request eval
["GET /t", "GET /t"]
--- response_body_filters eval
[[sub { scalar CORE::reverse($_[0]) }], [\&CORE::uc]]
--- response_body eval
["\nolleh", "HELLO\n"]
