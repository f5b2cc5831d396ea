# vi:filetype=perl
#
# The AppSecret travels to WeChat in the query string of the code2session
# subrequest. nginx prints that URL in its error log when the upstream fails,
# and in its debug log all along. The module masks `secret=` in those lines
# and keeps debug logging off during the exchange: the secret must never show
# up in the error log, which these blocks write at debug level.
#
# Every block also checks that the AppSecret is absent (block_defaults).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use File::Temp ();

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_CLOSED_PORT}    = WxAuthTest::free_port();
$ENV{TEST_NGINX_BLACKHOLE_PORT} = WxAuthTest::blackhole();

# wxauth_secret_file: the secret on the first line, white space around it
our $SecretDir = File::Temp::tempdir('wxauth-secret-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $FileSecret = 'fileSecret7Gq2Lm9Xc4Vb8Nz1Kd6Rt';
open my $fh, '>', "$SecretDir/appsecret" or die "$SecretDir/appsecret: $!";
print $fh "  $FileSecret  \n# not part of the secret\n";
close $fh;
$ENV{TEST_NGINX_SECRET_FILE} = "$SecretDir/appsecret";

# a secret made of characters that must be escaped in a query string
our $OddSecret        = 'Pa55+w/rd&x=y z';
our $OddSecretEscaped = 'Pa55%2Bw%2Frd%26x%3Dy%20z';

log_level('debug');

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "wxt004:";
    wxauth_appid $WxAuthTest::AppId;

$WxAuthTest::Servers

    # the first server refuses connections, nginx goes on with the backup
    upstream wechat_flaky {
        server 127.0.0.1:\$TEST_NGINX_CLOSED_PORT;
        server 127.0.0.1:\$TEST_NGINX_WECHAT_PORT backup;
    }
_EOC_

our $Config = <<"_EOC_";
    location = /login {
        wxauth_login;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

    location = /login/wechat-down {
        wxauth_login;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/down/jscode2session;
    }

    location = /_wx/down/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_CLOSED_PORT/sns/jscode2session;
    }

    location = /login/wechat-hangs {
        wxauth_login;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/hangs/jscode2session;
    }

    location = /_wx/hangs/jscode2session {
        internal;
        proxy_read_timeout 300ms;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BLACKHOLE_PORT/sns/jscode2session;
    }

    location = /login/wechat-flaky {
        wxauth_login;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/flaky/jscode2session;
    }

    location = /_wx/flaky/jscode2session {
        internal;
        proxy_pass http://wechat_flaky/sns/jscode2session;
    }

    # the WeChat location asks for a debug log of its own
    location = /login/debug-location {
        wxauth_login;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/debug/jscode2session;
    }

    location = /_wx/debug/jscode2session {
        internal;
        error_log logs/error.log debug;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_CLOSED_PORT/sns/jscode2session;
    }

    location = /login/file {
        wxauth_login;
        wxauth_secret_file \$TEST_NGINX_SECRET_FILE;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /login/file/wechat-down {
        wxauth_login;
        wxauth_secret_file \$TEST_NGINX_SECRET_FILE;
        wxauth_code2session /_wx/down/jscode2session;
    }

    location = /login/odd {
        wxauth_login;
        wxauth_secret "$OddSecret";
        wxauth_code2session /_wx/jscode2session;
    }

    # not the module: a plain proxy of a request whose arguments hold a secret
    location = /control {
        proxy_pass http://127.0.0.1:\$TEST_NGINX_CLOSED_PORT;
    }

    location = /login/odd/wechat-down {
        wxauth_login;
        wxauth_secret "$OddSecret";
        wxauth_code2session /_wx/down/jscode2session;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config,
        no_error_log => [$FileSecret, $OddSecret, $OddSecretEscaped, 'Pa55+', 'Pa55%2B']);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: WeChat refuses the connection: the logged upstream URL has secret=[hidden]
--- request
POST /login/wechat-down
{"code":"good"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream, .*upstream: "http:\/\/127\.0\.0\.1:\d+\/sns\/jscode2session\?appid=wx51a4cc1e0a5e0001&secret=\[hidden\]&js_code=good&grant_type=authorization_code"/,
 qr/\[debug\] /]



=== TEST 2: WeChat never answers: the logged upstream URL has secret=[hidden]
--- request
POST /login/wechat-hangs
{"code":"good"}
--- timeout: 5
--- error_code: 504
--- response_body_like: ^\{"error":"wechat_timeout","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*upstream timed out \(110: Connection timed out\) while reading response header from upstream, .*upstream: "http:\/\/127\.0\.0\.1:\d+\/sns\/jscode2session\?appid=wx51a4cc1e0a5e0001&secret=\[hidden\]&js_code=good&grant_type=authorization_code"/,
 qr/\[debug\] /]



=== TEST 3: a successful login at debug level: no secret in the log, debug logging back on afterwards
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log eval
[qr/\[debug\] .*\*\d+ http client request body preread/,
 qr/\[debug\] .*\*\d+ http finalize request: 0, "\/login\?" a:1, c:1/]



=== TEST 4: the first WeChat server fails, the backup answers: the failure is logged masked
--- request
POST /login/wechat-flaky
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log eval
qr/\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream, .*upstream: "http:\/\/127\.0\.0\.1:\d+\/sns\/jscode2session\?appid=wx51a4cc1e0a5e0001&secret=\[hidden\]&js_code=good&grant_type=authorization_code"/



=== TEST 5: the WeChat location has its own debug error_log: still no secret
--- request
POST /login/debug-location
{"code":"good"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
secret=[hidden]



=== TEST 6: wxauth_secret_file: the secret read from the file works
--- request
POST /login/file
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 7: wxauth_secret_file: WeChat down, the file's secret is masked
--- request
POST /login/file/wechat-down
{"code":"good"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
&secret=[hidden]&js_code=good



=== TEST 8: a secret with characters to escape reaches WeChat intact
--- request
POST /login/odd
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 9: a secret with characters to escape: masked whole when WeChat is down
--- request
POST /login/odd/wechat-down
{"code":"good"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
?appid=wx51a4cc1e0a5e0001&secret=[hidden]&js_code=good&grant_type=authorization_code"



=== TEST 10: control: without the module's masking nginx does log the arguments of a failed upstream
--- request
GET /control?appid=wx51a4cc1e0a5e0001&secret=NotTheAppSecretButLoggedAnyway
--- error_code: 502
--- error_log eval
qr/\[error\] .*upstream: "http:\/\/127\.0\.0\.1:\d+\/control\?appid=wx51a4cc1e0a5e0001&secret=NotTheAppSecretButLoggedAnyway"/
