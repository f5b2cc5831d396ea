# Self-test of util/test-nginx: TEST_NGINX_LOAD_MODULES puts load_module
# lines into the main part of nginx.conf (here a module that does not exist,
# so nginx must refuse to start).

BEGIN {
    use FindBin;
    $ENV{TEST_NGINX_PORT}     ||= 19841;
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
    $ENV{TEST_NGINX_LOAD_MODULES} =
        '/nonexistent/ngx_runner_fake_a.so /nonexistent/ngx_runner_fake_b.so';
}

use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * blocks() + 1;

run_tests();

{
    open my $in, '<', $Test::Nginx::Util::ConfFile or die $!;
    my $conf = do { local $/; <$in> };
    like($conf,
         qr/^load_module \/nonexistent\/ngx_runner_fake_a\.so;\s*load_module \/nonexistent\/ngx_runner_fake_b\.so;\s*^http \{/m,
         'conf: load_module lines before http {}');
}

__DATA__

=== TEST 1: nginx cannot load the module
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
    GET /t
--- must_die
