# Self-test of util/test-nginx: error_log / no_error_log / grep_error_log /
# access_log / log_level / wait.  Errors are provoked with nginx built-ins
# (a proxy_pass to a port nobody listens on, a missing static file).

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

# per block: TEST 1: 5, TEST 2: 4, TEST 3: 3, TEST 4: 4,
# TEST 5: 2 requests x (status + body + 1 no_error_log pattern) = 6,
# TEST 6: 2, TEST 7: 2, TEST 8: 4, TEST 9: 4
plan tests => repeat_each() * 34;

our $Bad = <<'_EOC_';
    location = /bad {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
    location = /t {
        return 200 "ok\n";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("config", $Bad) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: plain error_log lines (one subtest per line), no_error_log lines
--- request
GET /bad
--- error_code: 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
[error]
--- no_error_log
[alert]
[crit]



=== TEST 2: eval'ed arrays of strings and qr//
--- request
GET /bad
--- error_code: 502
--- error_log eval
["connect() failed", qr/upstream: "http:\/\/127\.0\.0\.1:\d+\/"/]
--- no_error_log eval
[qr/\[emerg\]/]



=== TEST 3: default log level is debug
--- request
GET /t
--- response_body
ok
--- error_log
http request line: "GET /t HTTP/1.1"



=== TEST 4: --- log_level overrides it
--- log_level: warn
--- request
GET /t
--- response_body
ok
--- no_error_log
[debug]
[info]



=== TEST 5: with several requests the logs are checked after each one
--- request eval
["GET /t", "GET /t"]
--- response_body eval
["ok\n", "ok\n"]
--- no_error_log
[error]



=== TEST 6: inline value, and --- wait before the log is checked
--- request
GET /no-such-file.html
--- error_code: 404
--- wait: 0.1
--- error_log: No such file or directory



=== TEST 7: grep_error_log / grep_error_log_out
--- request
GET /bad
--- error_code: 502
--- grep_error_log eval
qr/connect\(\) failed \(\d+: [^)]*\)/
--- grep_error_log_out
connect() failed (111: Connection refused)



=== TEST 8: access_log / no_access_log
--- request
GET /t?from=access
--- response_body
ok
--- access_log
GET /t?from=access HTTP/1.1
--- no_access_log
GET /bad



=== TEST 9: shutdown_error_log / no_shutdown_error_log (nginx's exit logs)
--- request
GET /t
--- response_body
ok
--- shutdown_error_log
(SIGQUIT) received
--- no_shutdown_error_log
[alert]
