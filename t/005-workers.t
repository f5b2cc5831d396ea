# vi:filetype=perl
#
# A master process with two workers: each worker keeps a Redis connection of
# its own (this suite uses a Redis database of its own, db=7, so that the
# workers' connections can be told from other clients in CLIENT LIST), and
# many requests in a row all get their answer, whichever worker takes them.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;

WxAuthTest::setup_ports();

master_on();
workers(2);

our $Prefix = 'wxt005:';
our $Db     = 7;

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT db=$Db;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

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

    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    # the token in the query string, so that one block can send several
    location /q/ {
        wxauth on;
        wxauth_token \$arg_t;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT/q/;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# Every worker holds a connection to Redis (and nobody else uses this suite's
# db). That is two; under valgrind the real Test::Nginx runs nginx without a
# master, one process then: count the processes rather than assume.
sub both_workers_connected {
    my $want = WxAuthTest::nginx_workers($Test::Nginx::Util::PidFile);
    Test::More::is($want, 2, "nginx runs two workers")
        unless $ENV{TEST_NGINX_USE_VALGRIND};
    my $n = WxAuthTest::clients_on_db(db => $Db, want => $want, wait => 5);
    Test::More::is($n, $want, "every worker is connected to redis (db=$Db)");
}

our $Alice = 'g4lYIOkpz-WGnRe-WlKsNRKrVlBqVy7f_7FnDlSTHlM';
our $Bob   = 'WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8';

sub seed_all {
    WxAuthTest::seed_session(db => $Db, prefix => $Prefix, token => $Alice,
        openid => 'oAlice-6Yk2QfPZ', unionid => 'uAlice-Lr0Wx3Tn',
        appid => $WxAuthTest::AppId, ttl => 600);
    WxAuthTest::seed_session(db => $Db, prefix => $Prefix, token => $Bob,
        openid => 'oBob-8Hd1MeRV', appid => $WxAuthTest::AppId, ttl => 600);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: two workers, each connected to Redis; 40 session checks in a row all pass
--- init
main::seed_all();
main::both_workers_connected();
--- more_headers
X-WX-Session: g4lYIOkpz-WGnRe-WlKsNRKrVlBqVy7f_7FnDlSTHlM
--- request eval
[map { "GET /api/item/$_" } 1 .. 40]
--- error_code eval
[(200) x 40]
--- response_body eval
[map { "upstream GET /api/item/$_ openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n" } 1 .. 40]
--- no_error_log
[error]



=== TEST 2: two workers: 30 logins in a row all get a session
--- init
main::both_workers_connected();
--- more_headers
Content-Type: application/json
--- request eval
[("POST /login\n{\"code\":\"good\"}") x 30]
--- error_code eval
[(200) x 30]
--- response_body_like eval
[('^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$') x 30]
--- no_error_log
[error]



=== TEST 3: two workers: good, unknown and malformed tokens interleaved, each gets its own answer
--- init
main::seed_all();
main::both_workers_connected();
--- request eval
my @r;
for my $i (1 .. 10) {
    push @r, "GET /q/a$i?t=$main::Alice", "GET /q/b$i?t=$main::Bob",
             "GET /q/c$i?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET /q/d$i?t=bad";
}
\@r
--- error_code eval
[(200, 200, 401, 401) x 10]
--- response_body_like eval
my @r;
for my $i (1 .. 10) {
    push @r, "^upstream GET /q/a$i\\?t=\\S+ openid=\\[oAlice-6Yk2QfPZ\\] unionid=\\[uAlice-Lr0Wx3Tn\\]",
             "^upstream GET /q/b$i\\?t=\\S+ openid=\\[oBob-8Hd1MeRV\\] unionid=\\[\\]",
             '^\{"error":"session_expired","message":"[^"]+"\}$',
             '^\{"error":"invalid_session","message":"[^"]+"\}$';
}
\@r
