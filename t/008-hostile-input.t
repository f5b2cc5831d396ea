# vi:filetype=perl
#
# Input that fault injection and fuzzing found the module mishandling:
#
# - a JSON string holding \u0000: cJSON keeps strings NUL-terminated, so the
#   module used to see only what came before the NUL (a signature vouched for
#   data other than what was signed, a shortened code went to WeChat);
# - WeChat answers nginx cannot hold or read: over the subrequest buffer,
#   broken chunked framing, a body that stalls after the headers. nginx ends
#   such a subrequest with an error that used to kill the client's request
#   (no answer at all, nothing logged, nothing counted);
# - request bodies nginx refuses while reading them (invalid chunked framing,
#   too large): nginx's HTML error page used to answer, where every answer of
#   the module's handlers is JSON.
#
#   TEST_NGINX_RAW_WECHAT_PORT  a stand-in WeChat of this suite that answers
#                               raw bytes (t/lib/WxAuthStandIns.pm)

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use JSON::PP ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt008:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = 'oAlice-6Yk2QfPZ';
our $Key    = $WxAuthTest::SessionKey;

# WeChat's signature example (see t/103-userdata.t)
our $RawData = '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}';
our $Signature = '75e81ceda165f4ffa64f4068af58c64b8f54b88c';

# WeChat's decryption demo
our $DemoAppId = 'wx4f4bc4dec97d474b';
our $DemoKey   = 'tiihtNczf5v6AKRyjwEUhQ==';
our $DemoIv    = 'r7BXXKkLb8qrSNn05n0qiA==';
our $DemoData  = 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==';

our $Identity = qq{"openid":"$Alice","session_key":"$Key"};

# the raw stand-in's answers, by path
$ENV{TEST_NGINX_RAW_WECHAT_PORT} = WxAuthStandIns::raw_http_server(
    # a valid answer whose openid holds an escaped NUL
    '/nul' => WxAuthStandIns::http_answer('{"openid":"' . $Alice . '\\u0000junk","session_key":"' . $Key . '"}'),
    # a valid answer of 17 KB and one of 1 MB (the location's buffer is 16 KB)
    '/big17k' => WxAuthStandIns::http_answer(
        '{' . $Identity . ',"pad":"' . ('x' x (17 * 1024)) . '"}'),
    '/big1m' => WxAuthStandIns::http_answer(
        '{' . $Identity . ',"pad":"' . ('x' x (1024 * 1024)) . '"}'),
    # chunked with a chunk size that is no hex number
    '/badchunk' => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 . "10\r\n{\"openid\":\"oAli\r\nzz\r\nce\"}\r\n0\r\n\r\n",
    # chunked whose chunk is longer than announced
    '/longchunk' => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  . "4\r\n{\"openid\":\"oAlice\"}\r\n0\r\n\r\n",
    # the headers, a part of the body, then nothing (past proxy_read_timeout)
    '/stall' => sub {
        my $c = shift;
        my $body = '{' . $Identity . '}';
        WxAuthStandIns::write_all($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n"
            . substr($body, 0, 10));
        sleep 5;
    },
    # the headers, then nothing at all
    '/stall-head' => sub {
        my $c = shift;
        WxAuthStandIns::write_all($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        sleep 5;
    },
);

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

# a login location per raw answer: /login/raw/NAME asks /NAME of the stand-in
our $RawLocations = join '', map { <<"_EOC_" } qw(nul big17k big1m badchunk longchunk stall stall-head);
    location = /login/raw/$_ {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/raw/$_;
    }

    location = /_wx/raw/$_ {
        internal;
        proxy_http_version 1.1;
        proxy_read_timeout 500ms;
        subrequest_output_buffer_size 16k;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_RAW_WECHAT_PORT/$_;
    }

_EOC_

our $Config = <<"_EOC_";
    location = /login {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

$RawLocations
    location = /verify {
        wxauth_verify_signature;
    }

    location = /decrypt {
        wxauth_decrypt;
    }

    location = /logout {
        wxauth_logout;
    }

    location = /small-body/login {
        client_max_body_size 64;
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /small-body/verify {
        client_max_body_size 64;
        wxauth_verify_signature;
    }

    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /metrics {
        wxauth_metrics;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# body(field => value, ...) -> a JSON request body
sub body {
    my %f = @_;
    return JSON::PP->new->canonical->encode(\%f);
}

# json_with(field => raw JSON string contents, ...): a body whose values are
# written as given (so that an escape such as \u0000 reaches the module as is)
sub json_with {
    my @pairs = @_;
    my @parts;
    while (my ($k, $v) = splice @pairs, 0, 2) {
        push @parts, qq{"$k":"$v"};
    }
    return '{' . join(',', @parts) . '}';
}

sub seed {
    my ($token, $openid, $appid, $key) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid,
                             appid => $appid, session_key => $key, ttl => 600);
    WxAuthTest::redis('DEL', WxAuthTest::latest_key($Prefix, $appid, $openid));
}

# a raw chunked POST: request line, headers (\n separated), then the body as is
sub chunked_post {
    my ($uri, $headers, $body) = @_;
    my $h = join '', map { "$_\r\n" } @$headers;
    return "POST $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n$h"
         . "Transfer-Encoding: chunked\r\n\r\n$body";
}

our $Invalid = '{"error":"invalid_request","message":"invalid request"}';
our $Wechat502 = '^\{"error":"wechat_unavailable","message":"[^"]+"\}$';

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: signature: rawData with \u0000 and junk after WeChat's example is refused, never "valid"
--- init
main::seed('t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI', $main::Alice, $main::AppId, $main::Key);
--- more_headers
Content-Type: application/json
X-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI
--- request eval
my $raw = JSON::PP->new->encode($main::RawData);   # the JSON string, quotes included
$raw = substr($raw, 1, -1);
[
"POST /verify\n" . main::json_with(rawData => $raw . '\u0000junk', signature => $main::Signature),
"POST /verify\n" . main::json_with(rawData => $raw . '\u0000', signature => $main::Signature),
"POST /verify\n" . main::json_with(rawData => $raw, signature => $main::Signature . '\u0000junk'),
"POST /verify\n" . main::json_with(rawData => $raw, signature => $main::Signature, 'x\u0000' => 'y'),
"POST /verify\n" . main::json_with(rawData => $raw, signature => $main::Signature),
]
--- error_code eval
[400, 400, 400, 400, 200]
--- response_body eval
[($main::Invalid) x 4, '{"valid":true}']
--- error_log
wxauth: request refused: invalid_request



=== TEST 2: decrypt: encryptedData or iv with \u0000 and junk appended is 400 invalid_request
--- init
main::seed('b6Rk1yN0oV4tLqE8xWm2ZcP7sJ3uHd9Af5Gi0Tn1Kb2', 'oGZUI0egBJY1zhBYw2KhdUfwVJJE',
           $main::DemoAppId, $main::DemoKey);
--- more_headers
Content-Type: application/json
X-WX-Session: b6Rk1yN0oV4tLqE8xWm2ZcP7sJ3uHd9Af5Gi0Tn1Kb2
--- request eval
(my $data = $main::DemoData) =~ s{/}{\\/}g;
[
"POST /decrypt\n" . main::json_with(encryptedData => $data, iv => $main::DemoIv),
"POST /decrypt\n" . main::json_with(encryptedData => $data . '\u0000junk', iv => $main::DemoIv),
"POST /decrypt\n" . main::json_with(encryptedData => $data, iv => $main::DemoIv . '\u0000junk'),
"POST /decrypt\n" . main::json_with(encryptedData => $data, iv => $main::DemoIv . '\u0000'),
]
--- error_code eval
[200, 400, 400, 400]
--- response_body_like eval
['^\{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE",', ('^' . quotemeta($main::Invalid) . '$') x 3]



=== TEST 3: login: a code with \u0000 and junk is 400 invalid_request, WeChat is not asked
--- request eval
[
"POST /login\n" . '{"code":"good\u0000junk"}',
"POST /login\n" . '{"code":"good","x":"\u0000"}',
"POST /login\n" . '{"code\u0000":"good"}',
"GET /metrics",
]
--- more_headers
Content-Type: application/json
--- error_code eval
[400, 400, 400, 200]
--- response_body_like eval
[('^' . quotemeta($main::Invalid) . '$') x 3,
 '(?s)wxauth_logins_total\{outcome="invalid_request"\} 3\n.*wxauth_wechat_answers_total\{errcode="0"\} 0\n']



=== TEST 4: WeChat's answer with \u0000 in openid: 502 wechat_unavailable, no session
--- request eval
["POST /login/raw/nul\n" . '{"code":"good"}', "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval
[502, 200]
--- response_body_like eval
[$main::Wechat502, 'wxauth_wechat_answers_total\{errcode="unparsable"\} 1\n']
--- error_log
wxauth: unusable answer from WeChat: NUL character in the answer



=== TEST 5: a session record in Redis with \u0000 in a field is unreadable: 401 session_expired
--- init
WxAuthTest::seed_session(prefix => $main::Prefix, token => 'Lw3Nq8Rt1Yz6Xc0Vb5Mn2Kj7Hg4Fd9Sa1Qp6Ow3Ie8U',
    raw => '{"v":1,"openid":"oAlice-6Yk2QfPZ\u0000oMallory","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","appid":"wx51a4cc1e0a5e0001","iat":1}',
    ttl => 600);
--- more_headers
X-WX-Session: Lw3Nq8Rt1Yz6Xc0Vb5Mn2Kj7Hg4Fd9Sa1Qp6Ow3Ie8U
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"session_expired","message":"[^"]+"\}$
--- error_log
wxauth: unreadable session record in redis



=== TEST 6: WeChat's answer over the subrequest buffer (17 KB): 502 wechat_unavailable, logged and counted
--- request eval
["POST /login/raw/big17k\n" . '{"code":"good"}', "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval
[502, 200]
--- response_headers eval
["Content-Type: application/json\n", "Content-Type: text/plain; version=0.0.4; charset=utf-8\n"]
--- response_body_like eval
[$main::Wechat502,
 '(?s)wxauth_logins_total\{outcome="wechat_unavailable"\} 1\n.*wxauth_wechat_answers_total\{errcode="http_error"\} 1\n']
--- error_log
wxauth: login refused: wechat_unavailable
--- no_error_log eval
[qr/\[alert\] (?!.*upstream buffer is too small)/, '[crit]', '[emerg]', $WxAuthTest::Secret]



=== TEST 7: WeChat's answer of 1 MB: 502 wechat_unavailable, logged and counted
--- request eval
["POST /login/raw/big1m\n" . '{"code":"good"}', "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval
[502, 200]
--- response_body_like eval
[$main::Wechat502,
 '(?s)wxauth_logins_total\{outcome="wechat_unavailable"\} 1\n.*wxauth_wechat_answers_total\{errcode="http_error"\} 1\n']
--- error_log
wxauth: login refused: wechat_unavailable
--- no_error_log eval
[qr/\[alert\] (?!.*upstream buffer is too small)/, '[crit]', '[emerg]', $WxAuthTest::Secret]



=== TEST 8: WeChat's answer with broken chunked framing: 502 wechat_unavailable, logged and counted
--- request eval
["POST /login/raw/badchunk\n" . '{"code":"good"}', "POST /login/raw/longchunk\n" . '{"code":"good"}',
 "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval
[502, 502, 200]
--- response_body_like eval
[$main::Wechat502, $main::Wechat502,
 '(?s)wxauth_logins_total\{outcome="wechat_unavailable"\} 2\n.*wxauth_wechat_answers_total\{errcode="http_error"\} 2\n']
--- error_log eval
[qr/upstream sent invalid chunked response/, qr/wxauth: login refused: wechat_unavailable/]



=== TEST 9: WeChat's body stalls after the headers past proxy_read_timeout: 504 wechat_timeout
--- request eval
["POST /login/raw/stall\n" . '{"code":"good"}', "POST /login/raw/stall-head\n" . '{"code":"good"}',
 "GET /metrics"]
--- more_headers
Content-Type: application/json
--- timeout: 5
--- error_code eval
[504, 504, 200]
--- response_body_like eval
['^\{"error":"wechat_timeout","message":"[^"]+"\}$', '^\{"error":"wechat_timeout","message":"[^"]+"\}$',
 '(?s)wxauth_logins_total\{outcome="wechat_timeout"\} 2\n.*wxauth_wechat_answers_total\{errcode="timeout"\} 2\n']
--- error_log eval
[qr/upstream timed out/, qr/wxauth: login refused: wechat_timeout/]



=== TEST 10: login, signature, decrypt, logout: invalid chunked request bodies get the module's JSON 400
--- more_headers eval
[("Transfer-Encoding: chunked\nContent-Type: application/json\nX-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI") x 4]
--- request eval
[
"POST /login\n" . "zz\r\n{\"code\":\"good\"}\r\n0\r\n\r\n",
"POST /verify\n" . "5\r\n{\"rawData\":\"x\"}\r\n0\r\n\r\n",
"POST /decrypt\n" . "-1\r\n{}\r\n0\r\n\r\n",
"POST /logout\n" . "2\r\n{}XX0\r\n\r\n",
]
--- error_code eval
[400, 400, 400, 400]
--- response_headers eval
[("Content-Type: application/json\nCache-Control: no-store\n") x 4]
--- response_body eval
[($main::Invalid) x 4]
--- error_log eval
[qr/client sent invalid chunked body/, qr/wxauth: (request|login) refused: invalid_request/]



=== TEST 11: request bodies over client_max_body_size (chunked or not): JSON 413 request_too_large, counted
--- more_headers eval
["Transfer-Encoding: chunked\nContent-Type: application/json",
 "Transfer-Encoding: chunked\nX-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI",
 "Content-Type: application/json", ""]
--- request eval
[
"POST /small-body/login\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", 100, '{"code":"' . ('x' x 90) . '"}'),
"POST /small-body/verify\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", 100, '{"rawData":"' . ('x' x 87) . '"}'),
"POST /small-body/login\n" . ('x' x 100),
"GET /metrics",
]
--- error_code eval
[413, 413, 413, 200]
--- response_body_like eval
[('^\{"error":"request_too_large","message":"[^"]+"\}$') x 3,
 '(?s)wxauth_logins_total\{outcome="request_too_large"\} 2\n.*wxauth_user_data_total\{handler="signature",outcome="failed"\} 1\n']
--- error_log eval
[qr/client intended to send too large/, qr/wxauth: login refused: request_too_large/]
