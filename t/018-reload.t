# vi:filetype=perl
#
# nginx reloads (SIGHUP to the master, what `nginx -s reload` and
# `systemctl reload nginx` do) with the module at work: a master and two
# workers, the session cache, the metrics location. After a reload the
# sessions stay valid, the counters go on from where they were (the metrics
# zone survives reloads), the new workers cache and hear invalidations again,
# a secret file is read again; the old workers finish what they were waiting
# for (a check on a Redis that hangs answers 503 in time) and exit.
#
#   TEST_NGINX_HUNG_PORT       a server of nginx whose Redis never answers
#   TEST_NGINX_BLACKHOLE_PORT  that Redis: the kernel accepts, nobody answers

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_HUNG_PORT}      = WxAuthTest::free_port();
$ENV{TEST_NGINX_BLACKHOLE_PORT} = WxAuthTest::blackhole();

master_on();
workers(2);

our $Prefix = 'wxt018:';
our $Alice  = 'oAlice-6Yk2QfPZ';

# the secret file of /login/file: a wrong secret until TEST 3 writes the right one
our $SecretDir = File::Temp::tempdir('wxauth-t018-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $SecretFile = "$SecretDir/secret";
sub write_secret {
    open my $out, '>', $SecretFile or die "t/018: $SecretFile: $!\n";
    print $out shift, "\n";
    close $out;
}
write_secret('wrongSecret0123456789abcdefABCDEF');

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";
    wxauth_session_cache zone=wxreload:1m;

    # a Redis that never answers, in a server of its own
    server {
        listen 127.0.0.1:\$TEST_NGINX_HUNG_PORT;
        wxauth_redis 127.0.0.1:\$TEST_NGINX_BLACKHOLE_PORT;
        wxauth_redis_timeout 1500ms;
        location /api/ {
            wxauth on;
            proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
        }
    }

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location = /login {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /login/file {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret_file $SecretFile;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

    location = /logout {
        wxauth_logout;
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

sub port { server_port_for_client() }

sub get {
    my ($path, $token) = @_;
    my ($st, undef, $body) = WxAuthTest::http_request(port(), "GET $path",
                                                      $token ? { 'X-WX-Session' => $token } : {});
    return wantarray ? ($st, $body) : $st;
}

sub login {
    my ($path) = @_;
    my ($st, undef, $body) = WxAuthTest::http_request(port(), "POST " . ($path || '/login'),
        { 'Content-Type' => 'application/json' }, '{"code":"good"}');
    my ($token) = WxAuthTest::login_answer($body);
    return wantarray ? ($st, $token, $body) : $token;
}

sub metric {
    my ($series) = @_;
    my $body = (get('/metrics'))[1] // '';
    return $body =~ /^\Q$series\E (\d+)$/m ? $1 + 0 : undef;
}

# SIGHUP to the master; waits until it runs two workers none of which is one of
# the old ones, and until every old worker has exited: the seconds that took.
sub reload {
    my ($within) = @_;
    my $pidfile = $Test::Nginx::Util::PidFile;
    my @old = WxAuthTest::nginx_worker_pids($pidfile);
    open my $in, '<', $pidfile or die "t/018: $pidfile: $!\n";
    chomp(my $master = <$in>);
    close $in;
    my $t0 = Time::HiRes::time();
    kill 'HUP', $master or die "t/018: cannot signal the master $master: $!\n";
    while (1) {
        my %now = map { $_ => 1 } WxAuthTest::nginx_worker_pids($pidfile);
        my $old_alive = grep { kill 0, $_ } @old;
        my $new = grep { my $p = $_; !grep { $_ == $p } @old } keys %now;
        return Time::HiRes::time() - $t0 if !$old_alive && $new == 2 && keys %now == 2;
        return undef if Time::HiRes::time() - $t0 > ($within || 10);
        Time::HiRes::sleep(0.05);
    }
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a reload: sessions stay valid, counters go on, the new workers cache and hear a logout
--- init
{
    my $token = main::login();
    Test::More::ok($token, 'a login before the reload');
    Test::More::is(main::get('/api/a', $token), 200, "check $_ before the reload") for 1 .. 4;
    my $logins = main::metric('wxauth_logins_total{outcome="ok"}');
    my $checks = main::metric('wxauth_session_checks_total{outcome="ok"}');
    Test::More::ok($logins && $checks, "counted before the reload ($logins logins, $checks checks)");

    my $took = main::reload(10);
    Test::More::ok(defined $took, 'the old workers exit and two new ones run '
                   . (defined $took ? sprintf('(%.2f s after the SIGHUP)', $took) : '(not within 10 s)'));

    Test::More::is(main::metric('wxauth_logins_total{outcome="ok"}'), $logins,
                   'the login counter survived the reload');
    my $hits = main::metric('wxauth_session_cache_hits_total') // 0;
    Test::More::is(main::get('/api/b', $token), 200, "check $_ after the reload") for 1 .. 10;
    Test::More::is(main::metric('wxauth_session_checks_total{outcome="ok"}'), $checks + 10,
                   'the check counter went on from where it was');
    Test::More::cmp_ok(main::metric('wxauth_session_cache_hits_total') // 0, '>', $hits,
                       'the new workers answer from the cache');

    my ($st) = WxAuthTest::http_request(main::port(), 'POST /logout', { 'X-WX-Session' => $token });
    Test::More::is($st, 200, 'a logout after the reload');
    my @after = map { scalar main::get('/api/c', $token) } 1 .. 6;
    Test::More::is("@after", '401 401 401 401 401 401',
                   'no worker serves the logged-out session from its cache');

    my ($st2, $token2) = main::login();
    Test::More::ok($st2 == 200 && $token2, 'a login after the reload');
    $main::Token = $token2;
}
--- request
GET /api/x
--- error_code: 401
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$



=== TEST 2: a reload while a check waits for a Redis that hangs: the old worker answers it 503 in time, then exits
--- init
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ENV{TEST_NGINX_HUNG_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "t/018: cannot connect to the hung server: $!\n";
    my $token = WxAuthTest::token('t018-hung');
    $s->print("GET /api/wait HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
              . "X-WX-Session: $token\r\n\r\n");
    Time::HiRes::sleep(0.2);       # the lookup waits for Redis now
    my $t0 = Time::HiRes::time();
    my $took = main::reload(10);
    my $answer = '';
    if (IO::Select->new($s)->can_read(5)) {
        while (sysread($s, my $buf, 4096)) { $answer .= $buf }
    }
    close $s;
    Test::More::like($answer, qr{^HTTP/1\.1 503 .*"error":"store_unavailable"}s,
                     'the waiting check is answered 503 store_unavailable by the old worker');
    Test::More::ok(defined $took, 'the old workers exit once it is answered '
                   . (defined $took ? sprintf('(%.2f s after the SIGHUP)', $took) : '(not within 10 s)'));
}
--- request
GET /api/x
--- error_code: 401
--- error_log
did not answer in time



=== TEST 3: wxauth_secret_file is read again on reload
--- init
{
    my ($st, undef, $body) = main::login('/login/file');
    Test::More::like("$st $body", qr/^502 \{"error":"wechat_unavailable"/,
                     'with the wrong secret in the file: 502 wechat_unavailable');
    main::write_secret('fileSecret7Gq2Lm9Xc4Vb8Nz1Kd6Rt');
    Test::More::ok(defined main::reload(10), 'reloaded');
}
--- request
POST /login/file
{"code":"good"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log
WeChat refused appid
--- no_error_log
wrongSecret0123456789abcdefABCDEF
fileSecret7Gq2Lm9Xc4Vb8Nz1Kd6Rt
