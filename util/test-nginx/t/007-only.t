# Self-test of util/test-nginx: --- ONLY (Test::Base): only that block runs
# and blocks() counts only it.  The other blocks would fail if they ran.

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * (blocks() * 2) + 1;

is(scalar(blocks()), 1, 'blocks() counts only the ONLY block');

run_tests();

__DATA__

=== TEST 1: must not run
--- config
    location = /t {
        return 200 "one\n";
    }
--- request
GET /t
--- response_body
this would fail



=== TEST 2: the only one
--- ONLY
--- config
    location = /t {
        return 200 "two\n";
    }
--- request
GET /t
--- response_body
two



=== TEST 3: must not run either
--- config
    location = /t {
        return 200 "three\n";
    }
--- request
GET /t
--- response_body
this would fail
