# vi:filetype=perl
#
# wxauth_session_cache: a shared-memory cache of sessions that Redis keeps honest with
# server-assisted invalidation (CLIENT TRACKING ... REDIRECT to a connection of each worker
# subscribed to __redis__:invalidate). Two workers, a private redis-server (this suite counts
# its commands with INFO commandstats, kills its clients, changes maxclients), and a second
# nginx instance started by the suite for the logout "on another node".

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use WxAuthNodes;
use File::Temp ();
use POSIX ();
use Time::HiRes ();

WxAuthTest::setup_ports();

master_on();
workers(2);

our $Prefix = 'wxt012:';
our $AppId  = $WxAuthTest::AppId;

our $RedisPort = WxAuthStandIns::start_redis();
WxAuthStandIns::wait_redis($RedisPort);
$ENV{TEST_NGINX_CACHE_REDIS_PORT} = $RedisPort;
$WxAuthTest::RedisPort = $RedisPort;   # WxAuthTest::redis and seed_session use it

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_CACHE_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";
    wxauth_session_cache zone=wxsessions:1m;

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location /q/ {
        wxauth on;
        wxauth_token \$arg_t;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT/q/;
    }

    location /short/ {
        wxauth on;
        wxauth_token \$arg_t;
        wxauth_session_cache zone=wxshort:64k valid=1s;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location /tiny/ {
        wxauth on;
        wxauth_token \$arg_t;
        wxauth_session_cache zone=wxtiny:32k valid=60s;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location /long/ {
        wxauth on;
        wxauth_token \$arg_t;
        wxauth_session_cache zone=wxlong:64k valid=60s;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location /nocache/ {
        wxauth on;
        wxauth_token \$arg_t;
        wxauth_session_cache off;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /logout {
        wxauth_logout;
    }

    location = /metrics {
        wxauth_metrics;
    }

    location = /ping {
        return 200 "pong\\n";
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

WxAuthTest::add_checks();

#---------------------------------------------------------------------------

sub seed {
    my ($token, %o) = @_;
    return WxAuthTest::seed_session(prefix => $Prefix, token => $token,
        openid => $o{openid} || 'oAlice-6Yk2QfPZ', unionid => 'uAlice-Lr0Wx3Tn',
        appid => $AppId, ttl => $o{ttl} || 600, fields => $o{fields});
}

# (status, body) of a GET on the nginx under test (or another port)
sub get {
    my ($uri, $port) = @_;
    my ($status, undef, $body) = WxAuthTest::http_request($port || server_port_for_client(),
                                                          "GET $uri");
    return ($status, $body);
}

# calls of a command since the last CONFIG RESETSTAT (INFO commandstats)
sub calls {
    my $cmd = lc shift;
    my $info = WxAuthTest::redis('INFO', 'commandstats');
    return $info =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m ? $1 + 0 : 0;
}

sub resetstat { WxAuthTest::redis('CONFIG', 'RESETSTAT') }

# The clients of the private Redis: [ { id, flags, cmd, ... } ]
sub clients {
    my $list = WxAuthTest::redis('CLIENT', 'LIST');
    my @c;
    for my $line (split /\n/, $list) {
        my %f = map { /^([^=]+)=(.*)$/ ? ($1, $2) : () } split / /, $line;
        push @c, \%f;
    }
    return @c;
}

# Waits until `n` data connections have tracking on (flag t) and `n` invalidation
# connections are subscribed (flag P), then a moment for the workers to read the OKs.
sub wait_tracked {
    my ($n, $within) = @_;
    my $deadline = Time::HiRes::time() + ($within || 5);
    my ($t, $p);
    while (Time::HiRes::time() < $deadline) {
        my @c = clients();
        $t = grep { ($_->{flags} || '') =~ /t/ } @c;
        $p = grep { ($_->{flags} || '') =~ /P/ } @c;
        last if $t == $n && $p == $n;
        Time::HiRes::sleep(0.02);
    }
    Time::HiRes::sleep(0.2);
    return ($t, $p);
}

sub workers_tracked {
    my $want = $ENV{TEST_NGINX_USE_VALGRIND} ? 1
             : WxAuthTest::nginx_workers($Test::Nginx::Util::PidFile);
    my ($t, $p) = wait_tracked($want);
    Test::More::is($t, $want, "every worker's data connection has tracking on");
    Test::More::is($p, $want, "every worker's invalidation connection is subscribed");
}

sub metric {
    my ($name) = @_;
    my (undef, $body) = get('/metrics');
    return $body =~ /^\Q$name\E (\d+)$/m ? $1 + 0 : undef;
}

# Polls `uri` until it is refused with 401; the seconds it took (or undef after `within`).
sub refused_within {
    my ($uri, $within) = @_;
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < $within) {
        my ($status) = get($uri);
        return Time::HiRes::time() - $t0 if defined $status && $status == 401;
    }
    my ($status) = get($uri);
    return defined $status && $status == 401 ? Time::HiRes::time() - $t0 : undef;
}

#---------------------------------------------------------------------------
# A second nginx "node" with the module, on the same Redis, started and stopped by the suite

our $Second;   # { port, dir, pid }

sub start_second {
    my $dir = File::Temp::tempdir('wxauth-node2-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/logs";
    my $port = WxAuthTest::free_port();
    my $text = '';
    $text .= "load_module $_;\n" for split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '';
    $text .= "user root;\n" if $> == 0;
    $text .= <<"_EOC_";
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    wxauth_redis 127.0.0.1:$RedisPort;
    wxauth_redis_prefix "$Prefix";
    wxauth_session_cache zone=node2:1m;
    server {
        listen 127.0.0.1:$port;
        location = /logout { wxauth_logout; }
        location /q/ { wxauth on; wxauth_token \$arg_t; proxy_set_header X-WX-OpenID \$wxauth_openid; proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}; }
    }
}
_EOC_
    open my $out, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!\n";
    print $out $text;
    close $out;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    system($bin, '-p', "$dir/", '-c', "$dir/nginx.conf") == 0
        or die "the second nginx did not start: see $dir/logs/error.log\n";
    my $pid;
    for (1 .. 100) {
        if (open my $in, '<', "$dir/logs/nginx.pid") {
            $pid = <$in>;
            close $in;
            last if $pid;
        }
        Time::HiRes::sleep(0.02);
    }
    chomp $pid if defined $pid;
    die "the second nginx wrote no pid\n" unless $pid;
    $Second = { port => $port, dir => $dir, pid => $pid, parent => $$ };
    return $port;
}

sub stop_second {
    return unless $Second && $Second->{parent} == $$;
    my $pid = $Second->{pid};
    kill 'QUIT', $pid;
    for (1 .. 100) {
        last unless kill 0, $pid;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid if kill 0, $pid;
    $Second = undef;
}

END { local $?; stop_second(); }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: two workers, each with a tracked data connection and a subscribed invalidation connection
--- request
GET /ping
--- check_after eval
sub { main::workers_tracked() }
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: a cached session: one GET and PTTL, then no Redis command at all; the same identity
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    my $t = 'ZxJq7wUiN0u1Kp2LhFz3vQeY9rT8sBdGcAmX4oW5nE6';
    main::seed($t);
    main::wait_tracked(2);
    main::resetstat();
    my @bodies;
    for (1 .. 20) {
        my ($status, $body) = main::get("/q/x?t=$t");
        push @bodies, "$status $body";
    }
    my $want = "200 upstream GET /q/x?t=$t openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[$main::AppId] session=[]\n";
    Test::More::is_deeply(\@bodies, [($want) x 20], "$name - 20 answers with the identity");
    Test::More::is(main::calls('get'), 1, "$name - one GET for 20 checks");
    Test::More::is(main::calls('pttl'), 1, "$name - one PTTL for 20 checks");
    my $info = WxAuthTest::redis('INFO', 'commandstats');
    my @cmds = $info =~ /^cmdstat_([a-z|]+):/mg;
    # (subscribe: the invalidation connections' heartbeat, once a second, not the checks')
    Test::More::is_deeply([sort grep { !/^(info|config\|resetstat|subscribe)$/ } @cmds],
                          ['get', 'pttl'], "$name - nothing else was sent");
    Test::More::ok(main::metric('wxauth_session_cache_hits_total') >= 19, "$name - hits counted");
    Test::More::ok(main::metric('wxauth_session_cache_misses_total') >= 1, "$name - the miss counted");
    Test::More::ok(main::metric('wxauth_session_cache_entries') >= 1, "$name - an entry");
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: the cache is off where "wxauth_session_cache off" says so
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    my $t = 'Qq4mN8vB2xC6zL1kJ7hG3fD9sA5pO0iU-yT_rE4wW2e';
    main::seed($t);
    main::wait_tracked(2);
    main::resetstat();
    main::get("/nocache/x?t=$t") for 1 .. 5;
    Test::More::is(main::calls('get'), 5, "$name - every check asked Redis");
}
--- error_code: 200



=== TEST 4: redis-cli DEL evicts the cached session within 100 ms
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    my $t = 'Dl8eT3mK9pQ2wR7yU1iO5aS6dF4gH0jZ-xC_vB3nM8q';
    my $key = main::seed($t);
    main::wait_tracked(2);
    main::resetstat();
    my ($s1) = main::get("/long/x?t=$t");
    my ($s2) = main::get("/long/x?t=$t");
    Test::More::is("$s1 $s2", '200 200', "$name - the session passes");
    Test::More::is(main::calls('get'), 1, "$name - and is cached");
    my $cli = `redis-cli -h 127.0.0.1 -p $main::RedisPort DEL '$key'`;
    Test::More::like($cli, qr/^1$/m, "$name - redis-cli deleted the record");
    my $took = main::refused_within("/long/x?t=$t", 0.1);
    Test::More::ok(defined $took, "$name - refused within 100 ms"
                                  . (defined $took ? sprintf(' (%.1f ms)', $took * 1000) : ''));
    Test::More::ok(main::metric('wxauth_session_cache_invalidations_total') >= 1,
                   "$name - the invalidation counted");
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 5: a logout on a second nginx node evicts the session from this node's cache within 100 ms
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    my $t = 'Lg2oU7tN4oD3eN1oD2eX9aM5pL6eK8yQ-wR_tS1uV0w';
    main::seed($t);
    my $port2 = main::start_second();
    main::wait_tracked(3);
    main::resetstat();
    main::get("/long/x?t=$t") for 1 .. 3;
    Test::More::is(main::calls('get'), 1, "$name - cached on this node");
    my ($s2, $b2) = main::get("/q/x?t=$t", $port2);
    Test::More::is($s2, 200, "$name - the second node knows it");
    Test::More::like($b2, qr/openid=\[oAlice-6Yk2QfPZ\]/, "$name - with the identity");
    my ($status, undef, $body) = WxAuthTest::http_request($port2, 'POST /logout',
                                                          { 'X-WX-Session' => $t });
    Test::More::is("$status $body", '200 {"logged_out":true}', "$name - logged out on node 2");
    my $took = main::refused_within("/long/x?t=$t", 0.1);
    Test::More::ok(defined $took, "$name - refused here within 100 ms"
                                  . (defined $took ? sprintf(' (%.1f ms)', $took * 1000) : ''));
    my ($s3) = main::get("/q/x?t=$t", $port2);
    Test::More::is($s3, 401, "$name - and on node 2");
    main::stop_second();
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 6: a logout here drops the entry and ends the session everywhere
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    my $t = 'Lo9cA1lL2oG3oU4tT5hE6rE7nO8dE9aB-cD_eF0gH1i';
    main::seed($t);
    main::wait_tracked(2);
    main::get("/long/x?t=$t") for 1 .. 2;
    my ($status, undef, $body) = WxAuthTest::http_request(main::server_port_for_client(),
        'POST /logout', { 'X-WX-Session' => $t });
    Test::More::is("$status $body", '200 {"logged_out":true}', "$name - logged out");
    my ($s) = main::get("/long/x?t=$t");
    Test::More::is($s, 401, "$name - refused at once");
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 7: the invalidation connection killed: every check goes to Redis until it is back, then the cache serves again
--- request
GET /ping
--- timeout: 20
--- check_after eval
sub {
    my ($name) = @_;
    my $t = 'Ki1lL2cL3iE4nT5kI6lL7pU8bS9uB0yY-zZ_aA1bB2c';
    main::seed($t);
    main::wait_tracked(2);

    # one connection of our own for the whole time: maxclients keeps new ones out
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $main::RedisPort,
                                     Proto => 'tcp', Timeout => 5) or die "redis: $!";
    my $cmd = sub {
        $sock->print(WxAuthTest::_encode_command(@_));
        return WxAuthTest::_read_reply($sock);
    };
    my $info = $cmd->('INFO', 'clients');
    my ($connected) = $info =~ /^connected_clients:(\d+)/m;
    $cmd->('CONFIG', 'RESETSTAT');
    main::get("/long/x?t=$t") for 1 .. 2;
    my ($get) = $cmd->('INFO', 'commandstats') =~ /^cmdstat_get:calls=(\d+)/m;
    Test::More::is($get, 1, "$name - cached before");

    # the invalidation connections cannot come back while Redis takes no new client
    Test::More::is($cmd->('CONFIG', 'SET', 'maxclients', $connected - 2), 'OK',
                   "$name - maxclients lowered");
    my $killed = $cmd->('CLIENT', 'KILL', 'TYPE', 'pubsub');
    Test::More::is($killed, 2, "$name - both invalidation connections killed");
    Time::HiRes::sleep(0.3);
    $cmd->('CONFIG', 'RESETSTAT');
    my @s = map { (main::get("/long/x?t=$t"))[0] } 1 .. 6;
    Test::More::is("@s", '200 200 200 200 200 200', "$name - the checks still pass");
    ($get) = $cmd->('INFO', 'commandstats') =~ /^cmdstat_get:calls=(\d+)/m;
    Test::More::is($get, 6, "$name - each of them asked Redis");

    # back: the cache serves again
    $cmd->('CONFIG', 'SET', 'maxclients', 10000);
    close $sock;
    my ($tr, $p) = main::wait_tracked(2, 5);
    Test::More::is($p, 2, "$name - the invalidation connections are back");
    main::resetstat();
    main::get("/long/x?t=$t") for 1 .. 5;
    Test::More::is(main::calls('get'), 1, "$name - cached again");
}
--- error_code: 200
--- error_log
lost the invalidation connection to redis
--- no_error_log
[error]



=== TEST 8: a full (tiny) zone evicts and keeps answering, without an error
--- request
GET /ping
--- timeout: 30
--- check_after eval
sub {
    my ($name) = @_;
    main::wait_tracked(2);
    my @tokens = map { WxAuthTest::token("cache-full-$_") } 1 .. 400;
    main::seed($_, openid => 'oFull-' . substr($_, 0, 8)) for @tokens;
    my $bad = 0;
    for my $round (1 .. 2) {
        for my $tk (@tokens) {
            my ($s, $b) = main::get("/tiny/x?t=$tk");
            my $o = 'oFull-' . substr($tk, 0, 8);
            $bad++ unless $s == 200 && index($b, "openid=[$o]") >= 0;
        }
    }
    Test::More::is($bad, 0, "$name - 800 checks all passed with the right identity");
    Test::More::ok(main::metric('wxauth_session_cache_evictions_total') > 0,
                   "$name - entries were evicted");
}
--- error_code: 200
--- no_error_log
[error]
[warn]



=== TEST 9: no entry outlives the session's expiry (PTTL), nor valid=
--- request
GET /ping
--- timeout: 20
--- check_after eval
sub {
    my ($name) = @_;
    main::wait_tracked(2);

    # the session expires in 2 s; valid=60s would keep it far longer
    my $t = 'Ex1pI2rY3sE4sS5iO6nN7oW8tL9oN0gE-rR_tT1hH2a';
    main::seed($t, ttl => 2);
    my ($s1) = main::get("/long/x?t=$t");
    Test::More::is($s1, 200, "$name - passes while alive");
    Time::HiRes::sleep(2.2);
    my ($s2, $b2) = main::get("/long/x?t=$t");
    Test::More::is($s2, 401, "$name - refused once the session expired");

    # valid=1s: asked again after a second
    my $v = 'Va1lI2dD3oN4eS5eC6oN7dT8hE9nA0gA-iI_nN1oO2w';
    main::seed($v);
    main::resetstat();
    main::get("/short/x?t=$v") for 1 .. 3;
    Test::More::is(main::calls('get'), 1, "$name - cached under valid=1s");
    Time::HiRes::sleep(1.2);
    main::get("/short/x?t=$v") for 1 .. 3;
    Test::More::is(main::calls('get'), 2, "$name - asked again after valid=");
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 10: a cached session is still renewed on time (once), and the renewal reaches Redis
--- request
GET /ping
--- timeout: 20
--- check_after eval
sub {
    my ($name) = @_;
    main::wait_tracked(2);
    my $t = 'Re1nE2wA3lL4oN5gC6aC7hE8dS9eS0sI-oO_nN1pP2q';
    # a 10 s session that renews: due once less than 5 s are left
    my $key = main::seed($t, ttl => 7, fields => { ttl => 10, rn => 1 });
    main::resetstat();
    main::get("/long/x?t=$t") for 1 .. 3;
    Test::More::is(main::calls('expire'), 0, "$name - not due yet: no EXPIRE");
    Test::More::is(main::calls('get'), 1, "$name - cached");
    Time::HiRes::sleep(2.5);   # 4.5 s left: below half the lifetime
    main::get("/long/x?t=$t") for 1 .. 3;
    Test::More::is(main::calls('expire'), 3, "$name - renewed once (three EXPIREs)");
    my $ttl = WxAuthTest::redis('TTL', $key);
    Test::More::ok($ttl >= 9 && $ttl <= 10, "$name - renewed to the full lifetime (TTL $ttl)");
    Test::More::ok(main::calls('get') >= 2, "$name - read again after the renewal");
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 11: a session of an app the location does not allow is refused, also from the cache
--- config
    location /q/ {
        wxauth on;
        wxauth_token $arg_t;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    }
    location /other/ {
        wxauth on;
        wxauth_token $arg_t;
        wxauth_allowed_apps wx0000000000000000;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    }
    location = /ping { return 200 "pong\n"; }
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    main::wait_tracked(2);
    my $t = 'Ap1pN2oT3aL4lO5wE6dC7aC8hE9dT0oO-xX_yY1zZ2a';
    main::seed($t);
    my ($s1) = main::get("/q/x?t=$t");
    my ($s2) = main::get("/q/x?t=$t");
    my ($s3, $b3) = main::get("/other/x?t=$t");
    Test::More::is("$s1 $s2 $s3", '200 200 403', "$name - refused where the app is not allowed");
    Test::More::like($b3, qr/app_not_allowed/, "$name - app_not_allowed");
}
--- error_code: 200



=== TEST 12: nginx -t refuses bad wxauth_session_cache arguments with clear messages
--- request
GET /ping
--- check_after eval
sub {
    my ($name) = @_;
    my @cases = (
        ['wxauth_session_cache valid=5s;', qr/"wxauth_session_cache" needs "zone=NAME:SIZE"/],
        ['wxauth_session_cache zone=abc;', qr/invalid "zone=abc" in "wxauth_session_cache": expected "zone=NAME:SIZE"/],
        ['wxauth_session_cache zone=abc:lots;', qr/invalid "zone=abc:lots"/],
        ['wxauth_session_cache zone=:1m;', qr/invalid "zone=:1m"/],
        ['wxauth_session_cache zone=abc:1k;', qr/zone "abc" of "wxauth_session_cache" is too small/],
        ['wxauth_session_cache zone=abc:1m valid=0;', qr/invalid "valid=0" in "wxauth_session_cache": valid must be a positive time/],
        ['wxauth_session_cache zone=abc:1m valid=soon;', qr/invalid "valid=soon"/],
        ['wxauth_session_cache zone=abc:1m size=3;', qr/invalid parameter "size=3" in "wxauth_session_cache"/],
        ["wxauth_session_cache off;\n    wxauth_session_cache zone=abc:1m;", qr/"wxauth_session_cache" directive is duplicate/],
        ['wxauth_session_cache zone=wxauth_metrics:1m;', qr/wxauth_metrics/],
        ['wxauth_session_cache zone=abc:1m zone=abc:2m valid=1s;', qr/./],
    );
    for my $c (@cases) {
        my ($rc, $out) = WxAuthTest::nginx_config_test(
            "wxauth_redis 127.0.0.1:1;\n    $c->[0]", '');
        Test::More::isnt($rc, 0, "$name - refused: $c->[0]");
        Test::More::like($out, $c->[1], "$name - message for: $c->[0]");
    }
    my ($rc, $out) = WxAuthTest::nginx_config_test(
        "wxauth_redis 127.0.0.1:1;\n    wxauth_session_cache zone=abc:1m valid=2s;",
        "location / { wxauth on; wxauth_session_cache off; }\n"
        . "location /b/ { wxauth on; wxauth_session_cache zone=abc:1m; }");
    Test::More::is($rc, 0, "$name - a good configuration passes") or Test::More::diag($out);
}
--- error_code: 200



=== TEST 13: an invalidation connection that stops answering (CLIENT PAUSE) is dropped, the cache flushed, and it comes back
--- request
GET /ping
--- timeout: 30
--- check_after eval
sub {
    my ($name) = @_;
    main::wait_tracked(2);
    my $t = 'Pa1uS2eD3rE4dI5sS6tO7pP8eD9aN0sW-eE_rR1iI2n';
    main::seed($t);
    main::get("/long/x?t=$t") for 1 .. 2;
    Test::More::is(WxAuthTest::redis('CLIENT', 'PAUSE', 4500, 'ALL'), 'OK', "$name - paused");
    Time::HiRes::sleep(5);
    my ($tr, $p) = main::wait_tracked(2, 10);
    Test::More::is("$tr $p", '2 2', "$name - tracked again after the pause");
    main::resetstat();
    my ($s) = main::get("/long/x?t=$t");
    Test::More::is($s, 200, "$name - the session passes");
    Test::More::is(main::calls('get'), 1, "$name - read again from Redis: the cache was flushed");
}
--- error_code: 200
--- error_log
stopped answering, dropping it



=== TEST 14: workers that crash (SIGKILL) take their tracking with them: the workers that replace them flush the zone, so a session deleted meanwhile is not served from it
--- request
GET /ping
--- timeout: 30
--- check_after eval
sub {
    my ($name) = @_;
    # a node of its own: its master logs the crash at [alert], which this block's own log
    # must not show
    my $node = WxAuthNodes::start_node(name => 'crash', workers => 2, http_config => <<"_H_", config => <<'_C_');
    wxauth_redis 127.0.0.1:$main::RedisPort;
    wxauth_redis_prefix "$main::Prefix";
    wxauth_session_cache zone=wxcrash:1m valid=60s;
_H_
    location /c/ {
        wxauth on;
        wxauth_token $arg_t;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    }
_C_
    main::wait_tracked(4);   # two workers here, two there
    my $t = 'Cr4sH5eD6wO7rK8eR9sF0lU1sH2tH3eZ-oN_eE4xYz5';
    my $key = main::seed($t);
    main::resetstat();
    my @st = map { ($node->request("GET /c/x?t=$t"))[0] } 1 .. 4;
    Test::More::is("@st", '200 200 200 200', "$name - the session passes on the node");
    Test::More::cmp_ok(main::calls('get'), '<=', 2, "$name - and is cached (GETs: " . main::calls('get') . ')');

    my @old = $node->worker_pids;
    kill 'KILL', @old;
    my $deadline = Time::HiRes::time() + 10;
    my @new;
    while (Time::HiRes::time() < $deadline) {
        @new = $node->worker_pids;
        my %was = map { $_ => 1 } @old;
        last if @new == 2 && !grep { $was{$_} } @new;
        Time::HiRes::sleep(0.05);
    }
    Test::More::is(scalar(grep { my $p = $_; !grep { $_ == $p } @old } @new), 2,
                   "$name - two new workers replace the killed ones");
    Test::More::like($node->log_text, qr/exited on signal 9/, "$name - the master saw the crash");

    # nobody tracks the key now: this DEL reaches no nginx
    Test::More::is(WxAuthTest::redis('DEL', $key), 1, "$name - the session deleted in Redis");
    my ($after) = $node->request("GET /c/x?t=$t");
    Test::More::is($after, 401, "$name - the new workers do not serve it from the zone");
    $node->stop;
    main::wait_tracked(2);
}
--- error_code: 200
