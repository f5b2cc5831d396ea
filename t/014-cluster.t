# vi:filetype=perl
#
# wxauth_redis_cluster: sessions in a real Redis Cluster. The suite creates
# three masters and three replicas (redis-server --cluster-enabled yes,
# redis-cli --cluster create --cluster-replicas 1, cluster-node-timeout 1 s) on
# free loopback ports, and stops them when it ends:
#
# - the worker reads the slot map from a seed (the first seed listed is down
#   and skipped) and sends each command to the master serving its key's slot:
#   login, check, logout, single session (the set of the user and the
#   sessions it ends live in different slots);
# - the sessions of many logins are spread over all three masters;
# - a slot moved to another master (MIGRATE, SETSLOT) is followed through the
#   MOVED answer, and a slot in the middle of a migration through ASK: the
#   requests do not fail;
# - a master is killed (SIGKILL): requests for its slots get 503
#   store_unavailable until its replica is promoted, and within 2 s of the
#   promotion the session written before the kill (WAIT 1) checks out there.
#
# Configurations nginx must refuse are checked with `nginx -t` first.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use WxAuthCluster;
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt014:';
our $AppId  = $WxAuthTest::AppId;

# ---- configurations nginx refuses

for my $case (
    ['no node address',
     "wxauth_redis_cluster password=x;",
     qr/\[emerg\] .*"wxauth_redis_cluster" needs at least one node address/],
    ['db= (a cluster has database 0 only)',
     "wxauth_redis_cluster 127.0.0.1:7000 db=1;",
     qr/\[emerg\] .*invalid parameter #2 in "wxauth_redis_cluster".*no "db="/],
    ['an unknown parameter is not echoed',
     "wxauth_redis_cluster 127.0.0.1:7000 pasword=Sup3rSecret;",
     qr/\[emerg\] .*invalid parameter #2 in "wxauth_redis_cluster"/, qr/Sup3rSecret/],
    ['a unix socket is no cluster node',
     "wxauth_redis_cluster unix:/tmp/r.sock;",
     qr/\[emerg\] .*invalid cluster node address "unix:\/tmp\/r.sock"/],
    ['a node host that does not resolve',
     "wxauth_redis_cluster no-such-host.invalid:7000;",
     qr/\[emerg\] .*host not found in redis address "no-such-host.invalid:7000"/],
    ['wxauth_redis and wxauth_redis_cluster in one block',
     "wxauth_redis 127.0.0.1:6379;\n wxauth_redis_cluster 127.0.0.1:7000;",
     qr/\[emerg\] .*"wxauth_redis_cluster" directive is not allowed with "wxauth_redis" in the same block/],
    ['wxauth_redis_cluster, then wxauth_redis_sentinel, in one block',
     "wxauth_redis_cluster 127.0.0.1:7000;\n wxauth_redis_sentinel m 127.0.0.1:26379;",
     qr/\[emerg\] .*"wxauth_redis_sentinel" directive is not allowed with "wxauth_redis_cluster" in the same block/],
    ['wxauth_login_replicas 0',
     "wxauth_redis_cluster 127.0.0.1:7000;\n wxauth_login_replicas 0;",
     qr/\[emerg\] .*invalid number of replicas "0" in "wxauth_login_replicas", expected 1 to 100 or "off"/],
    ['wxauth_login_replicas with a zero timeout (WAIT 0 waits forever)',
     "wxauth_redis_cluster 127.0.0.1:7000;\n wxauth_login_replicas 1 0;",
     qr/\[emerg\] .*invalid timeout "0" in "wxauth_login_replicas"/],
    ['a duplicate wxauth_redis_cluster',
     "wxauth_redis_cluster 127.0.0.1:7000;\n wxauth_redis_cluster 127.0.0.1:7001;",
     qr/\[emerg\] .*"wxauth_redis_cluster" directive is duplicate/],
) {
    my ($what, $http, $says, $never) = @$case;
    my ($status, $out) = WxAuthTest::nginx_config_test($http, "location / { wxauth on; }");
    isnt($status, 0, "nginx -t refuses: $what");
    like($out, $says, "nginx -t says why: $what");
    unlike($out, $never, "nginx -t does not echo the parameter: $what") if $never;
}

{
    my ($status, $out) = WxAuthTest::nginx_config_test(
        "wxauth_redis_cluster localhost:7000 127.0.0.1 password=p1 liveness=2s;",
        "location / { wxauth on; }");
    is($status, 0, 'nginx -t accepts host names and every option') or diag($out);
}

# ---- the cluster

our $Cluster = WxAuthCluster::start_cluster(masters => 3, replicas => 1);
our @Masters = WxAuthCluster::masters($Cluster);
our $DeadSeed = WxAuthTest::free_port();   # nobody listens there
$ENV{TEST_NGINX_CLUSTER_SEEDS} = "127.0.0.1:$DeadSeed 127.0.0.1:$Masters[0]";

our $HttpConfig = <<"_EOC_";
    wxauth_redis_cluster \$TEST_NGINX_CLUSTER_SEEDS;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /login {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /login/single {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
        wxauth_single_session on;
    }

    location = /login/acked {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
        wxauth_login_replicas 1 2s;
    }

    location = /logout {
        wxauth_logout;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

    location = /metrics {
        wxauth_metrics;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

WxAuthTest::add_checks();

sub port { server_port_for_client() }

sub check {
    my ($path, $token) = @_;
    my ($status, undef, $body) = WxAuthTest::http_request(port(), "GET $path",
                                                          { 'X-WX-Session' => $token });
    return wantarray ? ($status // 'none', $body // '') : ($status // 'none');
}

sub login {
    my $path = shift || '/login';
    my ($status, undef, $body) = WxAuthTest::http_request(port(), "POST $path", {
        'Content-Type' => 'application/x-www-form-urlencoded' }, 'code=good');
    my ($token) = WxAuthTest::login_answer($body);
    return $token;
}

sub skey { WxAuthTest::session_key($Prefix, $_[0]) }

# the tokens of the sessions the blocks seed (request sections are read before
# a block's init runs)
our %Token = map { $_ => WxAuthTest::token("t014-$_") } qw(alice bob carol dave erin);

# a session of `name`'s token written on the master of its slot, and on that
# master's replica before this returns (WAIT 1)
sub seed {
    my $name = shift;
    my $token = $Token{$name};
    my $master = WxAuthCluster::owner_of($Cluster, skey($token));
    my $record = WxAuthTest::session_record(openid => "o$name-Kx81", appid => $AppId,
                                            ttl => 600);
    my ($set, $acks) = WxAuthStandIns::redis_session($master,
        ['SET', skey($token), $record, 'EX', 600], ['WAIT', 1, 2000]);
    Test::More::is($set, 'OK', "the session of $name is seeded on 127.0.0.1:$master");
    Test::More::is($acks, 1, "... and its replica has it (WAIT 1)");
    return ($token, $master);
}

# the worker reads the slot map once it started: 503 until then
sub wait_until_served {
    my $token = shift;
    my $t0 = Time::HiRes::time();
    my $st;
    while (($st = check('/api/ready', $token)) eq '503' && Time::HiRes::time() - $t0 < 5) {
        Time::HiRes::sleep(0.01);
    }
    return $st;
}

sub metric {
    my ($name) = @_;
    my ($status, undef, $body) = WxAuthTest::http_request(port(), 'GET /metrics');
    return $body =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

sub keys_on {
    my $port = shift;
    my $keys = WxAuthStandIns::redis_at($port, 'KEYS', "${Prefix}s:*");
    return ref $keys eq 'ARRAY' ? scalar @$keys : 0;
}

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: login and session check through the cluster: each command goes to the master of its key's slot; the first seed is down and skipped
--- init
{
    my ($token) = main::seed('alice');
    Test::More::is(main::wait_until_served($token), 200, 'the seeded session checks out');
}
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    my ($st, $body) = main::check('/api/x', $token);
    Test::More::is($st, 200, "$name - the new session checks out");
    Test::More::like($body, qr/openid=\[oAlice-6Yk2QfPZ\]/,
                     "$name - the upstream gets the identity");
    my $master = WxAuthCluster::owner_of($main::Cluster, main::skey($token));
    my $stored = WxAuthStandIns::redis_at($master, 'GET', main::skey($token));
    Test::More::ok(defined $stored && $stored =~ /"openid":"oAlice-6Yk2QfPZ"/,
                   "$name - the session is on the master of its slot (127.0.0.1:$master)");
    Test::More::cmp_ok(main::metric('wxauth_redis_slot_map_refreshes_total'), '>=', 1,
                       "$name - the slot map was read");
    my (undef, undef, $scrape) = WxAuthTest::http_request(main::port(), 'GET /metrics');
    my @masters = $scrape =~ /^wxauth_redis_node_info\{redis="[^"]+",address="127\.0\.0\.1:(\d+)",role="master",connected="1"\} 1$/mg;
    my @replicas = $scrape =~ /^wxauth_redis_node_info\{redis="[^"]+",address="127\.0\.0\.1:(\d+)",role="replica",connected="0"\} 1$/mg;
    Test::More::is("@{[sort @masters]}", "@{[sort @main::Masters]}",
                   "$name - wxauth_redis_node_info names the three masters, connected");
    Test::More::is(scalar @replicas, 3, "$name - ... and their three replicas");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log eval
[qr/wxauth: could not connect to redis 127\.0\.0\.1:$main::DeadSeed/,
 qr/wxauth: redis cluster 127\.0\.0\.1:$main::DeadSeed,127\.0\.0\.1:$main::Masters[0]: slot map read from 127\.0\.0\.1:\d+, 16384 slots served/]



=== TEST 2: the sessions of many logins are spread over all three masters, and every one checks out
--- config eval: $main::Config
--- init
{
    main::wait_until_served(WxAuthTest::token('t014-nobody'));
    my @tokens = map { main::login() } 1 .. 30;
    Test::More::is(scalar(grep { defined } @tokens), 30, '30 logins');
    my @counts = map { main::keys_on($_) } @main::Masters;
    Test::More::ok(!(grep { $_ == 0 } @counts),
                   "every master holds sessions (@counts on @main::Masters)");
    Test::More::is(scalar(grep { main::check('/api/s', $_) eq '200' } @tokens), 30,
                   'all 30 sessions check out');
}
--- request
GET /metrics
--- error_code: 200



=== TEST 3: single session: the user's set and the sessions it ends live in other slots (maybe on other masters); the older session is gone before the new login answers
--- init
{
    main::wait_until_served(WxAuthTest::token('t014-nobody'));
    my $first = main::login('/login/single');
    Test::More::is(main::check('/api/one', $first), 200, 'the first session checks out');
    $main::First = $first;
}
--- request
POST /login/single
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    Test::More::is(main::check('/api/two', $main::First), 401,
                   "$name - the older session is ended");
    Test::More::is(main::check('/api/two', $token), 200, "$name - the new one checks out");
    my $set = WxAuthTest::user_sessions_key($main::Prefix, $main::AppId, 'oAlice-6Yk2QfPZ');
    my $master = WxAuthCluster::owner_of($main::Cluster, $set);
    my $members = WxAuthStandIns::redis_at($master, 'SMEMBERS', $set);
    Test::More::is_deeply($members, [main::skey($token)],
                          "$name - the user's set holds the new session only");
}
--- error_code: 200
--- response_body_like: ^\{"session":



=== TEST 4: logout ends the session on its master
--- init
{
    my ($token) = main::seed('erin');
    Test::More::is(main::wait_until_served($token), 200, 'the session checks out before');
}
--- request
POST /logout
--- more_headers eval
"X-WX-Session: $main::Token{erin}"
--- check_after eval
sub {
    my ($name) = @_;
    Test::More::is(main::check('/api/after-logout', $main::Token{erin}), 401,
                   "$name - the session is refused afterwards");
    my $master = WxAuthCluster::owner_of($main::Cluster, main::skey($main::Token{erin}));
    Test::More::is(WxAuthStandIns::redis_at($master, 'EXISTS', main::skey($main::Token{erin})),
                   0, "$name - its key is gone from its master");
}
--- error_code: 200



=== TEST 5: a slot moved to another master: the worker follows MOVED (the request does not fail) and reads the map again
--- init
{
    my ($token, $from) = main::seed('bob');
    Test::More::is(main::wait_until_served($token), 200, 'the session checks out before');
    my $slot = WxAuthCluster::slot_of($main::Cluster, main::skey($token));
    my ($to) = grep { $_ != $from } @main::Masters;
    WxAuthCluster::move_slot($main::Cluster, $slot, $to);
    Test::More::is(WxAuthCluster::owner_of($main::Cluster, main::skey($token)), $to,
                   "slot $slot moved from 127.0.0.1:$from to 127.0.0.1:$to");
    $main::Refreshes = main::metric('wxauth_redis_slot_map_refreshes_total');
}
--- request eval
"GET /api/moved"
--- more_headers eval
"X-WX-Session: $main::Token{bob}"
--- check_after eval
sub {
    my ($name) = @_;
    Test::More::cmp_ok(main::metric('wxauth_redis_redirects_total{kind="moved"}'), '>=', 1,
                       "$name - a MOVED was followed");
    my $t0 = Time::HiRes::time();
    Time::HiRes::sleep(0.02)
        while main::metric('wxauth_redis_slot_map_refreshes_total') <= $main::Refreshes
              && Time::HiRes::time() - $t0 < 2;
    Test::More::cmp_ok(main::metric('wxauth_redis_slot_map_refreshes_total'), '>',
                       $main::Refreshes, "$name - the slot map was read again");
    Test::More::is(main::check('/api/again', $main::Token{bob}), 200,
                   "$name - the next check goes to the new master at once");
}
--- error_code: 200



=== TEST 6: a slot in the middle of a migration: the key is on the importing master already, the worker follows ASK
--- init
{
    my ($token, $from) = main::seed('carol');
    Test::More::is(main::wait_until_served($token), 200, 'the session checks out before');
    my $slot = WxAuthCluster::slot_of($main::Cluster, main::skey($token));
    my ($to) = grep { $_ != $from } @main::Masters;
    my $ask = main::metric('wxauth_redis_redirects_total{kind="ask"}');
    WxAuthCluster::move_slot($main::Cluster, $slot, $to, after_keys => sub {
        my ($st) = main::check('/api/asked', $token);
        Test::More::is($st, 200, "while slot $slot migrates, the session checks out (ASK)");
        Test::More::cmp_ok(main::metric('wxauth_redis_redirects_total{kind="ask"}'), '>', $ask,
                           'ASK was followed');
        my $login = main::login();
        Test::More::ok(defined $login, 'logins go on meanwhile');
    });
}
--- request eval
"GET /api/migrated"
--- more_headers eval
"X-WX-Session: $main::Token{carol}"
--- error_code: 200



=== TEST 7: a slot in mid-migration and wxauth_login_replicas: a login whose write is answered with ASK is refused (its WAIT went to the node it wrote to), one without replicas follows ASK
--- init
{
    main::wait_until_served(WxAuthTest::token('t014-nobody'));
    # the user's newest-session_key key: the same slot for every login of this user
    my $latest = WxAuthTest::latest_key($main::Prefix, $main::AppId, 'oAlice-6Yk2QfPZ');
    my $slot = WxAuthCluster::slot_of($main::Cluster, $latest);
    my $from = WxAuthCluster::owner_of($main::Cluster, $latest);
    my ($to) = grep { $_ != $from } @main::Masters;
    WxAuthCluster::move_slot($main::Cluster, $slot, $to, after_keys => sub {
        # the key is on the importing node now: the migrating one answers -ASK for it
        my $ask = main::metric('wxauth_redis_redirects_total{kind="ask"}');
        my ($status, undef, $body) = WxAuthTest::http_request(main::port(), 'POST /login/acked',
            { 'Content-Type' => 'application/x-www-form-urlencoded' }, 'code=good');
        Test::More::is($status, 503, "a login with wxauth_login_replicas during the migration "
                                     . "of slot $slot answers 503");
        Test::More::like($body, qr/"error":"store_unavailable"/, '... store_unavailable');
        Test::More::is(main::metric('wxauth_redis_redirects_total{kind="ask"}'), $ask,
                       '... and followed no ASK');
        my $token = main::login();
        Test::More::ok(defined $token, 'a login without replicas follows the ASK and answers');
        Test::More::cmp_ok(main::metric('wxauth_redis_redirects_total{kind="ask"}'), '>', $ask,
                           '... through ASK');
    });
}
--- request
GET /metrics
--- error_code: 200
--- error_log eval
qr/wxauth: redis refused a login bookkeeping command: ASK \d+ 127\.0\.0\.1:\d+/



=== TEST 8: a master is killed: 503 store_unavailable for its slots until its replica is promoted, then within 2 s the session written before the kill checks out
--- init
{
    my ($token, $old) = main::seed('dave');
    Test::More::is(main::wait_until_served($token), 200, 'the session checks out before');

    # a login with wxauth_login_replicas 1 whose session lives on the master to be killed:
    # it answered only once the replica had it
    my $acked;
    for (1 .. 40) {
        my $t = main::login('/login/acked');
        next unless defined $t;
        if (WxAuthCluster::owner_of($main::Cluster, main::skey($t)) == $old) {
            $acked = $t;
            last;
        }
    }
    Test::More::ok($acked, "a login with wxauth_login_replicas 1 has its session on 127.0.0.1:$old");
    my $replica = WxAuthCluster::replica_of($main::Cluster, $old);
    Test::More::ok($replica, "127.0.0.1:$old has the replica 127.0.0.1:$replica");
    my $failovers = main::metric('wxauth_redis_failovers_total');

    WxAuthCluster::kill_node($main::Cluster, $old);
    my $t_kill = Time::HiRes::time();

    my ($t_promoted, $n, %seen) = (undef, 0);
    while (Time::HiRes::time() - $t_kill < 15) {
        my ($st, $body) = main::check("/api/down/$n", $token);
        $n++;
        my ($code) = $body =~ /"error":"([a-z_]+)"/;
        $seen{$st eq '200' ? '200' : "$st " . ($code // '?')}++;
        my $role = eval { WxAuthStandIns::redis_at($replica, 'ROLE') };
        if (ref $role eq 'ARRAY' && $role->[0] eq 'master') {
            $t_promoted = Time::HiRes::time();
            last;
        }
        Time::HiRes::sleep(0.02);
    }
    die "t/014: the replica was not promoted within 15 s\n" unless $t_promoted;
    my @other = grep { $_ ne '503 store_unavailable' && $_ ne '200' } keys %seen;
    Test::More::is("@other", '', 'meanwhile only 503 store_unavailable ('
                   . join(', ', map { "$_: $seen{$_}" } sort keys %seen) . ')');

    my ($st, $t_ok) = ('none', undef);
    while (1) {
        $st = main::check('/api/after', $token);
        $t_ok = Time::HiRes::time();
        last if $st eq '200' || $t_ok - $t_promoted > 3;
        Time::HiRes::sleep(0.01);
    }
    my $limit = $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 2;
    Test::More::ok($st eq '200' && $t_ok - $t_promoted <= $limit,
                   sprintf('the session checks out %.0f ms after the promotion (within %d s)',
                           ($t_ok - $t_promoted) * 1000, $limit));
    Test::More::diag(sprintf('cluster failover: promotion %.2f s after the kill, first 200 '
                             . '%.0f ms after the promotion', $t_promoted - $t_kill,
                             ($t_ok - $t_promoted) * 1000));
    Test::More::cmp_ok(main::metric('wxauth_redis_failovers_total'), '>', $failovers,
                       'the failover is counted');
    Test::More::is(main::check('/api/acked', $acked), 200,
                   'the session of the login that waited for its replica survived the failover');
    # the login below may write to any master: one that has not yet heard of the
    # promotion answers CLUSTERDOWN (503 by design), so it waits for all of them
    my $heard = WxAuthCluster::wait_state_ok($main::Cluster, 15);
    Test::More::diag(sprintf('cluster failover: every node cluster_state:ok %.0f ms after '
                             . 'the session checked out', $heard * 1000));
    $main::Dave = $token;
}
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    Test::More::is(main::check('/api/y', $token), 200, "$name - a new login works");
    Test::More::is(main::check('/api/z', $main::Dave), 200, "$name - the old session still");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- timeout: 5
--- error_log eval
qr/wxauth: redis cluster \S+: the slots of 127\.0\.0\.1:\d+ are served by another node now \(failover\)/



=== TEST 9: wxauth_login_replicas against a Redis without replicas: WAIT counts 0 in time, the login is refused with 503 and no token
--- http_config eval
qq{
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$main::Prefix";

$WxAuthTest::Servers
}
--- config eval: $main::Config =~ s/wxauth_login_replicas 1 2s;/wxauth_login_replicas 1 150ms;/r
--- request
POST /login/acked
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 503
--- response_body: {"error":"store_unavailable","message":"session store unavailable"}
--- error_log
wxauth: the login's writes reached 0 of 1 replicas within 150 ms
