# Self-test of util/test-nginx: --- must_die (nginx must refuse to start).
# nginx prints its [emerg] message on stderr; that is expected here.

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * blocks();

run_tests();

__DATA__

=== TEST 1: bad "return" directive: nginx exits non-zero
--- config
    location = /t {
        return a b c;
    }
--- request
    GET /t
--- must_die



=== TEST 2: expected exit code
--- config
    location = /t {
        no_such_directive_here on;
    }
--- request
    GET /t
--- must_die: 1
