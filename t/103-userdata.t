# vi:filetype=perl
#
# User data handlers: wxauth_verify_signature (sha1(rawData + session_key)) and
# wxauth_decrypt (AES-128-CBC encryptedData, strict PKCS#7, watermark check),
# both with the caller's newest session_key: the one the latest login of that
# user of that app stored under <prefix>k:<appid>:<openid>, else the record's.
#
# Vectors: WeChat's documented signature example and its decryption demo
# (appid wx4f4bc4dec97d474b). Other ciphertexts (another app's watermark, bad
# padding, plaintext that is not JSON, a fresh watermark) are made when the
# suite loads, with the openssl command line tool.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use JSON::PP ();
use MIME::Base64 ();
use File::Temp ();
use Digest::SHA ();
use Encode ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt103:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = 'oAlice-6Yk2QfPZ';

# WeChat's signature example
our $RawData = '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}';
our $RawKey    = 'HyVFkGl5F5OQWJZZaNzBBg==';     # = $WxAuthTest::SessionKey
our $Signature = '75e81ceda165f4ffa64f4068af58c64b8f54b88c';

# WeChat's decryption demo
our $DemoAppId  = 'wx4f4bc4dec97d474b';
our $DemoOpenId = 'oGZUI0egBJY1zhBYw2KhdUfwVJJE';
our $DemoKey    = 'tiihtNczf5v6AKRyjwEUhQ==';
our $DemoIv     = 'r7BXXKkLb8qrSNn05n0qiA==';
our $DemoData   = 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==';
our $DemoPlain  = '{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}';

# A session_key the user had before logging in again (16 bytes, base64).
our $StaleKey = MIME::Base64::encode_base64('staleStaleStale!', '');

# aes(key_b64, iv_b64, plaintext, nopad?) -> base64 ciphertext, by `openssl enc`
sub aes {
    my ($key, $iv, $plain, $nopad) = @_;
    my ($fh, $file) = File::Temp::tempfile('wxauth-plain-XXXXXX', TMPDIR => 1, UNLINK => 1);
    binmode $fh;
    print $fh $plain;
    close $fh;
    my @cmd = ('openssl', 'enc', '-aes-128-cbc', '-nosalt', '-in', $file,
               '-K', unpack('H*', MIME::Base64::decode_base64($key)),
               '-iv', unpack('H*', MIME::Base64::decode_base64($iv)),
               $nopad ? ('-nopad') : ());
    open my $out, '-|', @cmd or die "cannot run openssl: $!\n";
    binmode $out;
    my $ct = do { local $/; <$out> };
    close $out or die "openssl enc failed (status $?)\n";
    unlink $file;
    return MIME::Base64::encode_base64($ct, '');
}

our $NowTs = time;

our $OtherAppPlain = qq{{"openId":"$DemoOpenId","watermark":{"timestamp":1477314187,"appid":"wx00000000000other"}}};
our $NoMarkPlain   = qq{{"openId":"$DemoOpenId","nickName":"Band"}};
our $FreshPlain    = qq{{"openId":"$DemoOpenId","watermark":{"timestamp":$NowTs,"appid":"$DemoAppId"}}};
our $AlicePlain    = qq{{"openId":"$Alice","watermark":{"timestamp":1700000000,"appid":"$AppId"}}};

# plaintexts whose encryptedData makes a request body of about 20 KB and 40 KB
our $BigPlain  = '{"openId":"' . $DemoOpenId . '","stepInfoList":"' . ('x' x 15000)
               . '","watermark":{"timestamp":1477314187,"appid":"' . $DemoAppId . '"}}';
our $HugePlain = '{"openId":"' . $DemoOpenId . '","stepInfoList":"' . ('x' x 30000)
               . '","watermark":{"timestamp":1477314187,"appid":"' . $DemoAppId . '"}}';

our %Ct = (
    other_app   => aes($DemoKey, $DemoIv, $OtherAppPlain),
    no_mark     => aes($DemoKey, $DemoIv, $NoMarkPlain),
    fresh       => aes($DemoKey, $DemoIv, $FreshPlain),
    not_json    => aes($DemoKey, $DemoIv, 'this is not JSON at all'),
    json_array  => aes($DemoKey, $DemoIv, '[{"watermark":{"appid":"wx4f4bc4dec97d474b"}}]'),
    pad_zero    => aes($DemoKey, $DemoIv, "0123456789abcde\x00", 1),
    pad_mixed   => aes($DemoKey, $DemoIv, "0123456789ab\x05\x05\x05\x05", 1),
    pad_too_big => aes($DemoKey, $DemoIv, "0123456789abcdef" . ("\x11" x 16), 1),
    alice       => aes($RawKey, $DemoIv, $AlicePlain),
);

# body(field => value, ...) -> a JSON request body
sub body {
    my %f = @_;
    return JSON::PP->new->canonical->encode(\%f);
}

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location = /verify {
        wxauth_verify_signature;
    }

    location = /decrypt {
        wxauth_decrypt;
    }

    location = /decrypt/fresh {
        wxauth_watermark_max_age 60s;
        wxauth_decrypt;
    }

    # the access phase checks the session first, the handler uses its lookup
    location = /verify/checked {
        wxauth on;
        wxauth_verify_signature;
    }

    location = /decrypt/cookie {
        wxauth_token \$cookie_wx_session;
        wxauth_decrypt;
    }

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
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# seed(token, openid, appid, session_key, extra record fields?, expiry = 600)
sub seed {
    my ($token, $openid, $appid, $key, $fields, $ex) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid,
                             appid => $appid, session_key => $key, ttl => $ex || 600,
                             fields => $fields || {});
}

sub seed_alice { seed(shift, $Alice, $AppId, shift || $RawKey, @_) }
sub seed_demo  { seed(shift, $DemoOpenId, $DemoAppId, shift || $DemoKey, @_) }

sub forget_latest_key {
    my ($appid, $openid) = @_;
    WxAuthTest::redis('DEL', WxAuthTest::latest_key($Prefix, $appid, $openid));
}

# --- check_after (eval: a sub) is called after each response with (name, body, index)
WxAuthTest::add_checks();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: signature: WeChat's example is valid
--- init
main::seed_alice('t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI');
main::forget_latest_key($main::AppId, $main::Alice);
--- more_headers
Content-Type: application/json
X-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI
--- request eval
"POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature)
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body chomp
{"valid":true}
--- no_error_log
[error]



=== TEST 2: signature: uppercase hex is accepted; a changed rawData or signature is not
--- init
main::seed_alice('t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI');
--- more_headers
Content-Type: application/json
X-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI
--- request eval
[
"POST /verify\n" . main::body(rawData => $main::RawData, signature => uc $main::Signature),
"POST /verify\n" . main::body(rawData => $main::RawData =~ s/Band/Bandit/r, signature => $main::Signature),
"POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature =~ s/8c$/8d/r),
"POST /verify\n" . main::body(rawData => $main::RawData, signature => substr($main::Signature, 0, 39)),
"POST /verify\n" . main::body(rawData => $main::RawData, signature => Digest::SHA::sha1_hex($main::RawData)),
]
--- error_code eval
[200, 400, 400, 400, 400]
--- response_body eval
[
'{"valid":true}',
'{"error":"signature_mismatch","message":"signature does not match"}',
'{"error":"signature_mismatch","message":"signature does not match"}',
'{"error":"signature_mismatch","message":"signature does not match"}',
'{"error":"signature_mismatch","message":"signature does not match"}',
]



=== TEST 3: signature: rawData is hashed as the UTF-8 text the JSON string stands for
The client's JSON escapes non-ASCII characters (\uXXXX) and the slash (\/).
--- init
main::seed_alice('t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI');
--- more_headers
Content-Type: application/json
X-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI
--- request eval
my $raw = qq{{"nickName":"\x{5f20}\x{4e09}","city":"\x{5e7f}\x{5dde}","avatarUrl":"http://a/b"}};
my $sig = Digest::SHA::sha1_hex(Encode::encode_utf8($raw) . $main::RawKey);
my $body = JSON::PP->new->ascii->canonical->encode({ rawData => $raw, signature => $sig });
$body =~ s{/}{\\/}g;
"POST /verify\n$body"
--- error_code: 200
--- response_body chomp
{"valid":true}



=== TEST 4: signature: request bodies it cannot use: 400 invalid_request
--- init
main::seed_alice('t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI');
--- more_headers
Content-Type: application/json
X-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI
--- request eval
[
"POST /verify\n" . main::body(rawData => $main::RawData),
"POST /verify\n" . main::body(signature => $main::Signature),
"POST /verify\n" . main::body(rawData => $main::RawData, signature => ''),
"POST /verify\n" . '{"rawData":{"nickName":"Band"},"signature":"75e81ceda165f4ffa64f4068af58c64b8f54b88c"}',
"POST /verify\n" . '{"rawData":"x","signature":"75e81ceda165f4ffa64f4068af58c64b8f54b88c"',
"POST /verify\n" . 'rawData=x&signature=75e81ceda165f4ffa64f4068af58c64b8f54b88c',
"POST /verify",
]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body eval
[ ('{"error":"invalid_request","message":"invalid request"}') x 7 ]



=== TEST 5: signature: GET is 405, Allow: POST
--- more_headers
X-WX-Session: t8Qzge7BA6T1krTj8-zggtgWXc_2_6ozLPBStxVSbCI
--- request
GET /verify
--- error_code: 405
--- response_headers
Allow: POST
--- response_body chomp
{"error":"method_not_allowed","message":"method not allowed"}



=== TEST 6: signature: no token, malformed token, unknown token
--- more_headers eval
[
"Content-Type: application/json",
"Content-Type: application/json\nX-WX-Session: not-a-token",
"Content-Type: application/json\nX-WX-Session: -R-8RcvRMeehOiFE8ZMd1forvLlNKDVZtNjAYOw8eFI",
]
--- request eval
[ ("POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature)) x 3 ]
--- error_code eval
[401, 401, 401]
--- response_body eval
[
'{"error":"missing_session","message":"no session token in the request"}',
'{"error":"invalid_session","message":"session token is malformed"}',
'{"error":"session_expired","message":"session is unknown or expired"}',
]



=== TEST 7: signature under "wxauth on": the access phase refuses first, the handler reuses its lookup
--- init
main::seed_alice('e3FE2NXa422iWRd7CtZPBH4ciuLhcH0B9R7PosZ2Wm4');
--- more_headers eval
[
"Content-Type: application/json\nX-WX-Session: e3FE2NXa422iWRd7CtZPBH4ciuLhcH0B9R7PosZ2Wm4",
"Content-Type: application/json",
]
--- request eval
[
"POST /verify/checked\n" . main::body(rawData => $main::RawData, signature => $main::Signature),
"POST /verify/checked\n" . main::body(rawData => $main::RawData, signature => $main::Signature),
]
--- error_code eval
[200, 401]
--- response_body eval
['{"valid":true}', '{"error":"missing_session","message":"no session token in the request"}']



=== TEST 8: decrypt: WeChat's demo vector, answered with the plaintext
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
main::forget_latest_key($main::DemoAppId, $main::DemoOpenId);
--- more_headers
Content-Type: application/json
X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4
--- request eval
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv)
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body eval
$main::DemoPlain
--- no_error_log
[error]



=== TEST 9: decrypt: "+" turned into spaces by a form decoder on the way still decrypts
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
--- more_headers
Content-Type: application/json
X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4
--- request eval
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData =~ tr/+/ /r, iv => $main::DemoIv)
--- error_code: 200
--- response_body eval
$main::DemoPlain



=== TEST 10: decrypt: the watermark must name the session's app
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
--- more_headers
Content-Type: application/json
X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4
--- request eval
[
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{other_app}, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{no_mark}, iv => $main::DemoIv),
]
--- error_code eval
[403, 403]
--- response_body eval
[
'{"error":"watermark_mismatch","message":"watermark does not match the session"}',
'{"error":"watermark_mismatch","message":"watermark does not match the session"}',
]



=== TEST 11: decrypt: a session of another app cannot decrypt WeChat's demo data even with its key
--- init
main::seed('v8RDpyIEMq3GNRdb8QDlQcG-UkNpabQB677D56Pej_A', $main::DemoOpenId, $main::AppId, $main::DemoKey);
main::forget_latest_key($main::AppId, $main::DemoOpenId);
--- more_headers
Content-Type: application/json
X-WX-Session: v8RDpyIEMq3GNRdb8QDlQcG-UkNpabQB677D56Pej_A
--- request eval
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv)
--- error_code: 403
--- response_body chomp
{"error":"watermark_mismatch","message":"watermark does not match the session"}



=== TEST 12: decrypt: bad padding and plaintext that is no JSON object: 400 decrypt_failed
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
--- more_headers
Content-Type: application/json
X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4
--- request eval
[
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{pad_zero}, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{pad_mixed}, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{pad_too_big}, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{not_json}, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{json_array}, iv => $main::DemoIv),
]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[ ('{"error":"decrypt_failed","message":"decryption failed"}') x 5 ]



=== TEST 13: decrypt: the wrong session_key or iv: 400 decrypt_failed
--- init
main::seed_demo('J61QTByBYOe7Ohp9wfVFKAzJf2BcauyVOcSbY_yuc_o', $main::RawKey);
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
main::forget_latest_key($main::DemoAppId, $main::DemoOpenId);
--- more_headers eval
[
"Content-Type: application/json\nX-WX-Session: J61QTByBYOe7Ohp9wfVFKAzJf2BcauyVOcSbY_yuc_o",
"Content-Type: application/json\nX-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4",
]
--- request eval
[
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => 'AAAAAAAAAAAAAAAAAAAAAA=='),
]
--- error_code eval
[400, 400]
--- response_body eval
[ ('{"error":"decrypt_failed","message":"decryption failed"}') x 2 ]



=== TEST 14: decrypt: inputs it cannot use: 400 invalid_request
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
--- more_headers
Content-Type: application/json
X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4
--- request eval
[
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData),
"POST /decrypt\n" . main::body(iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => ''),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => 'r7BXXKkLb8qrSNn05n0q'),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => 'r7BXXKkLb8qrSNn05n0qiA==r7BX'),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => 'r7BXXKkLb8qrSNn05n0qiA=!'),
"POST /decrypt\n" . main::body(encryptedData => '*not base64*', iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => substr($main::DemoData, 0, 40), iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => '', iv => $main::DemoIv),
"POST /decrypt\n" . '[1,2,3]',
"POST /decrypt\n" . "encryptedData=$main::DemoData&iv=$main::DemoIv",
]
--- error_code eval
[ (400) x 11 ]
--- response_body eval
[ ('{"error":"invalid_request","message":"invalid request"}') x 11 ]



=== TEST 15: decrypt: wxauth_watermark_max_age: a fresh watermark passes, WeChat's 2016 demo does not
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
--- more_headers
Content-Type: application/json
X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4
--- request eval
[
"POST /decrypt/fresh\n" . main::body(encryptedData => $main::Ct{fresh}, iv => $main::DemoIv),
"POST /decrypt/fresh\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{fresh}, iv => $main::DemoIv),
]
--- error_code eval
[200, 403, 200]
--- response_body eval
[
$main::FreshPlain,
'{"error":"watermark_mismatch","message":"watermark does not match the session"}',
$main::FreshPlain,
]



=== TEST 16: decrypt: no session, GET, the token from a cookie
--- init
main::seed_demo('iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4');
--- more_headers eval
[
"Content-Type: application/json",
"X-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4",
"Content-Type: application/json\nX-WX-Session: iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4",
"Content-Type: application/json\nCookie: wx_session=iIOrxcCZwMi-KQIM4IphwML_2vq7ySevuGuxhNvpSx4",
]
--- request eval
[
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv),
"GET /decrypt",
"POST /decrypt/cookie\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv),
"POST /decrypt/cookie\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv),
]
--- error_code eval
[401, 405, 401, 200]
--- response_body eval
[
'{"error":"missing_session","message":"no session token in the request"}',
'{"error":"method_not_allowed","message":"method not allowed"}',
'{"error":"missing_session","message":"no session token in the request"}',
$main::DemoPlain,
]



=== TEST 17: newest session_key: after the user logs in again, an older session checks with the new key
The older session's record holds a stale key; the login stores the newest
one (the stand-in's) under k:<appid>:<openid>. Before the login the stale key
is used (mismatch, no plaintext), after it the newest (valid, plaintext).
--- init
main::seed_alice('arwjn0FtTm2N7K4ZISwx5_ahdKA8k6m80UJ8kDhtz7M', $main::StaleKey);
main::forget_latest_key($main::AppId, $main::Alice);
--- more_headers eval
[
"Content-Type: application/json\nX-WX-Session: arwjn0FtTm2N7K4ZISwx5_ahdKA8k6m80UJ8kDhtz7M",
"Content-Type: application/json\nX-WX-Session: arwjn0FtTm2N7K4ZISwx5_ahdKA8k6m80UJ8kDhtz7M",
"Content-Type: application/json",
"Content-Type: application/json\nX-WX-Session: arwjn0FtTm2N7K4ZISwx5_ahdKA8k6m80UJ8kDhtz7M",
"Content-Type: application/json\nX-WX-Session: arwjn0FtTm2N7K4ZISwx5_ahdKA8k6m80UJ8kDhtz7M",
]
--- request eval
[
"POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{alice}, iv => $main::DemoIv),
"POST /login\n" . '{"code":"good"}',
"POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature),
"POST /decrypt\n" . main::body(encryptedData => $main::Ct{alice}, iv => $main::DemoIv),
]
--- error_code eval
[400, 400, 200, 200, 200]
--- response_body_like eval
[
'^\{"error":"signature_mismatch"',
'^\{"error":"decrypt_failed"',
'^\{"session":"[A-Za-z0-9_-]{43}","expires_in":\d+\}$',
'^\{"valid":true\}$',
'^' . quotemeta($main::AlicePlain) . '$',
]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    return unless $idx == 4;
    my ($rec) = WxAuthTest::stored_session($main::Prefix, 'arwjn0FtTm2N7K4ZISwx5_ahdKA8k6m80UJ8kDhtz7M');
    Test::More::is($rec->{session_key}, $main::StaleKey,
                   "$name - the older record itself is left as it was");
}



=== TEST 18: newest session_key: a newest key for the user of another app is not used
--- init
main::seed_alice('D8rTmsAa10FcLpSWHT0n2INPK_QFLABRyjxUFyitY8o', $main::StaleKey);
main::forget_latest_key($main::AppId, $main::Alice);
WxAuthTest::redis('SET', WxAuthTest::latest_key($main::Prefix, 'wx51a4cc1e0a5e0002', $main::Alice), $main::RawKey, 'EX', 600);
--- more_headers
Content-Type: application/json
X-WX-Session: D8rTmsAa10FcLpSWHT0n2INPK_QFLABRyjxUFyitY8o
--- request eval
"POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature)
--- error_code: 400
--- response_body chomp
{"error":"signature_mismatch","message":"signature does not match"}



=== TEST 19: the lookup of the user data handlers renews a renewing session too
--- init
main::seed_demo('E-9Gz7-m3OZ5ODz48kSlK72YCOPbvNp33LkYxzpLcro', undef, { ttl => 600, rn => 1 }, 100);
--- more_headers
Content-Type: application/json
X-WX-Session: E-9Gz7-m3OZ5ODz48kSlK72YCOPbvNp33LkYxzpLcro
--- request eval
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv)
--- check_after eval
sub {
    my ($name) = @_;
    my $key = WxAuthTest::session_key($main::Prefix, 'E-9Gz7-m3OZ5ODz48kSlK72YCOPbvNp33LkYxzpLcro');
    my $ttl;
    for (1 .. 40) {
        $ttl = WxAuthTest::redis('TTL', $key);
        last if $ttl > 590;
        select undef, undef, undef, 0.025;
    }
    Test::More::ok($ttl > 590 && $ttl <= 600, "$name - renewed to 600 s (TTL $ttl)");
}
--- error_code: 200
--- response_body eval
$main::DemoPlain



=== TEST 20: decrypt: larger data (20 KB of body) with a client_body_buffer_size that holds it; over 32 KB is refused
nginx keeps a body larger than client_body_buffer_size (16k by default) in a
temporary file, and the module only reads bodies held in memory: without the
64k below, the 20 KB body is refused with 400 invalid_request as well.
--- config
    location = /decrypt {
        client_body_buffer_size 64k;
        wxauth_decrypt;
    }
--- init
main::seed_demo('1orDEWRl9PFkiLYFO7BmFMMJEhY4qzOuC1qwnkO-SzY');
--- more_headers
Content-Type: application/json
X-WX-Session: 1orDEWRl9PFkiLYFO7BmFMMJEhY4qzOuC1qwnkO-SzY
--- request eval
[
"POST /decrypt\n" . main::body(encryptedData => main::aes($main::DemoKey, $main::DemoIv, $main::BigPlain), iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => main::aes($main::DemoKey, $main::DemoIv, $main::HugePlain), iv => $main::DemoIv),
]
--- error_code eval
[200, 400]
--- response_body eval
[$main::BigPlain, '{"error":"invalid_request","message":"invalid request"}']
