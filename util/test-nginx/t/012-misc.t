# Self-test of util/test-nginx: skip_nginx2, todo, the embedded UDP server
# (udp_listen/udp_reply/udp_query, here a fake DNS server answering
# NXDOMAIN), a block without --- config (keeps the previous server), and
# --- stap (one skipped subtest without TEST_NGINX_USE_STAP).

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_UDP_PORT} ||= 19844;   # the --- udp_listen mock DNS server
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(2);

# TEST 1: 2 skipped; TEST 2: 2 todo; TEST 3: status + error_log +
# no_error_log + udp_query = 4; TEST 4: status + error_log = 2; TEST 5: 1
plan tests => repeat_each() * (2 + 2 + 4 + 2 + 1);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: skip_nginx2 true
--- skip_nginx2: 2: > 0.1.0 and < 99.0.0
--- config
--- request
GET /
--- response_body
this would fail



=== TEST 2: todo
--- todo: 2: not yet
--- config
--- request
GET /
--- response_body
this would fail



=== TEST 3: mock DNS server over UDP
--- config
    resolver 127.0.0.1:$TEST_NGINX_UDP_PORT valid=1s ipv6=off;
    resolver_timeout 1s;
    location = /t {
        set $h "foo.test";
        proxy_pass http://$h:1234/;
    }
--- udp_listen eval
$ENV{TEST_NGINX_UDP_PORT}
--- udp_reply eval
sub {
    my $q = shift;
    # same id, flags: response + NXDOMAIN, 1 question, question echoed back
    substr($q, 0, 2) . "\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00" . substr($q, 12)
}
--- udp_query eval
qr/\x03foo\x04test\x00/
--- request
GET /t
--- error_code: 502
--- error_log
foo.test could not be resolved (3: Host not found)
--- no_error_log
[alert]



=== TEST 4: no --- config: the previous block's server is used
--- request
GET /t
--- error_code: 502
--- error_log
could not be resolved



=== TEST 5: stap
--- config
--- stap
F(ngx_http_finalize_request) { T() }
--- request
GET /
--- ignore_response
