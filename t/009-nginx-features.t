# vi:filetype=perl
#
# `wxauth on` among the nginx features operators combine it with. The access
# phase follows nginx's contract (as auth_basic and auth_request do): a
# refusal is a status that nginx answers, so that
#
# - `satisfy any` lets a request through that another access module allows;
# - `error_page 401 403 503 ...` sends the request where the operator says,
#   and $wxauth_error (the stable error code) is there for that page and for
#   log_format / add_header;
# - without an error_page, clients get the module's JSON error, as before.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_CLOSED_PORT} = WxAuthTest::free_port();

our $Prefix = 'wxt009:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = WxAuthTest::token('t009-alice');

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Upstream = <<'_EOC_';
        proxy_set_header X-WX-OpenID $wxauth_openid;
        proxy_set_header X-WX-UnionID $wxauth_unionid;
        proxy_set_header X-WX-AppID $wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
_EOC_

our $Config = <<"_EOC_";
    # the loopback client is allowed without a session
    location /internal-tools/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        wxauth on;
$Upstream
    }

    # let through by `allow` although refused, then forbidden by nginx itself (a directory
    # without index): that 403 is nginx's, not the module's app_not_allowed
    location /tools-dir/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        wxauth on;
        wxauth_allowed_apps $AppId;
        alias html/dir/;
    }

    # the loopback client is not allowed: a session is needed
    location /partners/ {
        satisfy any;
        allow 192.0.2.1;
        deny all;
        wxauth on;
$Upstream
    }

    # satisfy all (the default): both must pass
    location /both/ {
        allow 127.0.0.1;
        deny all;
        wxauth on;
$Upstream
    }

    location /redirect-to-login/ {
        wxauth on;
        error_page 401 = \@login;
$Upstream
    }

    location \@login {
        return 302 /please-login;
    }

    # the operator's own error document, with the module's error code
    location /custom/ {
        wxauth on;
        wxauth_allowed_apps $AppId;
        error_page 401 403 503 /wx-error;
$Upstream
    }

    location = /wx-error {
        internal;
        default_type application/json;
        return 200 '{"code":"\$wxauth_error","custom":true}\\n';
    }

    # a refusal, its code in a response header and in the access log
    location /plain/ {
        wxauth on;
        wxauth_allowed_apps $AppId;
        add_header X-WX-Error \$wxauth_error always;
$Upstream
    }

    location /down/ {
        wxauth on;
        wxauth_redis_timeout 300ms;
        error_page 503 = \@busy;
$Upstream
    }

    location \@busy {
        default_type text/plain;
        return 200 "busy: \$wxauth_error\\n";
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

sub seed {
    my ($token, $appid) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => 'oAlice-6Yk2QfPZ',
                             unionid => 'uAlice-Lr0Wx3Tn', appid => $appid || $AppId, ttl => 600);
}

our $Missing = '{"error":"missing_session","message":"no session token in the request"}';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: satisfy any: an allowed address passes without a token; with a token the identity still reaches the upstream
--- init
main::seed($main::Alice);
--- more_headers eval
["", "X-WX-Session: $main::Alice", "X-WX-Session: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
--- request eval
["GET /internal-tools/a", "GET /internal-tools/b", "GET /internal-tools/c"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["upstream GET /internal-tools/a openid=[] unionid=[] appid=[] session=[]\n",
 "upstream GET /internal-tools/b openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n",
 "upstream GET /internal-tools/c openid=[] unionid=[] appid=[] session=[]\n"]



=== TEST 2: satisfy any: an address that is not allowed needs a session (401 JSON without one)
--- init
main::seed($main::Alice);
--- more_headers eval
["", "X-WX-Session: $main::Alice"]
--- request eval
["GET /partners/a", "GET /partners/b"]
--- error_code eval
[401, 200]
--- response_headers eval
["Content-Type: application/json\nCache-Control: no-store\n", ""]
--- response_body eval
[$main::Missing . "", "upstream GET /partners/b openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n"]



=== TEST 3: satisfy all: the address check and the session both apply
--- init
main::seed($main::Alice);
--- more_headers eval
["", "X-WX-Session: $main::Alice"]
--- request eval
["GET /both/a", "GET /both/b"]
--- error_code eval
[401, 200]
--- response_body eval
[$main::Missing, "upstream GET /both/b openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n"]



=== TEST 4: error_page 401 = @named: the named location answers a refused request
--- init
main::seed($main::Alice);
--- more_headers eval
["", "X-WX-Session: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "X-WX-Session: $main::Alice"]
--- request eval
["GET /redirect-to-login/a", "GET /redirect-to-login/b", "GET /redirect-to-login/c"]
--- error_code eval
[302, 302, 200]
--- response_headers_like eval
["Location: .*/please-login", "Location: .*/please-login", ""]
--- response_body_unlike eval
['"error"', '"error"', '"error"']



=== TEST 5: a custom JSON error page uses $wxauth_error; the status is the refusal's
--- init
main::seed($main::Alice, 'wx51a4cc1e0a5e0002');
--- more_headers eval
["", "X-WX-Session: not-a-token", "X-WX-Session: BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "X-WX-Session: $main::Alice"]
--- request eval
["GET /custom/a", "GET /custom/b", "GET /custom/c", "GET /custom/d"]
--- error_code eval
[401, 401, 401, 403]
--- response_body eval
['{"code":"missing_session","custom":true}' . "\n",
 '{"code":"invalid_session","custom":true}' . "\n",
 '{"code":"session_expired","custom":true}' . "\n",
 '{"code":"app_not_allowed","custom":true}' . "\n"]



=== TEST 6: no error_page: the default JSON body and headers are unchanged; $wxauth_error in add_header
--- init
main::seed($main::Alice, 'wx51a4cc1e0a5e0002');
--- more_headers eval
["", "X-WX-Session: $main::Alice"]
--- request eval
["GET /plain/a", "GET /plain/b"]
--- error_code eval
[401, 403]
--- response_headers eval
["Content-Type: application/json\nCache-Control: no-store\nX-WX-Error: missing_session\n",
 "Content-Type: application/json\nCache-Control: no-store\nX-WX-Error: app_not_allowed\n"]
--- response_body eval
[$main::Missing,
 '{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}']



=== TEST 7: HEAD of a refused request: the JSON error's headers, no body
--- request
HEAD /plain/a
--- error_code: 401
--- response_headers eval
"Content-Type: application/json\nCache-Control: no-store\nContent-Length: " . length($main::Missing) . "\n"
--- response_body chomp



=== TEST 8: error_page 503 = @named when Redis is down: the operator's fallback answers
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_prefix "wxt009:";
--- more_headers eval
"X-WX-Session: $main::Alice"
--- request
GET /down/a
--- timeout: 5
--- error_code: 200
--- response_body
busy: store_unavailable
--- error_log
wxauth: request refused: store_unavailable



=== TEST 9: satisfy any lets a refused request through; nginx's own later 403 stays nginx's
--- init
main::seed($main::Alice, 'wx51a4cc1e0a5e0002');
--- user_files
>>> dir/file.txt
a file, and no index
--- more_headers eval
["X-WX-Session: $main::Alice", "X-WX-Session: $main::Alice"]
--- request eval
["GET /tools-dir/", "GET /tools-dir/file.txt"]
--- error_code eval
[403, 200]
--- response_body_like eval
['<html>', '^a file, and no index']
--- error_log
wxauth: request refused: app_not_allowed
