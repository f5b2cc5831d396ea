# vi:filetype=perl
#
# Three nginx nodes sharing one Redis Sentinel set (issue 8, "How it is
# proven"): node A is the nginx Test::Nginx runs (master process, 2 workers),
# nodes B and C are more nginx instances with the module started by the suite
# (t/lib/WxAuthNodes.pm, 2 workers each); all three have the same
# `wxauth_redis_sentinel` and prefix. The WeChat stand-in and the upstream are
# served by a fourth nginx of the suite, so that they stay up while
# Test::Nginx restarts node A between blocks. The store: a master, two
# replicas (redis-server --replicaof) and three redis-sentinels (quorum 2,
# down-after-milliseconds 1000), on free loopback ports.
#
# - a login on A works on B and C;
# - a logout on C: the token is refused on A and B at once (no wait);
# - wxauth_single_session on: a login on B ends the session made on A, on
#   every node;
# - the master is killed (SIGKILL): sessions created on the three nodes before,
#   by logins with `wxauth_login_replicas 1` (each answered once a replica
#   acknowledged its writes), are still valid on every node after the promotion,
#   only 503 is answered meanwhile, and every node answers again within 2 s of
#   the promotion (the window is printed); every worker of every node
#   followed the failover once.
#
# Everything started here is stopped when the suite ends (also when it fails).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use WxAuthNodes;
use WxAuthMultiNode;
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Name    = 'wxt013';
our $Prefix  = 'wxt013:';
our $AppId   = $WxAuthTest::AppId;
our $Workers = 2;

# ---- a master, two replicas, three sentinels

our $Master = WxAuthStandIns::start_redis();
WxAuthStandIns::wait_redis($Master);
our @Replicas = map { WxAuthStandIns::start_redis(undef, '--replicaof', '127.0.0.1', $Master) }
                1 .. 2;
WxAuthStandIns::wait_redis($_) for @Replicas;
our @Sentinels = map { WxAuthStandIns::start_sentinel(name => $Name, master_port => $Master,
                                                      quorum => 2) } 1 .. 3;

# every sentinel knows the master, both replicas and the other sentinels (a
# failover needs all of it), and both replicas are in sync
WxAuthStandIns::wait_sentinels(name => $Name, master => $Master, replicas => \@Replicas,
                               sentinels => \@Sentinels);

$ENV{TEST_NGINX_SENTINELS} = join ' ', map { "127.0.0.1:$_" } @Sentinels;

# ---- the configuration of every node

our $HttpConfig = <<"_EOC_";
    wxauth_redis_sentinel $Name \$TEST_NGINX_SENTINELS;
    wxauth_redis_prefix "$Prefix";
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

    # answers once a replica has the login's writes (WAIT): the failover of
    # TEST 4 keeps the sessions made here
    location = /login-replicated {
        wxauth_login;
        wxauth_login_replicas 1;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /login-single {
        wxauth_login;
        wxauth_single_session on;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
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

# ---- the WeChat stand-in and the upstream, in an nginx of their own

our $StandIns = WxAuthNodes::start_node(name => 'stand-ins', workers => 1,
                                        http_config => $WxAuthTest::Servers,
                                        listens => [$ENV{TEST_NGINX_WECHAT_PORT},
                                                    $ENV{TEST_NGINX_UPSTREAM_PORT}]);

# ---- nodes B and C (A is Test::Nginx's)

our %Node = map { $_ => WxAuthNodes::start_node(name => $_, workers => $Workers,
                                                http_config => $HttpConfig,
                                                config => $Config) } qw(B C);
our %WorkerPids = map { $_ => [ $Node{$_}->worker_pids ] } qw(B C);

master_on();
workers($Workers);

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

WxAuthTest::add_checks();

# requests to the nodes: A (Test::Nginx's), B and C (t/lib/WxAuthMultiNode.pm)
WxAuthMultiNode::nodes(A => sub { server_port_for_client() }, B => $Node{B}, C => $Node{C});
{ no warnings 'once';
*port_of    = \&WxAuthMultiNode::port_of;
*use_on     = \&WxAuthMultiNode::use_on;
*status_on  = \&WxAuthMultiNode::status_on;
*login_on   = \&WxAuthMultiNode::login_on;
*served_on  = \&WxAuthMultiNode::served_on;
*refused_on = \&WxAuthMultiNode::refused_on;
*metric_of  = \&WxAuthMultiNode::metric_of;
}

# every node answers 200 for `token` (nodes A, B, C just started: each worker
# asks the sentinels and checks the master with ROLE; 503 meanwhile)
sub wait_until_served {
    my $token = shift;
    for my $node (qw(A B C)) {
        my $t0 = Time::HiRes::time();
        my $ok = 0;
        while (Time::HiRes::time() - $t0 < 5) {
            $ok = (status_on($node, $token) eq '200') ? $ok + 1 : 0;
            last if $ok >= 4 * $Workers;
            Time::HiRes::sleep(0.01);
        }
        die "t/013: node $node does not serve a session within 5 s\n" unless $ok;
    }
}

sub master_named_by {
    my $sentinel = shift;
    my $addr = eval { WxAuthStandIns::redis_at($sentinel, 'SENTINEL', 'get-master-addr-by-name',
                                               $Name) };
    return ref $addr eq 'ARRAY' ? $addr->[1] : undef;
}

# B and C: same workers as at the start, and nothing alarming in their logs
sub nodes_healthy {
    my $what = shift;
    for my $n (qw(B C)) {
        Test::More::is_deeply([ $Node{$n}->worker_pids ], $WorkerPids{$n},
                              "$what: node $n has the workers it started with");
        my $log = $Node{$n}->log_text;
        for my $bad (qr/\[(?:alert|crit|emerg)\]/, qr/exited on signal/,
                     qr/\Q$WxAuthTest::Secret\E/) {
            Test::More::unlike($log, $bad, "$what: the error log of node $n has no $bad");
        }
    }
}

# a probe: a session seeded on the master (and seen on both replicas) that
# wait_until_served can use before the first login of a block
our $Probe = WxAuthTest::token('t013-probe');
sub seed_probe {
    my $key = WxAuthTest::session_key($Prefix, $Probe);
    my $record = WxAuthTest::session_record(openid => 'oProbe-013', appid => $AppId);
    my ($set, $acks) = WxAuthStandIns::redis_session($Master,
        ['SET', $key, $record, 'EX', 600], ['WAIT', 2, 2000]);
    die "t/013: seeding the probe session failed\n" unless ($set // '') eq 'OK' && $acks == 2;
}
seed_probe();

our ($NewMaster, $TPromoted);

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a login on node A works on nodes B and C
--- init
main::wait_until_served($main::Probe);
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    main::served_on("$name - the session of A", $_, $token, 'oAlice-6Yk2QfPZ') for qw(A B C);
    my $stored = WxAuthStandIns::redis_at($main::Master, 'GET',
                                          WxAuthTest::session_key($main::Prefix, $token));
    Test::More::ok(defined $stored && $stored =~ /"openid":"oAlice-6Yk2QfPZ"/,
                   "$name - the session is on the master");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 2: a logout on node C: the token is refused on nodes A and B at once
--- init
main::wait_until_served($main::Probe);
--- request
POST /login
code=nounion
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    # every node serves it first (also the workers of B and C that will
    # refuse it: no node keeps a session of its own)
    for my $node (qw(A B C)) {
        main::served_on("$name - before the logout", $node, $token, 'oBob-8Hd1MeRV')
            for 1 .. 2;
    }
    my ($status, undef, $body) = WxAuthTest::http_request($main::Node{C}->port, 'POST /logout',
                                                          { 'X-WX-Session' => $token });
    Test::More::is($status, 200, "$name - the logout on C answers 200");
    Test::More::is($body, '{"logged_out":true}', "$name - the logout on C says logged_out");
    # at once: no sleep, no retry
    for my $node (qw(A B)) {
        main::refused_on("$name - after the logout on C", $node, $token) for 1 .. 2;
    }
    main::refused_on("$name - after the logout on C", 'C', $token);
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 3: wxauth_single_session on: a login on node B ends the session made on node A, on every node
--- init
main::wait_until_served($main::Probe);
--- request
POST /login-single
code=errcode0
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $first) = @_;
    main::served_on("$name - the session made on A", $_, $first, 'oCarol-2Nq5ZsKJ') for qw(A B C);
    my $second = main::login_on('B', 'errcode0', '/login-single');
    Test::More::ok(defined $second, "$name - the single-session login on B answers a token");
    Test::More::isnt($second, $first, "$name - another token");
    main::refused_on("$name - the session made on A, after the login on B", $_, $first)
        for qw(A B C);
    main::served_on("$name - the session made on B", $_, $second, 'oCarol-2Nq5ZsKJ')
        for qw(A B C);
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 4: the master is killed: sessions made on every node before (wxauth_login_replicas 1) are valid after the promotion, and every node answers within 2 s of it
--- init
{
    main::wait_until_served($main::Probe);

    # sessions of three users made on each node, each login answered only once
    # a replica acknowledged its writes (wxauth_login_replicas 1): nothing
    # else makes sure the replicas have them before the kill
    my %made;
    for my $node (qw(A B C)) {
        for my $code (qw(good nounion errcode0)) {
            my $token = main::login_on($node, $code, '/login-replicated');
            die "t/013: the login of $code on $node failed\n" unless $token;
            $made{"$code\@$node"} = [$token, $WxAuthTest::Identity{$code}{openid}];
        }
    }

    for my $node (qw(A B C)) {
        Test::More::is(scalar(grep { main::status_on($node, $_->[0]) eq '200' } values %made),
                       scalar(keys %made), "all 9 sessions are served on node $node before");
    }

    my $old = $main::Master;
    WxAuthStandIns::kill_redis($old);
    my $t_kill = Time::HiRes::time();

    # until a sentinel names another master: a request on every node every
    # 20 ms; the master is gone, so every answer is a (fast) 503
    my $probe = $made{'good@A'}[0];
    my ($new, $t_promoted, $n, %other) = (undef, undef, 0);
    while (Time::HiRes::time() - $t_kill < 15) {
        for my $node (qw(A B C)) {
            my $st = main::status_on($node, $probe, "/api/down/$n");
            $n++;
            $other{"$node:$st"}++ if $st ne '503';
        }
        for my $s (@main::Sentinels) {
            my $port = main::master_named_by($s);
            if (defined $port && $port != $old) {
                ($new, $t_promoted) = ($port, Time::HiRes::time());
                last;
            }
        }
        last if $new;
        Time::HiRes::sleep(0.02);
    }
    die "t/013: no replica was promoted within 15 s\n" unless $new;
    Test::More::ok((grep { $_ == $new } @main::Replicas),
                   "a replica was promoted (127.0.0.1:$new), "
                   . sprintf('%.1f s after the kill', $t_promoted - $t_kill));
    Test::More::is_deeply(\%other, {}, "only 503 until the promotion ($n requests)");

    # each node: recovered when 4 requests per worker in a row answer 200;
    # its window is from the promotion to the first of them; 503 or 200 only
    my $limit = $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 2;
    my (%window, %bad);
    my %pending = map { $_ => 1 } qw(A B C);
    my %streak;
    while (%pending && Time::HiRes::time() - $t_promoted < $limit + 1) {
        for my $node (sort keys %pending) {
            my $st = main::status_on($node, $probe, '/api/after');
            my $t = Time::HiRes::time();
            if ($st eq '200') {
                $streak{$node} //= $t;
                if (++$streak{"n$node"} >= 4 * $main::Workers) {
                    $window{$node} = $streak{$node} - $t_promoted;
                    delete $pending{$node};
                }
            } else {
                $bad{"$node:$st"}++ if $st ne '503';
                delete $streak{$node};
                $streak{"n$node"} = 0;
            }
        }
        Time::HiRes::sleep(0.01);
    }
    Test::More::is_deeply(\%bad, {}, 'only 503 or 200 after the promotion');
    for my $node (qw(A B C)) {
        Test::More::ok(defined $window{$node} && $window{$node} <= $limit,
                       "node $node answers 200 again "
                       . (defined $window{$node}
                          ? sprintf('%.0f ms after the promotion', $window{$node} * 1000)
                          : 'not at all')
                       . " (within $limit s)");
    }
    Test::More::diag(sprintf('t/013 failover: promotion %.2f s after the kill; nodes back '
                             . '%s after the promotion',
                             $t_promoted - $t_kill,
                             join(', ', map { sprintf('%s %s ms', $_,
                                 defined $window{$_} ? sprintf('%.0f', $window{$_} * 1000)
                                                     : 'never') } qw(A B C))));

    # the sessions made before the kill, on every node
    for my $node (qw(A B C)) {
        for my $made (sort keys %made) {
            my ($status, $body) = main::use_on($node, $made{$made}[0]);
            Test::More::ok($status eq '200' && $body =~ /openid=\[\Q$made{$made}[1]\E\]/,
                           "the session $made made before the kill is served on node $node "
                           . "after the promotion ($status)");
        }
    }
    ($main::NewMaster, $main::TPromoted) = ($new, $t_promoted);
}
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    my $stored = WxAuthStandIns::redis_at($main::NewMaster, 'GET',
                                          WxAuthTest::session_key($main::Prefix, $token));
    Test::More::ok(defined $stored, "$name - the login on A wrote to the new master");
    main::served_on("$name - the login on A after the failover", $_, $token, 'oAlice-6Yk2QfPZ')
        for qw(A B C);
    # every worker of every node follows once (+switch-master reaches a
    # subscription within the sentinels' hello period, 2 s)
    for my $node (qw(A B C)) {
        my ($t0, $count) = (Time::HiRes::time(), undef);
        while (Time::HiRes::time() - $t0 < 5) {
            $count = main::metric_of($node, 'wxauth_redis_failovers_total') // 0;
            last if $count >= $main::Workers;
            Time::HiRes::sleep(0.05);
        }
        Test::More::is($count, $main::Workers,
                       "$name - wxauth_redis_failovers_total of node $node is $main::Workers "
                       . '(one per worker)');
    }
    main::nodes_healthy($name);
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- timeout: 5
--- no_error_log
exited on signal
