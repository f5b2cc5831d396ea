# Self-test of util/test-nginx: workers(), master_on(), log_level().

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(2);
workers(2);
master_on();
log_level('warn');

plan tests => repeat_each() * (blocks() * 3) + 3;

no_shuffle();
run_tests();

{
    open my $in, '<', $Test::Nginx::Util::ConfFile or die $!;
    my $conf = do { local $/; <$in> };
    like($conf, qr/^worker_processes\s+2;$/m, 'conf: worker_processes 2');
    like($conf, qr/^master_process on;$/m, 'conf: master_process on');
    like($conf, qr/^error_log \S+ warn;$/m, 'conf: error_log level warn');
}

__DATA__

=== TEST 1: served by a worker
--- config
    location = /t {
        return 200 "pid ok\n";
    }
--- request
GET /t
--- response_body
pid ok
--- no_error_log
[debug]



=== TEST 2: again
--- config
    location = /t2 {
        return 200 "ok\n";
    }
--- request
GET /t2
--- response_body
ok
--- no_error_log
[debug]
