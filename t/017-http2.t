# vi:filetype=perl
#
# HTTP/2 in front of the module: the login, the check and the refusals over
# HTTP/2 streams, and a client that resets one stream (RST_STREAM) while nginx
# still waits for Redis or WeChat for it, or while its body is still coming,
# then goes on using the same connection. nginx frees such a stream's request at
# once, unlike an HTTP/1.1 client that goes away (t/003 TESTs 15-17): whatever
# the module had pending for it must neither touch the freed request nor keep
# the other streams or the next requests from being answered.
#
# nginx listens for HTTP/2 (cleartext, prior knowledge) on TEST_NGINX_H2_PORT,
# in a server block of each block's http_config with the same locations as the
# main server; t/lib/WxAuthH2.pm is the client.
#
#   TEST_NGINX_BLACKHOLE_PORT  the kernel accepts connections, nobody answers
#                              (a hung Redis / WeChat)

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthH2;

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_H2_PORT}        = WxAuthTest::free_port();
$ENV{TEST_NGINX_BLACKHOLE_PORT} = WxAuthTest::blackhole();

our $Token = WxAuthTest::token('h2-alice');
our $Prefix = 'wxt017:';

our $Locations = <<"_EOC_";
        location = /ping {
            return 200 "pong\\n";
        }

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
            proxy_read_timeout 300ms;
            proxy_pass http://127.0.0.1:\$TEST_NGINX_BLACKHOLE_PORT/sns/jscode2session;
        }

        location /api/ {
            wxauth on;
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-UnionID \$wxauth_unionid;
            proxy_set_header X-WX-AppID \$wxauth_appid;
            proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
        }
_EOC_

# `listen ... http2` until nginx 1.25.1, `http2 on;` since (the old form warns there)
my ($major, $minor, $patch) = (`$ENV{TEST_NGINX_BINARY} -v 2>&1` // '') =~ m{nginx/(\d+)\.(\d+)\.(\d+)};
my $new_syntax = defined $major && ($major * 1_000_000 + $minor * 1000 + $patch) >= 1_025_001;
our $H2Server = "    server {\n"
    . ($new_syntax ? "        listen 127.0.0.1:\$TEST_NGINX_H2_PORT;\n        http2 on;\n"
                   : "        listen 127.0.0.1:\$TEST_NGINX_H2_PORT http2;\n")
    . "        server_name localhost;\n$Locations    }\n";

# A block's Redis in its own --- http_config; the HTTP/2 server and the stand-ins
# are added to all of them.
add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, config => $Locations,
                               http_config_append => "$H2Server\n$WxAuthTest::Servers");
});

sub h2 { WxAuthH2->new($ENV{TEST_NGINX_H2_PORT}) }

# one HTTP/2 request on its own stream: (status, body)
sub ask {
    my ($c, $sid, @request) = @_;
    $c->request($sid, @request);
    return $c->response($sid, 5);
}

sub login_body { '{"code":"' . shift() . '"}' }

# the connection still serves streams after one was reset
sub still_serves {
    my ($c, $sid, $name) = @_;
    my ($st, $body) = ask($c, $sid, 'GET', '/ping');
    Test::More::is("$st " . ($body // ''), "200 pong\n", "$name: the connection serves the next stream");
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: over HTTP/2: a login, a check with its token, the refusals with their JSON bodies
--- http_config eval
qq{
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$main::Prefix";
}
--- init
{
    my $c = main::h2();
    my ($st, $body) = main::ask($c, 1, 'POST', '/login', { 'content-type' => 'application/json' },
                                main::login_body('good'));
    my ($token) = WxAuthTest::login_answer($body);
    Test::More::ok($st eq '200' && $token, "h2 login: 200 and a session ($st " . ($body // '') . ')');

    ($st, $body) = main::ask($c, 3, 'GET', '/api/me', { 'x-wx-session' => $token // '' });
    Test::More::is($st, 200, 'h2 check: 200');
    Test::More::like($body, qr/openid=\[oAlice-6Yk2QfPZ\] unionid=\[uAlice-Lr0Wx3Tn\]/,
                     'h2 check: the identity reaches the upstream');

    ($st, $body) = main::ask($c, 5, 'GET', '/api/me');
    Test::More::is("$st $body", '401 {"error":"missing_session","message":"no session token in the request"}',
                   'h2: no token is 401 missing_session');

    ($st, $body) = main::ask($c, 7, 'GET', '/api/me', { 'x-wx-session' => $main::Token });
    Test::More::like("$st $body", qr/^401 \{"error":"session_expired","message":"[^"]+"\}$/,
                     'h2: an unknown token is 401 session_expired');

    ($st, $body) = main::ask($c, 9, 'POST', '/login', { 'content-type' => 'application/json' },
                             main::login_body("a\x00b"));
    Test::More::like("$st $body", qr/^400 \{"error":"invalid_request","message":"[^"]+"\}$/,
                     'h2: a code with a NUL is 400 invalid_request');
    $c->disconnect;
}
--- request
GET /ping
--- error_code: 200
--- response_body
pong



=== TEST 2: a stream reset while its check waits for a Redis that hangs: the connection goes on, the abandoned lookup times out harmlessly
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt017:";
--- init
{
    my $c = main::h2();
    $c->request(1, 'GET', '/api/gone', { 'x-wx-session' => $main::Token });
    Time::HiRes::sleep(0.1);
    $c->rst(1);
    main::still_serves($c, 3, 'check reset');
    # more streams reset at once, while the first lookup is still pending
    $c->request($_, 'GET', "/api/gone/$_", { 'x-wx-session' => $main::Token }) for 5, 7, 9;
    Time::HiRes::sleep(0.05);
    $c->rst($_) for 5, 7, 9;
    Time::HiRes::sleep(0.6);    # the lookups time out meanwhile, their requests gone
    my ($st, $body) = main::ask($c, 11, 'GET', '/api/after', { 'x-wx-session' => $main::Token });
    Test::More::like("$st $body", qr/^503 \{"error":"store_unavailable","message":"[^"]+"\}$/,
                     'a later stream on the same connection is answered 503 store_unavailable');
    $c->disconnect;
}
--- more_headers eval
"X-WX-Session: $main::Token"
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log
client canceled stream 1
did not answer in time



=== TEST 3: a stream reset while its login waits for a WeChat that hangs: the next login works
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt017:";
--- init
{
    my $c = main::h2();
    $c->request(1, 'POST', '/login/wechat-hangs', { 'content-type' => 'application/json' },
                main::login_body('good'));
    Time::HiRes::sleep(0.1);
    $c->rst(1);
    main::still_serves($c, 3, 'login reset');
    Time::HiRes::sleep(0.5);    # the abandoned exchange times out meanwhile
    my ($st, $body) = main::ask($c, 5, 'POST', '/login', { 'content-type' => 'application/json' },
                                main::login_body('good'));
    Test::More::ok($st eq '200' && WxAuthTest::login_answer($body),
                   "a later login on the same connection gets a session ($st)");
    $c->disconnect;
}
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log
client canceled stream 1



=== TEST 4: a stream reset while its login waits for a Redis that hangs (WeChat answered): nginx goes on
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt017:";
--- init
{
    my $c = main::h2();
    $c->request(1, 'POST', '/login', { 'content-type' => 'application/json' },
                main::login_body('good'));
    Time::HiRes::sleep(0.15);   # WeChat answered; the session's SET waits
    $c->rst(1);
    main::still_serves($c, 3, 'login reset during the SET');
    Time::HiRes::sleep(0.5);
    my ($st, $body) = main::ask($c, 5, 'POST', '/login', { 'content-type' => 'application/json' },
                                main::login_body('good'));
    Test::More::like("$st $body", qr/^503 \{"error":"store_unavailable","message":"[^"]+"\}$/,
                     'a later login on the same connection is 503 store_unavailable');
    $c->disconnect;
}
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log
client canceled stream 1



=== TEST 5: a stream reset while its login body is still coming: the body reader lets go, the next login works
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt017:";
--- init
{
    my $c = main::h2();
    $c->request(1, 'POST', '/login',
                { 'content-type' => 'application/json', 'content-length' => 15 },
                '{"co', open => 1);
    Time::HiRes::sleep(0.1);
    $c->rst(1);
    main::still_serves($c, 3, 'body reset');
    # a body that never comes at all, and one cut off by the end of its stream
    $c->request(5, 'POST', '/login', { 'content-type' => 'application/json',
                                       'content-length' => 15 }, '', open => 1);
    $c->rst(5);
    my ($st, $body) = main::ask($c, 7, 'POST', '/login',
                                { 'content-type' => 'application/json', 'content-length' => 15 },
                                '{"code"');
    Test::More::ok(defined $st ? $st =~ /^4\d\d$/ : $body =~ /reset/,
                   'a body shorter than its content-length is refused (' . ($st // $body) . ')');
    ($st, $body) = main::ask($c, 9, 'POST', '/login', { 'content-type' => 'application/json' },
                             main::login_body('good'));
    Test::More::ok($st eq '200' && WxAuthTest::login_answer($body),
                   "a later login on the same connection gets a session ($st)");
    $c->disconnect;
}
--- request
POST /login
{"code":"good"}
--- timeout: 5
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log
client canceled stream 1



=== TEST 6: the whole HTTP/2 connection dropped with checks pending on a Redis that hangs: nginx goes on
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_redis_prefix "wxt017:";
--- init
{
    my $c = main::h2();
    $c->request(2 * $_ + 1, 'GET', "/api/dropped/$_", { 'x-wx-session' => $main::Token }) for 0 .. 9;
    Time::HiRes::sleep(0.1);
    $c->disconnect;
    Time::HiRes::sleep(0.6);
}
--- more_headers eval
"X-WX-Session: $main::Token"
--- request
GET /api/profile
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
