# Self-test of util/test-nginx: --- SKIP and --- LAST (Test::Base),
# skip_eval / skip_nginx (subtests reported as skipped), shuffling off.

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * (blocks() * 2) + 1;

is(scalar(blocks()), 6, 'SKIP and everything after LAST are not counted');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: runs
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 2: skipped
--- SKIP
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
this would fail



=== TEST 3: skip_eval true: 2 subtests skipped
--- skip_eval: 2: 1
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
this would fail



=== TEST 4: skip_eval false: runs
--- skip_eval: 2: 0
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 5: skip_nginx false: runs
--- skip_nginx: 2: < 0.1.0
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 6: skip_nginx true: skipped
--- skip_nginx: 2: > 0.1.0
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
this would fail



=== TEST 7: the last one
--- LAST
--- config
    location = /t {
        return 200 "last\n";
    }
--- request
GET /t
--- response_body
last



=== TEST 8: after LAST: never runs
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
this would fail
