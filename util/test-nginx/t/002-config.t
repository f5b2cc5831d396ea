# Self-test of util/test-nginx: config sections, $TEST_NGINX_* expansion,
# user_files, init, and the shape of the generated nginx.conf / servroot.

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
}

use Test::Nginx::Socket;

repeat_each(1);

# status + body per block; plus the 18 nginx.conf / server root checks below
plan tests => repeat_each() * (blocks() * 2) + 18;

$ENV{TEST_NGINX_GREETING} = 'hi-there';

env_to_nginx('RUNNER_ENV_A', 'RUNNER_ENV_B=1 2');

no_shuffle();
run_tests();

# The last block's configuration is still on disk: check its shape.
{
    my $conf = do {
        open my $in, '<', $Test::Nginx::Util::ConfFile or die $!;
        local $/;
        <$in>;
    };
    my $root = server_root();
    my $port = $ENV{TEST_NGINX_PORT};

    like($conf, qr/^worker_processes\s+1;$/m, 'conf: worker_processes 1');
    like($conf, qr/^daemon on;$/m, 'conf: daemon on');
    like($conf, qr/^master_process off;$/m, 'conf: master_process off');
    like($conf, qr/^error_log \Q$root\E\/logs\/error\.log debug;$/m,
         'conf: error_log at debug level in servroot/logs');
    like($conf, qr/^pid\s+\Q$root\E\/logs\/nginx\.pid;$/m,
         'conf: pid file in servroot/logs');
    like($conf, qr/^\s*worker_rlimit_nofile 1024;$/m, 'conf: main_config');
    like($conf, qr/^\s*env RUNNER_MAIN=hi-there;$/m,
         'conf: $TEST_NGINX_* expanded in main_config');
    like($conf, qr/^env RUNNER_ENV_A;$/m, 'conf: env_to_nginx name');
    like($conf, qr/^env 'RUNNER_ENV_B=1 2';$/m, 'conf: env_to_nginx quoted');
    like($conf, qr/^\s*listen\s+$port;$/m, 'conf: listen TEST_NGINX_PORT');
    like($conf, qr/^\s*worker_connections\s+64;$/m, 'conf: worker_connections');
    like($conf, qr/location \/ \{\s*root \Q$root\E\/html;/,
         'conf: default root location');
    like($conf, qr/^http \{.*^\s*server \{.*^events \{/ms,
         'conf: http { server { } } then events { }');
    SKIP: {
        skip 'not running as root', 1 if $> != 0;
        like($conf, qr/^user root;$/m, 'conf: "user root" when run as root');
    }
    ok(-d "$root/conf" && -d "$root/logs" && -d "$root/html",
       'servroot has conf, logs and html');
    ok(-f "$root/html/index.html", 'servroot has html/index.html');
    ok(-s "$root/logs/error.log", 'error.log written in servroot/logs');
    ok(-f "$root/logs/access.log", 'access.log written in servroot/logs');
}

__DATA__

=== TEST 1: http_config, with $TEST_NGINX_* expanded in config and http_config
--- http_config
    map $uri $from_http {
        default "http-$TEST_NGINX_GREETING";
    }
--- config
    location = /t {
        return 200 "$from_http|$TEST_NGINX_GREETING\n";
    }
--- request
GET /t
--- response_body
http-hi-there|hi-there



=== TEST 2: $TEST_NGINX_SERVER_PORT: proxy to ourselves
--- config
    location = /a {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/b;
    }
    location = /b {
        return 200 "from b\n";
    }
--- request
GET /a
--- response_body
from b



=== TEST 3: $TEST_NGINX_RAND_PORT_N gives a free port
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "rand\n";
        }
    }
--- config
    location = /r {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request
GET /r
--- response_body
rand



=== TEST 4: user_files are written into the html dir
--- user_files
>>> foo.txt
hello user file
>>> sub/bar.txt
bar
--- config
--- request
GET /sub/bar.txt
--- response_body
bar



=== TEST 5: init runs before the requests
--- config
--- init
open my $fh, '>', html_dir() . '/init.txt' or die $!;
print $fh "from init\n";
close $fh;
--- request
GET /init.txt
--- response_body
from init



=== TEST 6: server_name section
--- server_name: runner.test
--- config
    location = /sn {
        return 200 "$server_name\n";
    }
--- request
GET /sn
--- response_body
runner.test



=== TEST 7: main_config (checked in nginx.conf after run_tests)
--- main_config
    worker_rlimit_nofile 1024;
    env RUNNER_MAIN=$TEST_NGINX_GREETING;
--- config
    location = /t {
        return 200 "main\n";
    }
--- request
GET /t
--- response_body
main
