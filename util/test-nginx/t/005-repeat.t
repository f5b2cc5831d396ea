# Self-test of util/test-nginx: repeat_each().  Every block runs its
# request(s) N times against one nginx; each repetition's log checks only see
# the log lines written since the previous check.

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(3);

plan tests => repeat_each() * (blocks() * 2);

run_tests();

__DATA__

=== TEST 1: plain
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 2: state survives repetitions, logs are per repetition
--- http_config
    limit_req_zone $server_name zone=one:1m rate=1r/m;
--- user_files
>>> lim.txt
ok
--- config
    location = /lim.txt {
        limit_req zone=one nodelay;
        root html;
    }
--- request
GET /lim.txt
--- error_code_like: ^(?:200|503)$
--- grep_error_log: limiting requests
--- grep_error_log_out eval
["", "limiting requests\n", "limiting requests\n"]



=== TEST 3: every repetition logs its own error
--- config
    location = /bad {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request
GET /bad
--- error_code: 502
--- error_log
connect() failed
