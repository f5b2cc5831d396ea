# vi:filetype=perl
#
# When the peers fail: a Redis that is not there, one that never answers, one
# that refuses the connection setup; a WeChat that refuses connections or
# never answers. The module must answer 503 / 502 / 504 in time, never hang.
#
#   TEST_NGINX_CLOSED_PORT     nobody listens there (a stopped Redis / WeChat)
#   TEST_NGINX_BLACKHOLE_PORT  the kernel accepts connections, nobody reads or
#                              answers (a hung Redis / WeChat); the listener
#                              lives in this test process

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_CLOSED_PORT}    = WxAuthTest::free_port();
$ENV{TEST_NGINX_BLACKHOLE_PORT} = WxAuthTest::blackhole();

our $Config = <<"_EOC_";
    location = /login {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

    # a WeChat that accepts the connection and never answers
    location = /login/wechat-hangs {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/hangs/jscode2session;
    }

    location = /_wx/hangs/jscode2session {
        internal;
        proxy_connect_timeout 300ms;
        proxy_send_timeout 300ms;
        proxy_read_timeout 300ms;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BLACKHOLE_PORT/sns/jscode2session;
    }

    # a WeChat nobody listens for
    location = /login/wechat-down {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/down/jscode2session;
    }

    location = /_wx/down/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_CLOSED_PORT/sns/jscode2session;
    }

    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }
_EOC_

# Each block says which Redis in its own --- http_config; the stand-in servers
# are added to all of them.
add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, config => $Config,
                               http_config_append => $WxAuthTest::Servers);
});

# nginx's port, for the clients the blocks' --- init start themselves
sub port { server_port_for_client() }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis stopped: the session check answers 503 store_unavailable at once
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*wxauth: could not connect to redis 127\.0\.0\.1:\d+/,
 qr/\[error\] .*wxauth: request refused: store_unavailable/]



=== TEST 2: Redis stopped: request after request, 503 each time, no hang
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request eval
[map { "GET /api/profile/$_" } 1 .. 8]
--- timeout: 5
--- error_code eval
[(503) x 8]
--- response_body_like eval
[('^\{"error":"store_unavailable","message":"[^"]+"\}$') x 8]



=== TEST 3: Redis stopped: no token is still 401 missing_session
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_prefix "wxt003:";
--- request
GET /api/profile
--- timeout: 5
--- error_code: 401
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$
--- no_error_log
wxauth: request refused: store_unavailable



=== TEST 4: Redis stopped: a malformed token is 401 invalid_session (Redis is not asked)
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: short
--- request
GET /api/profile
--- timeout: 5
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_session","message":"[^"]+"\}$
--- no_error_log
wxauth: request refused: store_unavailable



=== TEST 5: Redis stopped: a login exchanges the code, then answers 503 store_unavailable
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 503
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
qr/\[error\] .*wxauth: login refused: store_unavailable/



=== TEST 6: Redis on a unix socket that is not there: 503 store_unavailable
--- http_config
    wxauth_redis unix:/nonexistent/wxauth-test-redis.sock;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log
wxauth: could not connect to redis unix:/nonexistent/wxauth-test-redis.sock



=== TEST 7: Redis at an IPv6 address nobody listens on: 503 store_unavailable
--- http_config
    wxauth_redis [::1]:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
qr/\[error\] .*wxauth: could not connect to redis \[::1\]:\d+/



=== TEST 8: Redis never answers: 503 store_unavailable once wxauth_redis_timeout has passed
The connection is dropped a moment later: silent for longer than the longest
wxauth_redis_timeout of the locations using it (the default liveness).
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- wait: 0.2
--- error_code: 503
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*wxauth: redis 127\.0\.0\.1:\d+ did not answer in time/,
 qr/\[error\] .*wxauth: dropping the connection to redis 127\.0\.0\.1:\d+, it stopped answering/,
 qr/\[error\] .*wxauth: request refused: store_unavailable/]



=== TEST 9: Redis never answers: request after request, 503 each time within the timeout
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request eval
[map { "GET /api/profile/$_" } 1 .. 5]
--- timeout: 5
--- error_code eval
[(503) x 5]
--- response_body_like eval
[('^\{"error":"store_unavailable","message":"[^"]+"\}$') x 5]
--- error_log
wxauth: request refused: store_unavailable



=== TEST 10: Redis never answers: a login answers 503 store_unavailable
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
qr/\[error\] .*wxauth: login refused: store_unavailable/



=== TEST 11: Redis refuses the connection setup (AUTH): 503, the password is not logged
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=NotTheRedisPassword42;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
qr/\[error\] .*wxauth: redis 127\.0\.0\.1:\d+ refused the connection setup/
--- no_error_log
NotTheRedisPassword42



=== TEST 12: Redis refuses the database (SELECT): 503 store_unavailable
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=12345;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
qr/\[error\] .*wxauth: redis 127\.0\.0\.1:\d+ refused the connection setup/



=== TEST 13: WeChat never answers: 504 wechat_timeout
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt003:";
--- request
POST /login/wechat-hangs
{"code":"good"}
--- timeout: 5
--- error_code: 504
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"wechat_timeout","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*upstream timed out/,
 qr/\[error\] .*wxauth: login refused: wechat_timeout/]



=== TEST 14: WeChat refuses the connection: 502 wechat_unavailable
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt003:";
--- request
POST /login/wechat-down
{"code":"good"}
--- timeout: 5
--- error_code: 502
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*connect\(\) failed \(111: Connection refused\)/,
 qr/\[error\] .*wxauth: login refused: wechat_unavailable/]



=== TEST 15: a client gives up while Redis hangs: nginx lives on, the next request is answered
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- init
WxAuthTest::abandon_request(main::port(), "GET /api/gone HTTP/1.1\nHost: localhost\n"
    . "X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs", 0.1);
Time::HiRes::sleep(0.6);   # the abandoned lookup times out meanwhile
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$



=== TEST 16: a client gives up during a login while WeChat hangs: nginx lives on
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt003:";
--- init
WxAuthTest::abandon_request(main::port(), "POST /login/wechat-hangs HTTP/1.1\nHost: localhost\n"
    . "Content-Type: application/json\n\n{\"code\":\"good\"}", 0.1);
Time::HiRes::sleep(0.6);   # the abandoned exchange times out meanwhile
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 17: a client gives up during a login while Redis hangs: nginx lives on
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- init
WxAuthTest::abandon_request(main::port(), "POST /login HTTP/1.1\nHost: localhost\n"
    . "Content-Type: application/json\n\n{\"code\":\"good\"}", 0.1);
Time::HiRes::sleep(0.6);   # the abandoned SET times out meanwhile
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$



=== TEST 18: control: with the same configuration, a working Redis and WeChat give a session
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt003:";
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- no_error_log
[error]
