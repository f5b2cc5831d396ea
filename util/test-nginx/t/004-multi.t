# Self-test of util/test-nginx: several requests per block, request packets,
# pipelined requests, raw requests, HTTP/0.9, chunked responses, the
# embedded TCP server and client timeouts.

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_TCP_PORT} ||= 19842;   # the --- tcp_listen mock upstream
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

# TEST 1: 2 requests x (status + body) = 4; TEST 2: 4; TEST 3: 2; TEST 4: 2;
# TEST 5: 2 pipelined x 2 = 4; TEST 6: status + header + body = 3;
# TEST 7: status + 2 headers + body + tcp_query = 5; TEST 8: status = 1;
# TEST 9: 2
plan tests => repeat_each() * 27;

our $Config = <<'_EOC_';
    location = /a {
        return 200 "a\n";
    }
    location = /b {
        return 200 "b\n";
    }
    location = /who {
        return 200 "$http_x_who\n";
    }
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $http_content_length;
    }
    location = /sink {
        return 200 "body=$http_x_body|len=$http_x_len\n";
    }
    location = /up {
        proxy_pass http://127.0.0.1:$TEST_NGINX_TCP_PORT;
        proxy_read_timeout 5s;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("config", $Config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: several requests: expected values are arrays
--- request eval
["GET /a", "GET /nope"]
--- error_code eval
[200, 404]
--- response_body eval
["a\n", qr/404 Not Found/]



=== TEST 2: more_headers as an array: one entry per request
--- more_headers eval
["X-Who: one", "X-Who: two"]
--- request eval
["GET /who", "GET /who"]
--- response_body eval
["one\n", "two\n"]



=== TEST 3: one request split into packets, with a delay
--- request eval
[["POST /echo\nhel", {value => "lo world", delay_before => 0.05}]]
--- response_body
body=hello world|len=11



=== TEST 4: raw_request packets with raw_request_middle_delay
--- raw_request eval
["GET /a HTTP/1.0\r\nHo", "st: x\r\n\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body
a



=== TEST 5: pipelined_requests on one connection
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "b\n"]



=== TEST 6: HTTP/0.9 (no status line, no headers)
--- raw_request eval
"GET /a\r\n"
--- http09
--- response_headers
!Content-Type
--- response_body
a



=== TEST 7: tcp_listen mock upstream; chunked response is decoded
--- tcp_listen eval
$ENV{TEST_NGINX_TCP_PORT}
--- tcp_query eval
"GET /up HTTP/1.0\r\nHost: 127.0.0.1:$ENV{TEST_NGINX_TCP_PORT}\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nX-Up: 1\r\n\r\nhello from upstream"
--- request
GET /up
--- response_headers
Transfer-Encoding: chunked
X-Up: 1
--- response_body chomp
hello from upstream



=== TEST 8: client timeout with --- abort is not a failure
--- tcp_listen eval
$ENV{TEST_NGINX_TCP_PORT}
--- tcp_reply_delay: 1
--- tcp_reply eval
"HTTP/1.0 200 OK\r\n\r\nlate"
--- request
GET /up
--- timeout: 300ms
--- abort
--- error_code:



=== TEST 9: a slow upstream within the timeout
--- tcp_listen eval
$ENV{TEST_NGINX_TCP_PORT}
--- tcp_reply_delay: 0.3
--- tcp_reply eval
"HTTP/1.0 200 OK\r\n\r\nlate"
--- request
GET /up
--- timeout: 3
--- response_body chomp
late
