# vi:filetype=perl
#
# Configurations nginx must refuse (--- must_die), and directives inherited
# from the http {} and server {} levels.
#
# What nginx says about a configuration it refuses it prints while reading the
# file, before any error_log of that configuration is open: Debian's nginx
# (built with --error-log-path=stderr) prints it on stderr only. Test::Nginx
# reads logs/error.log for --- error_log, so a must_die block can only check
# that nginx died. The messages are checked here, before run_tests(), by
# running `nginx -t` on each must_die block's configuration (%Says below).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use File::Temp ();

WxAuthTest::setup_ports();

our $Dir = File::Temp::tempdir('wxauth-conf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$Dir/empty-secret" or die "$Dir/empty-secret: $!";
print $fh "  \n\n";
close $fh;
$ENV{TEST_NGINX_EMPTY_SECRET_FILE}   = "$Dir/empty-secret";
$ENV{TEST_NGINX_MISSING_SECRET_FILE} = "$Dir/no-such-file";

# what nginx -t must print for each must_die block, by test number
our %Says = (
    1  => qr/\[emerg\] .*"wxauth_login" in \S+:\d+ needs "wxauth_appid"/,
    2  => qr/\[emerg\] .*"wxauth_login" in \S+:\d+ needs "wxauth_secret" or "wxauth_secret_file"/,
    3  => qr/\[emerg\] .*"wxauth_login" in \S+:\d+ needs "wxauth_code2session"/,
    4  => qr/\[emerg\] .*"wxauth_login" in \S+:\d+ needs "wxauth_redis"/,
    5  => qr/\[emerg\] .*"wxauth on" needs a "wxauth_redis"/,
    6  => qr/\[emerg\] .*"wxauth_code2session" takes a location URI/,
    7  => qr/\[emerg\] .*"wxauth_code2session" takes a location URI/,
    8  => qr/\[emerg\] .*invalid parameter #2 in "wxauth_redis"/,
    9  => qr/\[emerg\] .*empty "password=" in "wxauth_redis"/,
    10 => qr/\[emerg\] .*invalid "db=-1" in "wxauth_redis"/,
    11 => qr/\[emerg\] .*invalid redis address "127\.0\.0\.1:redis"/,
    12 => qr/\[emerg\] .*"wxauth_session_ttl" must be positive/,
    13 => qr/\[emerg\] .*"wxauth_redis_timeout" must be positive/,
    14 => qr/\[emerg\] .*"wxauth_secret_file": .*no-such-file/,
    15 => qr/\[emerg\] .*"wxauth_secret_file": .*empty-secret" is empty/,
    16 => qr/\[emerg\] .*"wxauth_secret_file" directive is duplicate/,
    17 => qr/\[emerg\] .*"wxauth_login" directive is not allowed here/,
    18 => qr/\[emerg\] .*"wxauth_redis" directive is not allowed here/,
    19 => qr/\[emerg\] .*"wxauth_redis" directive is duplicate/,
);

# never echo what may be a mistyped password
our %MustNotSay = (
    8 => qr/pasword|Hunter2Secret/,
);

for my $block (blocks()) {
    next unless defined $block->must_die;
    my ($n) = $block->name =~ /TEST (\d+):/;
    my $name = $block->name;
    my ($status, $out) = WxAuthTest::nginx_config_test(scalar $block->http_config,
                                                          scalar $block->config);
    isnt($status, 0, "$name - nginx -t refuses the configuration");
    like($out, $Says{$n}, "$name - nginx -t says why");
    unlike($out, $MustNotSay{$n}, "$name - nginx -t does not echo the parameter")
        if $MustNotSay{$n};
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: wxauth_login without wxauth_appid
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /login {
        wxauth_login;
        wxauth_secret k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u;
        wxauth_code2session /_wx/jscode2session;
    }
--- must_die



=== TEST 2: wxauth_login without a secret
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /login {
        wxauth_login;
        wxauth_appid wx51a4cc1e0a5e0001;
        wxauth_code2session /_wx/jscode2session;
    }
--- must_die



=== TEST 3: wxauth_login without wxauth_code2session
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /login {
        wxauth_login;
        wxauth_appid wx51a4cc1e0a5e0001;
        wxauth_secret k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u;
    }
--- must_die



=== TEST 4: wxauth_login without wxauth_redis
--- config
    location = /login {
        wxauth_login;
        wxauth_appid wx51a4cc1e0a5e0001;
        wxauth_secret k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u;
        wxauth_code2session /_wx/jscode2session;
    }
--- must_die



=== TEST 5: wxauth on without wxauth_redis
--- config
    location /api/ {
        wxauth on;
        return 200 "never";
    }
--- must_die



=== TEST 6: wxauth_code2session with arguments
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /login {
        wxauth_login;
        wxauth_appid wx51a4cc1e0a5e0001;
        wxauth_secret k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u;
        wxauth_code2session /_wx/jscode2session?grant_type=x;
    }
--- must_die



=== TEST 7: wxauth_code2session with a URL instead of a location
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /login {
        wxauth_login;
        wxauth_appid wx51a4cc1e0a5e0001;
        wxauth_secret k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u;
        wxauth_code2session https://api.weixin.qq.com/sns/jscode2session;
    }
--- must_die



=== TEST 8: wxauth_redis with an unknown parameter (a mistyped password)
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT pasword=Hunter2Secret;
--- config
--- must_die



=== TEST 9: wxauth_redis with an empty password
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=;
--- config
--- must_die



=== TEST 10: wxauth_redis with a negative db
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=-1;
--- config
--- must_die



=== TEST 11: wxauth_redis with a port that is not a number
--- http_config
    wxauth_redis 127.0.0.1:redis;
--- config
--- must_die



=== TEST 12: wxauth_session_ttl 0
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_session_ttl 0;
--- config
--- must_die



=== TEST 13: wxauth_redis_timeout 0
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis_timeout 0;
--- config
--- must_die



=== TEST 14: wxauth_secret_file that does not exist
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_secret_file $TEST_NGINX_MISSING_SECRET_FILE;
--- config
--- must_die



=== TEST 15: wxauth_secret_file that holds no secret
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_secret_file $TEST_NGINX_EMPTY_SECRET_FILE;
--- config
--- must_die



=== TEST 16: wxauth_secret and wxauth_secret_file in the same place
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_secret k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u;
    wxauth_secret_file $TEST_NGINX_EMPTY_SECRET_FILE;
--- config
--- must_die



=== TEST 17: wxauth_login outside a location
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    wxauth_login;
--- must_die



=== TEST 18: wxauth_redis in a location
--- config
    location /api/ {
        wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- must_die



=== TEST 19: wxauth_redis twice at the same level
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    wxauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=1;
--- config
--- must_die



=== TEST 20: everything for the login set at the http level; the location only says wxauth_login
--- http_config eval
<<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt006:";
    wxauth_appid $WxAuthTest::AppId;
    wxauth_secret $WxAuthTest::Secret;
    wxauth_code2session /_wx/jscode2session;
    wxauth_session_ttl 90s;

$WxAuthTest::Servers
_EOC_
--- config
    location = /login {
        wxauth_login;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":90\}$
--- no_error_log
[alert]
[crit]
[emerg]
[error]



=== TEST 21: server-level settings override the http level; wxauth_redis set per server
--- http_config eval
<<"_EOC_";
    wxauth_appid wxSomeOtherApp00001;
    wxauth_secret notTheRealSecret0000000000000000;
    wxauth_session_ttl 1h;

$WxAuthTest::Servers
_EOC_
--- config eval
<<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt006:";
    wxauth_appid $WxAuthTest::AppId;
    wxauth_secret $WxAuthTest::Secret;
    wxauth_code2session /_wx/jscode2session;
    wxauth_session_ttl 2m;

    location = /login {
        wxauth_login;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }
_EOC_
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":120\}$
--- no_error_log
[alert]
[crit]
[emerg]
[error]



=== TEST 22: the defaults: prefix "wxauth:", token from X-WX-Session
--- http_config eval
<<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;

$WxAuthTest::Servers
_EOC_
--- config
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID $wxauth_openid;
        proxy_set_header X-WX-UnionID $wxauth_unionid;
        proxy_set_header X-WX-AppID $wxauth_appid;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    }
--- init
WxAuthTest::seed_session(prefix => 'wxauth:', token => 'Nq2dG0fTt2uYpS8j0-default-prefix-test-00001',
    openid => 'oAlice-6Yk2QfPZ', appid => $WxAuthTest::AppId, ttl => 60);
--- more_headers
X-WX-Session: Nq2dG0fTt2uYpS8j0-default-prefix-test-00001
--- request
GET /api/me
--- error_code: 200
--- response_body
upstream GET /api/me openid=[oAlice-6Yk2QfPZ] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[Nq2dG0fTt2uYpS8j0-default-prefix-test-00001]
--- no_error_log
[alert]
[crit]
[emerg]
[error]
