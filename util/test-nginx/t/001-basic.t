# Self-test of util/test-nginx: request building and response checks.
# Uses only nginx built-ins; must pass under the real Test::Nginx as well.

BEGIN {
    # keep away from the port/servroot used by the product suites in t/
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

# 2 subtests (status code + response body) per block, plus: TEST 1 has one
# no_error_log pattern, TEST 8 checks 4 headers and TEST 9 checks 2 headers
# but no body (+1)
plan tests => repeat_each() * (blocks() * 2 + 1 + 4 + 1);

our $DefaultConfig = <<'_EOC_';
    location = /t {
        add_header X-Foo bar;
        add_header X-Num 42;
        return 200 "hello 42\n";
    }
    location = /proto {
        return 200 "$server_protocol|$http_host|$http_connection|$request_uri|$http_x_foo\n";
    }
    location = /len {
        return 200 "len=$http_content_length|$request_method\n";
    }
    location = /esc {
        return 200 "a\tb\r\n";
    }
    location = /port {
        return 200 "port=$server_port\n";
    }
    location = /redir {
        return 302 /x;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value("config", $DefaultConfig);
    }
});

run_tests();

__DATA__

=== TEST 1: sanity
--- request
GET /t
--- response_body
hello 42
--- no_error_log
[error]



=== TEST 2: bare method: URI defaults to /, served by the root location
--- request
GET
--- response_body chomp
<html><head><title>It works!</title></head><body>It works!</body></html>



=== TEST 3: explicit HTTP/1.0, default Host and Connection headers
--- request
GET /proto HTTP/1.0
--- response_body
HTTP/1.0|localhost|close|/proto|



=== TEST 4: more_headers adds headers and can override Host
--- more_headers
X-Foo: bar
Host: example.com
--- request
GET /proto?a=1
--- response_body
HTTP/1.1|example.com|close|/proto?a=1|bar



=== TEST 5: leading blank lines and comments before the request line
--- request

    # this comment is ignored
    # and so is this one
    GET /proto
--- response_body
HTTP/1.1|localhost|close|/proto|



=== TEST 6: body: Content-Length computed from the trimmed body
--- request eval
"POST /len\n  hello world \n"
--- response_body
len=11|POST



=== TEST 7: body: explicit Content-Length, body sent untouched
--- more_headers
Content-Length: 7
--- request eval
"POST /len\n  abc  "
--- response_body
len=7|POST



=== TEST 8: response_headers: equality and absence (!Header)
--- request
GET /t
--- response_headers
X-Foo: bar
!X-Absent
Content-Type: text/plain
Content-Length: 9
--- response_body
hello 42



=== TEST 9: response_headers_like
--- request
GET /t
--- response_headers_like
Server: nginx(/[\d.]+)?
X-Num: \d+



=== TEST 10: response_body_like
--- request
GET /t
--- response_body_like: ^hello \d+$



=== TEST 11: response_body_unlike
--- request
GET /t
--- response_body_unlike: goodbye



=== TEST 12: error_code
--- request
GET /no/such/file.html
--- error_code: 404
--- response_body_like: 404 Not Found



=== TEST 13: error_code_like and $ServerPort in expected headers
--- request
GET /redir
--- error_code_like: ^30[12]$
--- response_headers
Location: http://localhost:$ServerPort/x



=== TEST 14: response_body eval
--- request
GET /esc
--- response_body eval
"a\tb\r\n"



=== TEST 15: $ServerPort in the expected body
--- request
GET /port
--- response_body
port=$ServerPort



=== TEST 16: HEAD request, empty body
--- request
HEAD /t
--- response_body
