# vi:filetype=perl
#
# The metrics location (wxauth_metrics): Prometheus text exposition format
# 0.0.4, counters kept in shared memory so that one scrape sums up every
# worker. nginx runs here with a master and two workers; the server's listen
# socket has "reuseport" (TEST_NGINX_REUSE_PORT), so the kernel spreads the
# connections of a block over both workers.
#
# The blocks send a series of requests and check the scrape that ends them:
# its shape (a parser of the text format below) and its numbers.

BEGIN { $ENV{TEST_NGINX_REUSE_PORT} = 1 unless defined $ENV{TEST_NGINX_REUSE_PORT} }

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use JSON::PP ();
use File::Temp ();

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_BLACKHOLE_PORT} ||= WxAuthTest::blackhole();

master_on();
workers(2);

our $Prefix = 'wxt105:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = 'oAlice-6Yk2QfPZ';

our $RawData = $WxAuthTest::RawData;
our $Signature = $WxAuthTest::Signature;
our $DemoAppId = $WxAuthTest::DemoAppId;
our $DemoIv    = $WxAuthTest::DemoIv;
our $DemoData  = $WxAuthTest::DemoData;

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location = /metrics {
        wxauth_metrics;
    }

    # the upstream sees which worker passed the request on: /pid-<pid>/...
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT/pid-\$pid\$uri;
    }

    location /a-only/ {
        wxauth on;
        wxauth_allowed_apps $AppId;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /logout {
        wxauth_logout;
    }

    location = /verify {
        wxauth_verify_signature;
    }

    location = /decrypt {
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

# seed(token, appid = the suite's app, extra record fields?, expiry = 600, openid = Alice, key?)
sub seed {
    my ($token, $appid, $fields, $ex, $openid, $key) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid || $Alice,
                             appid => $appid || $AppId, ttl => $ex || 600,
                             session_key => $key, fields => $fields || {});
}

sub body { JSON::PP->new->canonical->encode({@_}) }

#---------------------------------------------------------------------------
# The text format, version 0.0.4 (what Prometheus's own parser accepts).

my $NameRe  = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LabelRe = qr/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"/;
my $ValueRe = qr/[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+|Inf|NaN)/;

# parse_exposition(text) -> ({ family => { type, help, samples => [[name, {labels}, value]] } }, [errors])
sub parse_exposition {
    my ($text) = @_;
    my (%fam, @errors, %seen);
    push @errors, 'the text does not end with a newline' unless $text =~ /\n\z/;
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        if ($line =~ /^# HELP ($NameRe) (.*)$/) {
            push @errors, "line $n: second HELP for $1" if defined $fam{$1}{help};
            push @errors, "line $n: HELP for $1 after its samples" if $fam{$1}{samples};
            $fam{$1}{help} = $2;
        } elsif ($line =~ /^# TYPE ($NameRe) (counter|gauge|histogram|summary|untyped)$/) {
            push @errors, "line $n: second TYPE for $1" if defined $fam{$1}{type};
            push @errors, "line $n: TYPE for $1 after its samples" if $fam{$1}{samples};
            $fam{$1}{type} = $2;
        } elsif ($line =~ /^#/) {
            push @errors, "line $n: a comment that is neither HELP nor TYPE: $line";
        } elsif ($line =~ /^($NameRe)(?:\{((?:$LabelRe(?:,$LabelRe)*)?)\})? ($ValueRe)$/) {
            my ($name, $labels, $value) = ($1, $2, $3);
            my %l = map { /^([^=]+)="(.*)"$/ ? ($1 => $2) : () }
                    split /,(?=[a-zA-Z_][a-zA-Z0-9_]*=")/, $labels // '';
            my $family = $name;
            if ($name =~ /^(.*)_(?:bucket|sum|count)$/ && ($fam{$1}{type} // '') eq 'histogram') {
                $family = $1;
            }
            push @errors, "line $n: sample of $family before its TYPE" unless $fam{$family}{type};
            my $id = $name . '{' . join(',', map { "$_=$l{$_}" } sort keys %l) . '}';
            push @errors, "line $n: duplicate sample $id" if $seen{$id}++;
            push @{ $fam{$family}{samples} }, [$name, \%l, $value];
        } else {
            push @errors, "line $n: not a sample, HELP or TYPE line: $line";
        }
    }

    for my $family (sort keys %fam) {
        my $f = $fam{$family};
        push @errors, "$family: no HELP" unless defined $f->{help};
        push @errors, "$family: no samples" unless $f->{samples};
        next unless ($f->{type} // '') eq 'histogram';

        my @buckets = grep { $_->[0] eq "${family}_bucket" } @{ $f->{samples} };
        my ($count) = map { $_->[2] } grep { $_->[0] eq "${family}_count" } @{ $f->{samples} };
        my ($sum)   = map { $_->[2] } grep { $_->[0] eq "${family}_sum" } @{ $f->{samples} };
        push @errors, "$family: no _sum" unless defined $sum;
        push @errors, "$family: no _count" unless defined $count;
        push @errors, "$family: no buckets" unless @buckets;
        my ($prev_le, $prev_v) = (-1, 0);
        for my $b (@buckets) {
            my $le = $b->[1]{le};
            push @errors, "$family: a bucket without le" and next unless defined $le;
            my $lev = $le eq '+Inf' ? 9**9**9 : $le;
            push @errors, "$family: le=\"$le\" out of order" unless $lev > $prev_le;
            push @errors, "$family: bucket le=\"$le\" is not cumulative" unless $b->[2] >= $prev_v;
            ($prev_le, $prev_v) = ($lev, $b->[2]);
        }
        push @errors, "$family: the last bucket is not le=\"+Inf\""
            unless @buckets && $buckets[-1][1]{le} eq '+Inf';
        push @errors, "$family: le=\"+Inf\" ($prev_v) differs from _count ("
                      . ($count // 'none') . ")" if defined $count && $prev_v != $count;
    }

    return (\%fam, \@errors);
}

# The value of one sample: value_of(families, 'name', label => value, ...)
sub value_of {
    my ($fam, $name, %labels) = @_;
    (my $family = $name) =~ s/_(?:bucket|sum|count)$//;
    $family = $name unless $fam->{$family};
    for my $s (@{ $fam->{$family}{samples} || [] }) {
        next unless $s->[0] eq $name;
        next unless join(',', map { "$_=$s->[1]{$_}" } sort keys %{ $s->[1] })
                 eq join(',', map { "$_=$labels{$_}" } sort keys %labels);
        return $s->[2];
    }
    return undef;
}

# check_scrape(test name, text, { 'name{l="v",...}' => value, ... }): the text
# parses, and each listed sample has its value; listed families have no other
# non-zero counter samples.
sub check_scrape {
    my ($name, $text, $want) = @_;
    my ($fam, $errors) = parse_exposition($text // '');
    is_deeply($errors, [], "$name - the scrape is valid text format 0.0.4")
        or diag(join "\n", @$errors);
    for my $key (sort keys %$want) {
        my ($metric, $labels) = $key =~ /^([^{]+)(?:\{(.*)\})?$/;
        my %l = map { /^([^=]+)="(.*)"$/ ? ($1 => $2) : () } split /,/, $labels // '';
        is(value_of($fam, $metric, %l), $want->{$key}, "$name - $key");
    }
    return $fam;
}

our @Families = (
    [wxauth_logins_total => 'counter'],
    [wxauth_session_checks_total => 'counter'],
    [wxauth_session_renewals_total => 'counter'],
    [wxauth_logouts_total => 'counter'],
    [wxauth_user_data_total => 'counter'],
    [wxauth_wechat_answers_total => 'counter'],
    [wxauth_redis_errors_total => 'counter'],
    [wxauth_redis_failovers_total => 'counter'],
    [wxauth_redis_redirects_total => 'counter'],
    [wxauth_redis_slot_map_refreshes_total => 'counter'],
    [wxauth_redis_command_duration_seconds => 'histogram'],
    [wxauth_redis_connections => 'gauge'],
    [wxauth_redis_node_info => 'gauge'],
);

# promtool_check(test name, text): Prometheus's own linter accepts the scrape
# (`promtool check metrics`, Debian package prometheus). Without promtool the
# check is skipped, unless WXAUTH_REQUIRE_PROMTOOL is set (util/test.sh).
sub promtool_check {
    my ($name, $text) = @_;
    my $promtool = grep { -x "$_/promtool" } split /:/, $ENV{PATH} || '';
    SKIP: {
        if (!$promtool) {
            fail("$name - promtool is installed (Debian package prometheus)")
                if $ENV{WXAUTH_REQUIRE_PROMTOOL};
            skip("promtool is not installed (Debian package prometheus)", 1);
        }
        my ($fh, $file) = File::Temp::tempfile('wxauth-scrape-XXXXXX', TMPDIR => 1,
                                               UNLINK => 1);
        print $fh $text;
        close $fh;
        my $out = `promtool check metrics < $file 2>&1`;
        is($? >> 8, 0, "$name - promtool check metrics accepts the scrape")
            or diag($out);
    }
}

# --- check_after (eval: a sub) is called after each response with (name, body, index)
WxAuthTest::add_checks();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a fresh scrape: every family, typed and described, all counters at zero
--- request
GET /metrics
--- error_code: 200
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
Cache-Control: no-store
--- check_after eval
sub {
    my ($name, $body) = @_;
    my ($fam, $errors) = main::parse_exposition($body);
    Test::More::is_deeply($errors, [], "$name - valid text format 0.0.4")
        or Test::More::diag(CORE::join "\n", @$errors);
    Test::More::is_deeply([sort keys %$fam], [sort map { $_->[0] } @main::Families],
                          "$name - exactly the documented families");
    for my $f (@main::Families) {
        Test::More::is($fam->{$f->[0]}{type}, $f->[1], "$name - $f->[0] is a $f->[1]");
    }
    for my $f (grep { $_->[1] eq 'counter' } @main::Families) {
        my @nonzero = grep { $_->[2] != 0 } @{ $fam->{$f->[0]}{samples} };
        Test::More::is(scalar @nonzero, 0, "$name - $f->[0]: all zero");
    }
    Test::More::is(main::value_of($fam, 'wxauth_redis_command_duration_seconds_count'), 0,
                   "$name - no Redis command timed yet");
    my @le = map { $_->[1]{le} } grep { $_->[0] =~ /_bucket$/ }
             @{ $fam->{wxauth_redis_command_duration_seconds}{samples} };
    Test::More::is("@le", '0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 +Inf',
                   "$name - the histogram's buckets");
    my %labels = map { $_->[1]{outcome} => 1 } @{ $fam->{wxauth_session_checks_total}{samples} };
    Test::More::is_deeply([sort keys %labels],
        [sort qw(ok missing_session invalid_session session_expired store_unavailable
                 app_not_allowed internal_error)],
        "$name - wxauth_session_checks_total has a series per outcome");
}
--- response_body_like: ^# HELP wxauth_logins_total .*\n# TYPE wxauth_logins_total counter\nwxauth_logins_total\{outcome="ok"\} 0\n



=== TEST 2: HEAD answers the headers; other methods 405 with Allow
--- request eval
["HEAD /metrics", "POST /metrics\nx=1", "DELETE /metrics"]
--- error_code eval
[200, 405, 405]
--- response_headers eval
["Content-Type: text/plain; version=0.0.4; charset=utf-8", "Allow: GET, HEAD", "Allow: GET, HEAD"]
--- response_body eval
['', '{"error":"method_not_allowed","message":"method not allowed"}',
 '{"error":"method_not_allowed","message":"method not allowed"}']



=== TEST 3: every handler's outcomes are counted, and every Redis round trip is timed
--- init
main::seed('RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws');
main::seed('YPEBu76jkLYPbGpZRJ5kbH-d1_YVcK8ghe3ipDVMWKY', 'wx51a4cc1e0a5e0002');
main::seed('rNwhNHPGBGhba7NNzRb3lz8U-GE3akat8EnAp6U0fN8');
main::seed('X4NeA61ArxrwxOjtBdHuj8W1H4r2C1WPaB4JlmiyhaU', $main::DemoAppId, undef, 600,
           'oGZUI0egBJY1zhBYw2KhdUfwVJJE', 'tiihtNczf5v6AKRyjwEUhQ==');
main::seed('33T9hsMS9m6L6P7hW_a01jfbFQSGjXPuC_092qoC1yQ', undef, { ttl => 600, rn => 1 }, 100);
WxAuthTest::redis('DEL', WxAuthTest::latest_key($main::Prefix, $main::AppId, $main::Alice));
--- more_headers eval
my $json = "Content-Type: application/json\n";
[
"X-WX-Session: RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws",
"X-WX-Session: RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws",
"",
"X-WX-Session: not-a-token",
"X-WX-Session: _WFwW5sZ9IEDnI14IkOtgB1hjGfWe7ANGD9IxX9AVwA",
"X-WX-Session: YPEBu76jkLYPbGpZRJ5kbH-d1_YVcK8ghe3ipDVMWKY",
"X-WX-Session: rNwhNHPGBGhba7NNzRb3lz8U-GE3akat8EnAp6U0fN8",
"X-WX-Session: _WFwW5sZ9IEDnI14IkOtgB1hjGfWe7ANGD9IxX9AVwA",
"X-WX-Session: RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws",
$json . "X-WX-Session: RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws",
$json . "X-WX-Session: RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws",
$json . "X-WX-Session: X4NeA61ArxrwxOjtBdHuj8W1H4r2C1WPaB4JlmiyhaU",
$json . "X-WX-Session: X4NeA61ArxrwxOjtBdHuj8W1H4r2C1WPaB4JlmiyhaU",
$json, $json, $json, $json, "",
"X-WX-Session: 33T9hsMS9m6L6P7hW_a01jfbFQSGjXPuC_092qoC1yQ",
"",
]
--- request eval
[
"GET /api/a",
"GET /api/b",
"GET /api/c",
"GET /api/d",
"GET /api/e",
"GET /a-only/f",
"POST /logout",
"POST /logout",
"GET /logout",
"POST /verify\n" . main::body(rawData => $main::RawData, signature => $main::Signature),
"POST /verify\n" . main::body(rawData => $main::RawData, signature => '0' x 40),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => $main::DemoIv),
"POST /decrypt\n" . main::body(encryptedData => $main::DemoData, iv => 'AAAA'),
"POST /login\n" . '{"code":"good"}',
"POST /login\n" . '{"code":"used"}',
"POST /login\n" . '{"code":"garbage"}',
"POST /login\n" . '{"no":"code"}',
"GET /login",
"GET /api/g",
"GET /metrics",
]
--- error_code eval
[200, 200, 401, 401, 401, 403, 200, 401, 405, 200, 400, 200, 400, 200, 401, 502, 400, 405, 200, 200]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    return unless $idx == 19;
    my $fam = main::check_scrape($name, $body, {
        'wxauth_logins_total{outcome="ok"}' => 1,
        'wxauth_logins_total{outcome="invalid_request"}' => 1,
        'wxauth_logins_total{outcome="method_not_allowed"}' => 1,
        'wxauth_logins_total{outcome="invalid_code"}' => 1,
        'wxauth_logins_total{outcome="user_blocked"}' => 0,
        'wxauth_logins_total{outcome="rate_limited"}' => 0,
        'wxauth_logins_total{outcome="wechat_unavailable"}' => 1,
        'wxauth_logins_total{outcome="wechat_timeout"}' => 0,
        'wxauth_logins_total{outcome="store_unavailable"}' => 0,
        'wxauth_logins_total{outcome="internal_error"}' => 0,
        'wxauth_session_checks_total{outcome="ok"}' => 3,
        'wxauth_session_checks_total{outcome="missing_session"}' => 1,
        'wxauth_session_checks_total{outcome="invalid_session"}' => 1,
        'wxauth_session_checks_total{outcome="session_expired"}' => 1,
        'wxauth_session_checks_total{outcome="store_unavailable"}' => 0,
        'wxauth_session_checks_total{outcome="app_not_allowed"}' => 1,
        'wxauth_session_checks_total{outcome="internal_error"}' => 0,
        'wxauth_session_renewals_total' => 1,
        'wxauth_logouts_total{outcome="ok"}' => 1,
        'wxauth_logouts_total{outcome="failed"}' => 2,
        'wxauth_user_data_total{handler="signature",outcome="ok"}' => 1,
        'wxauth_user_data_total{handler="signature",outcome="failed"}' => 1,
        'wxauth_user_data_total{handler="decrypt",outcome="ok"}' => 1,
        'wxauth_user_data_total{handler="decrypt",outcome="failed"}' => 1,
        'wxauth_wechat_answers_total{errcode="0"}' => 1,
        'wxauth_wechat_answers_total{errcode="40163"}' => 1,
        'wxauth_wechat_answers_total{errcode="40029"}' => 0,
        'wxauth_wechat_answers_total{errcode="unparsable"}' => 1,
        'wxauth_wechat_answers_total{errcode="http_error"}' => 0,
        'wxauth_wechat_answers_total{errcode="timeout"}' => 0,
        'wxauth_redis_errors_total{kind="error"}' => 0,
        'wxauth_redis_errors_total{kind="timeout"}' => 0,
        'wxauth_redis_failovers_total' => 0,
        'wxauth_redis_redirects_total{kind="moved"}' => 0,
        'wxauth_redis_redirects_total{kind="ask"}' => 0,
        'wxauth_redis_slot_map_refreshes_total' => 0,
        'wxauth_redis_connections' => 2,
    });

    # Redis round trips: 5 session checks (a, b, e, f, g) and the renewal g
    # set off; 3 for the logouts (each loads the session the way every
    # handler does, the one that exists is then deleted); 2 x 2 for the
    # signature checks and 2 x 2 for the decryptions (the session, then the
    # newest session_key); 1 login
    my $count = main::value_of($fam, 'wxauth_redis_command_duration_seconds_count');
    Test::More::is($count, 18, "$name - 18 Redis round trips timed");
    my $sum = main::value_of($fam, 'wxauth_redis_command_duration_seconds_sum');
    Test::More::ok($sum > 0 && $sum < 18, "$name - their total duration is plausible ($sum s)");
}



=== TEST 4: the totals sum up both workers
Twenty checks of one session, each on a connection of its own, spread over
the two workers by the kernel (reuseport); the upstream sees the worker's pid.
--- init
main::seed('GLDvQgHDwl7Xu-Oj4X0r7LQbOjmWkIlScE4dNDku6BQ');
--- more_headers eval
[ ("X-WX-Session: GLDvQgHDwl7Xu-Oj4X0r7LQbOjmWkIlScE4dNDku6BQ") x 20, "" ]
--- request eval
[ (map { "GET /api/$_" } 1 .. 20), "GET /metrics" ]
--- error_code eval
[ (200) x 21 ]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    if ($idx < 20) {
        $main::Pids{$1}++ if ($body // '') =~ m{^upstream GET /pid-(\d+)/api/};
        return;
    }
    Test::More::cmp_ok(scalar keys %main::Pids, '==', 2,
                       "$name - both workers passed checks on (" . CORE::join(', ', map { "$_: $main::Pids{$_}" } sort keys %main::Pids) . ")");
    main::check_scrape($name, $body, {
        'wxauth_session_checks_total{outcome="ok"}' => 20,
        'wxauth_redis_command_duration_seconds_count' => 20,
        'wxauth_redis_connections' => 2,
    });
}



=== TEST 5: Redis failures: a store that never answers is counted as timeouts
The protected location's Redis accepts connections but never answers.
--- config
    wxauth_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    wxauth_redis_timeout 200ms;

    location = /metrics {
        wxauth_metrics;
    }

    location /api/ {
        wxauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    }
--- more_headers eval
["X-WX-Session: GLDvQgHDwl7Xu-Oj4X0r7LQbOjmWkIlScE4dNDku6BQ", ""]
--- request eval
["GET /api/x", "GET /metrics"]
--- error_code eval
[503, 200]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    return unless $idx == 1;
    main::check_scrape($name, $body, {
        'wxauth_session_checks_total{outcome="store_unavailable"}' => 1,
        'wxauth_redis_errors_total{kind="timeout"}' => 1,
        'wxauth_redis_errors_total{kind="error"}' => 0,
        'wxauth_redis_command_duration_seconds_count' => 0,
    });
}



=== TEST 6: promtool check metrics accepts a scrape after traffic of every kind
--- init
main::seed('RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws');
--- more_headers eval
["X-WX-Session: RbNP7tyUzzFMjJh-ynJOaIZnvFo2Yw5doZMglFhlaws", "", "X-WX-Session: not-a-token",
 "Content-Type: application/json", "Content-Type: application/json", ""]
--- request eval
["GET /api/a", "GET /api/b", "GET /api/c", "POST /login\n" . '{"code":"good"}',
 "POST /login\n" . '{"code":"blocked"}', "GET /metrics"]
--- error_code eval
[200, 401, 401, 200, 403, 200]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    return unless $idx == 5;
    main::promtool_check($name, $body);
}
