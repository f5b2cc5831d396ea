package WxAuthTest;

# Helpers shared by the Test::Nginx::Socket suites in t/: free ports, a TCP
# "blackhole" (a listener nobody accepts on), a minimal Redis client (RESP
# over IO::Socket::INET) to seed and inspect sessions, a minimal HTTP client,
# and a way to see what nginx prints on stderr for a configuration it refuses.
#
# Plain Perl, core modules only, so that the suites run unchanged under the
# real OpenResty Test::Nginx as well as under util/test-nginx.

use strict;
use warnings;

use IO::Socket::INET ();
use Digest::SHA ();
use File::Temp ();
use JSON::PP ();
use Time::HiRes ();

our $RedisHost = '127.0.0.1';
our $RedisPort = $ENV{TEST_NGINX_REDIS_PORT} || 6379;
our $Timeout   = 3;

# The session_key WeChat's documentation uses in its examples: base64 of 16 bytes.
our $SessionKey = 'HyVFkGl5F5OQWJZZaNzBBg==';

# WeChat's published vectors: the signature example (rawData, signed with
# $SessionKey) and the decryption demo (appid wx4f4bc4dec97d474b).
our $RawData    = '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}';
our $Signature  = '75e81ceda165f4ffa64f4068af58c64b8f54b88c';
our $DemoAppId  = 'wx4f4bc4dec97d474b';
our $DemoOpenId = 'oGZUI0egBJY1zhBYw2KhdUfwVJJE';
our $DemoKey    = 'tiihtNczf5v6AKRyjwEUhQ==';
our $DemoIv     = 'r7BXXKkLb8qrSNn05n0qiA==';
our $DemoData   = 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==';

# The mini-program the suites log in to, and its AppSecret: a value that must
# never show up in an error log.
our $AppId  = 'wx51a4cc1e0a5e0001';
our $Secret = 'k9QeR7xLmA3sT0vWb5yZ2cF8hJ1nPd4u';

# A second mini-program of the same company (suites about several apps), with
# its own AppSecret; the stand-in accepts it as well.
our $AppId2  = 'wx51a4cc1e0a5e0002';
our $Secret2 = 'Zr4Tq8Wm2Xv6Bn0Kc3Lp7Hs1Dg5Jf9Ya';

# What the WeChat stand-in answers for each js_code (nginx's $arg_js_code, that
# is the code as it travels in the query string, still percent-encoded).
# Successful logins also appear in %Identity, by the code the client sent.
our %Identity = (
    'good'       => { openid => 'oAlice-6Yk2QfPZ', unionid => 'uAlice-Lr0Wx3Tn' },
    'nounion'    => { openid => 'oBob-8Hd1MeRV' },
    'errcode0'   => { openid => 'oCarol-2Nq5ZsKJ' },
    'a&secret=x' => { openid => 'oMallory-0Jb7Ww' },
);

my @Keep;   # sockets that must live as long as the test process

# Two servers for the http {} block of a suite, on ports the suite exports as
# TEST_NGINX_WECHAT_PORT and TEST_NGINX_UPSTREAM_PORT:
#
# - the WeChat stand-in: GET /sns/jscode2session answers canned JSON, labelled
#   text/plain as WeChat does (/json/sns/jscode2session: application/json;
#   /chunked/sns/jscode2session: chunked when asked in HTTP/1.1).
#   It only gives a session to a clean GET that carries the right appid,
#   secret and grant_type, and none of the login client's headers: anything
#   else gets errcode 40125 (which the module maps to 502). It stands for a
#   remote host, so it has an error log of its own, never at debug level.
# - the upstream: echoes what reached it, the identity headers in brackets.
our $Servers = <<"_EOC_";
    # ---- WeChat stand-in (plays https://api.weixin.qq.com) ----
    map_hash_bucket_size 256;   # must come before any map of the http {} block

    map "\$request_method|\$http_cookie|\$http_content_type|\$http_content_length|\$http_x_wx_session|\$arg_appid|\$arg_secret|\$arg_grant_type" \$wx_caller_ok {
        default 0;
        "GET|||||$AppId|$Secret|authorization_code" 1;
        "GET|||||$AppId2|$Secret2|authorization_code" 1;
        "GET|||||$AppId|Pa55%2Bw%2Frd%26x%3Dy%20z|authorization_code" 1;
        "GET|||||$AppId|fileSecret7Gq2Lm9Xc4Vb8Nz1Kd6Rt|authorization_code" 1;
    }

    map \$arg_js_code \$wx_answer {
        default     '{"errcode":40029,"errmsg":"invalid code, rid: 6560b0c2-1"}';
        good        '{"session_key":"$SessionKey","openid":"oAlice-6Yk2QfPZ","unionid":"uAlice-Lr0Wx3Tn"}';
        nounion     '{"openid":"oBob-8Hd1MeRV","session_key":"$SessionKey"}';
        errcode0    '{"errcode":0,"errmsg":"ok","openid":"oCarol-2Nq5ZsKJ","session_key":"$SessionKey","expires_in":7200,"extra":{"a":[1,2,3]}}';
        a%26secret%3Dx '{"openid":"oMallory-0Jb7Ww","session_key":"$SessionKey"}';
        used        '{"errcode":40163,"errmsg":"code been used, rid: 6560b0c2-2"}';
        strcode     '{"errcode":"40029","errmsg":"invalid code, rid: 6560b0c2-3"}';
        blocked     '{"errcode":40226,"errmsg":"invalid scope, rid: 6560b0c2-4"}';
        limited     '{"errcode":45011,"errmsg":"api minute-quota reach limit, rid: 6560b0c2-5"}';
        busy        '{"errcode":-1,"errmsg":"system error, rid: 6560b0c2-6"}';
        badappid    '{"errcode":40013,"errmsg":"invalid appid, rid: 6560b0c2-7"}';
        unknownerr  '{"errcode":61234,"errmsg":"something new, rid: 6560b0c2-8"}';
        noopenid    '{"session_key":"$SessionKey"}';
        nokey       '{"openid":"oDave-1Xy7UoPw"}';
        shortkey    '{"openid":"oDave-1Xy7UoPw","session_key":"c2hvcnQ="}';
        garbage     'this is not json';
        trailing    '{"openid":"oDave-1Xy7UoPw","session_key":"$SessionKey"} and more';
        emptybody   '';
    }

    server {
        listen 127.0.0.1:\$TEST_NGINX_WECHAT_PORT;
        error_log logs/wechat.log;
        access_log off;
        default_type text/plain;

        location = /sns/jscode2session {
            if (\$wx_caller_ok = 0) {
                return 200 '{"errcode":40125,"errmsg":"invalid appsecret, rid: 6560b0c2-0"}';
            }
            if (\$arg_js_code = http500) {
                return 500 '{"errcode":-1,"errmsg":"system error"}';
            }
            if (\$arg_js_code = http404) {
                return 404 'not found';
            }
            return 200 \$wx_answer;
        }

        # the same answers, chunked to HTTP/1.1 clients (sub_filter drops the length)
        location = /chunked/sns/jscode2session {
            sub_filter_types *;
            sub_filter '"session_key"' '"session_key"';
            if (\$wx_caller_ok = 0) {
                return 200 '{"errcode":40125,"errmsg":"invalid appsecret, rid: 6560b0c2-0"}';
            }
            return 200 \$wx_answer;
        }

        # an answer of about 6 KB (see setup_ports): valid, but larger than
        # nginx's default subrequest_output_buffer_size (one memory page)
        location = /big/sns/jscode2session {
            alias \$TEST_NGINX_BIG_ANSWER;
        }

        location = /json/sns/jscode2session {
            default_type application/json;
            if (\$wx_caller_ok = 0) {
                return 200 '{"errcode":40125,"errmsg":"invalid appsecret, rid: 6560b0c2-0"}';
            }
            return 200 \$wx_answer;
        }
    }

    # ---- the upstream the module protects ----
    server {
        listen 127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
        access_log off;
        default_type text/plain;

        location / {
            return 200 "upstream \$request_method \$request_uri openid=[\$http_x_wx_openid] unionid=[\$http_x_wx_unionid] appid=[\$http_x_wx_appid] session=[\$http_x_wx_session]\\n";
        }
    }
_EOC_

# For add_block_preprocessor: gives a block the suite's http_config and config
# unless it has its own, and adds patterns every block checks are absent from
# the error log (the AppSecret, [alert], [crit], [emerg]) to its no_error_log.
#   add_block_preprocessor(sub { WxAuthTest::block_defaults(shift,
#       http_config => $HttpConfig, config => $Config) });
# Options: http_config, config, main_config (defaults), http_config_append
# (added to every block's http_config), no_error_log (more patterns).
sub block_defaults {
    my ($block, %o) = @_;

    for my $section (qw(http_config config main_config)) {
        next unless defined $o{$section};
        $block->set_value($section, $o{$section}) unless defined $block->$section;
    }

    # text every block's http {} gets, after its own (or the default) http_config
    if (defined $o{http_config_append}) {
        my $h = $block->http_config;
        $block->set_value('http_config', (defined $h ? $h : '') . "\n" . $o{http_config_append});
    }

    return if defined $block->must_die;

    my @always = ('[alert]', '[crit]', '[emerg]', $Secret, @{ $o{no_error_log} || [] });
    my $pats = $block->no_error_log;
    if (!defined $pats) {
        $block->set_value('no_error_log', join("\n", @always) . "\n");
    } elsif (ref $pats eq 'ARRAY') {
        $block->set_value('no_error_log', [@$pats, @always]);
    } elsif (ref $pats) {
        $block->set_value('no_error_log', [$pats, @always]);
    } else {
        chomp $pats;
        $block->set_value('no_error_log', join("\n", $pats, @always) . "\n");
    }
}

# The session token and expires_in of a login answer
# ({"session":"<43 base64url characters>","expires_in":N}); () for any other body.
sub login_answer {
    my ($body) = @_;
    return () unless defined $body;
    return $body =~ /^\{"session":"([A-Za-z0-9_-]{43})","expires_in":(\d+)\}$/;
}

# The response-body check of the suites: checks beyond the response, through
# "eval" sections of a block holding a sub:
# - --- check_after: called after each response with (name, body, request index);
# - --- follow_up: called after each login answer with (name, token, request
#   index), to go on from there with requests of its own.
# Options, for checks a suite makes on every block:
# - on_response => sub { my ($block, $body, $req_idx) = @_; ... }, after check_after;
# - on_login => sub { my ($block, $token, $expires_in, $req_idx) = @_; ... }, for
#   each login answer, before follow_up.
#   WxAuthTest::add_checks(on_login => sub { ... });
sub add_checks {
    my (%o) = @_;
    main::add_response_body_check(sub {
        my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
        return if $dry_run;
        my $name = $block->name;
        if (my $check = $block->check_after) {
            $check->($name, $body, $req_idx);
        }
        $o{on_response}->($block, $body, $req_idx) if $o{on_response};
        my ($token, $expires_in) = login_answer($body) or return;
        $o{on_login}->($block, $token, $expires_in, $req_idx) if $o{on_login};
        if (my $follow_up = $block->follow_up) {
            $follow_up->($name, $token, $req_idx);
        }
    });
}

# Exports the ports the servers above listen on (unless already set).
# Also writes the stand-in's big answer (TEST_NGINX_BIG_ANSWER).
sub setup_ports {
    $ENV{TEST_NGINX_WECHAT_PORT}   ||= free_port();
    $ENV{TEST_NGINX_UPSTREAM_PORT} ||= free_port();

    if (!$ENV{TEST_NGINX_BIG_ANSWER}) {
        my $dir = File::Temp::tempdir('wxauth-big-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        open my $out, '>', "$dir/answer.json" or die "WxAuthTest: $dir/answer.json: $!\n";
        print $out '{"openid":"oAlice-6Yk2QfPZ","session_key":"' . $SessionKey
                   . '","unionid":"uAlice-Lr0Wx3Tn","pad":"' . ('x' x 6000) . '"}';
        close $out;
        $ENV{TEST_NGINX_BIG_ANSWER} = "$dir/answer.json";
    }
}

#---------------------------------------------------------------------------
# Ports

# A loopback TCP port nobody listens on right now (the kernel picks it).
# Never the same port twice in one test process (nor nginx's own port): the kernel may
# hand out a port it handed out a moment ago, once that socket is closed.
my %GivenPorts;

sub free_port {
    $GivenPorts{$ENV{TEST_NGINX_PORT}} = 1 if $ENV{TEST_NGINX_PORT};
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
            or die "WxAuthTest: no free port: $!\n";
        my $port = $s->sockport;
        close $s;
        next if $GivenPorts{$port}++;
        return $port;
    }
    die "WxAuthTest: no free port that was not given out already\n";
}

# A port where the kernel completes TCP handshakes but nobody ever accepts,
# reads or answers: a peer that hangs. The socket lives until the test ends.
sub blackhole {
    my $s = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "WxAuthTest: cannot create the blackhole listener: $!\n";
    push @Keep, $s;
    return $s->sockport;
}

#---------------------------------------------------------------------------
# Tokens and keys

# A well-formed session token (43 base64url characters) derived from a name,
# so that a suite can refer to the same token in its data and its Perl code.
sub token {
    my $name = shift;
    my $t = Digest::SHA::sha256_base64("wxauth-test:$name");
    $t =~ tr{+/}{-_};
    return $t;
}

# The Redis key of a session: <prefix>s:<sha256 hex of the token>.
sub session_key {
    my ($prefix, $token) = @_;
    return $prefix . 's:' . Digest::SHA::sha256_hex($token);
}

#---------------------------------------------------------------------------
# Redis (RESP2)

sub _read_reply {
    my $sock = shift;
    my $line = $sock->getline;
    die "WxAuthTest: redis closed the connection\n" unless defined $line;
    $line =~ s/\r\n\z//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $type eq '+';
    return { error => $rest } if $type eq '-';
    return $rest + 0 if $type eq ':';

    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length $buf < $rest + 2) {
            my $n = $sock->read($buf, $rest + 2 - length $buf, length $buf);
            die "WxAuthTest: short read from redis\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }

    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { _read_reply($sock) } 1 .. $rest ];
    }

    die "WxAuthTest: unexpected reply from redis: $line\n";
}

sub _encode_command {
    my @args = @_;
    my $out = '*' . scalar(@args) . "\r\n";
    for my $a (@args) {
        $a = '' unless defined $a;
        $out .= '$' . length($a) . "\r\n" . $a . "\r\n";
    }
    return $out;
}

# redis(\%opts?, CMD, ARGS...): runs one command on a fresh connection and
# returns its reply: a string, a number, undef (nil), an array ref, or
# { error => "..." } for an error reply. Options: db => N (SELECT first).
sub redis {
    my $opts = ref $_[0] eq 'HASH' ? shift : {};
    my $sock = IO::Socket::INET->new(PeerAddr => $RedisHost, PeerPort => $RedisPort,
                                     Proto => 'tcp', Timeout => $Timeout)
        or die "WxAuthTest: cannot connect to redis on $RedisHost:$RedisPort: $!\n";

    my $db = $opts->{db} || 0;
    if ($db) {
        $sock->print(_encode_command('SELECT', $db));
        my $r = _read_reply($sock);
        die "WxAuthTest: SELECT $db failed: $r->{error}\n" if ref $r eq 'HASH';
    }

    $sock->print(_encode_command(@_));
    my $reply = _read_reply($sock);
    close $sock;
    return $reply;
}

# Stores a session record the way the module does (JSON, with a TTL).
#   seed_session(prefix => 'p:', token => T, openid => O, unionid => U?,
#                appid => A, ttl => seconds, db => N?, raw => STRING?,
#                fields => { ttl => N, rn => 1, mx => T, ... }?)
# `ttl` is the Redis expiry; `fields` are added to (or replace) record fields,
# e.g. the record's own "ttl", "rn" (renewal) and "mx" (absolute end of life).
sub seed_session {
    my %o = @_;
    my $value = defined $o{raw} ? $o{raw} : session_record(%o);
    my $key = session_key($o{prefix}, $o{token});
    my $r = redis({ db => $o{db} }, 'SET', $key, $value, 'EX', $o{ttl} || 3600);
    die "WxAuthTest: seeding $key failed\n" unless defined $r && !ref $r && $r eq 'OK';
    return $key;
}

# The JSON value a session record has in Redis, as seed_session stores it (for
# a stand-in Redis that serves records itself).
#   session_record(openid => O, unionid => U?, appid => A, fields => {...}?)
sub session_record {
    my %o = @_;
    my %rec = (v => 1, openid => $o{openid}, session_key => $o{session_key} || $SessionKey,
               appid => $o{appid}, iat => time);
    $rec{unionid} = $o{unionid} if defined $o{unionid};
    %rec = (%rec, %{ $o{fields} }) if $o{fields};
    return JSON::PP->new->canonical->encode(\%rec);
}

# The Redis key of the newest session_key of one user of one app:
# <prefix>k:<appid>:<openid>.
sub latest_key {
    my ($prefix, $appid, $openid) = @_;
    return "${prefix}k:$appid:$openid";
}

# The Redis key of the set of session keys of one user of one app (single
# session policy): <prefix>u:<appid>:<openid>.
sub user_sessions_key {
    my ($prefix, $appid, $openid) = @_;
    return "${prefix}u:$appid:$openid";
}

# The stored record of a token: (decoded JSON or undef, TTL in seconds, raw value).
sub stored_session {
    my ($prefix, $token, $db) = @_;
    my $key = session_key($prefix, $token);
    my $raw = redis({ db => $db }, 'GET', $key);
    my $ttl = redis({ db => $db }, 'TTL', $key);
    my $rec;
    if (defined $raw && !ref $raw) {
        $rec = eval { JSON::PP->new->decode($raw) };
    }
    return ($rec, $ttl, $raw);
}

# How many clients of this Redis have `db` selected (nginx workers of a suite
# that uses a database of its own), waiting up to `wait` seconds for `want`.
sub clients_on_db {
    my %o = @_;
    my $deadline = Time::HiRes::time() + ($o{wait} || 0);
    my $n;
    while (1) {
        my $list = redis('CLIENT', 'LIST');
        $n = () = $list =~ /(?:^|\s)db=\Q$o{db}\E(?:\s|$)/mg;
        last if !defined $o{want} || $n == $o{want} || Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep(0.05);
    }
    return $n;
}

# How many processes of the running nginx serve requests: the children of the
# process in the pid file (its workers), or 1 when it runs without a master.
sub nginx_workers {
    my $pidfile = shift;
    return scalar(my @pids = nginx_worker_pids($pidfile));
}

# The pids of the processes of the running nginx that serve requests: the
# children of the process in the pid file (its workers), or that process
# itself when it runs without a master.
sub nginx_worker_pids {
    my $pidfile = shift;
    open my $in, '<', $pidfile or die "WxAuthTest: $pidfile: $!\n";
    my $pid = <$in>;
    close $in;
    chomp $pid;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        close $fh;
        next unless defined $line && $line =~ /^(\d+) .*\)\s+\S+\s+(\d+)/;
        push @pids, $1 if $2 == $pid;
    }
    return @pids ? @pids : ($pid);
}

#---------------------------------------------------------------------------
# HTTP

# http_request(port, "GET /path", { header => value }, body?) -> (status, \%headers, body)
# One request on a fresh connection (Connection: close).
sub http_request {
    my ($port, $line, $headers, $body) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => $Timeout)
        or die "WxAuthTest: cannot connect to 127.0.0.1:$port: $!\n";
    my $req = "$line HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    for my $k (sort keys %{ $headers || {} }) {
        $req .= "$k: $headers->{$k}\r\n";
    }
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    $req .= "\r\n" . (defined $body ? $body : '');
    $sock->print($req);

    my $resp = '';
    local $SIG{ALRM} = sub { die "WxAuthTest: http request timed out\n" };
    alarm $Timeout;
    while (1) {
        my $n = $sock->sysread(my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    alarm 0;
    close $sock;

    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    $head = '' unless defined $head;    # no answer: status undef
    my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})};
    my %h;
    for my $l (split /\r\n/, $head) {
        $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*)$/;
    }
    return ($status, \%h, $content);
}

# Sends a raw request (text with \n line ends, no Connection header needed)
# and goes away `after` seconds later without reading the answer: a client
# that gives up while nginx is still waiting for Redis or WeChat.
sub abandon_request {
    my ($port, $raw, $after) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => $Timeout)
        or die "WxAuthTest: cannot connect to 127.0.0.1:$port: $!\n";
    my ($head, $body) = split /\n\n/, $raw, 2;
    $head =~ s/\n/\r\n/g;
    $head .= "\r\nContent-Length: " . length($body) if defined $body && length $body;
    $sock->print($head . "\r\n\r\n" . (defined $body ? $body : ''));
    Time::HiRes::sleep($after || 0.1);
    close $sock;
}

#---------------------------------------------------------------------------
# Configurations nginx refuses

# nginx writes what it finds wrong in a configuration while it reads it, before
# any error_log of that configuration is open: Debian's nginx (built with
# --error-log-path=stderr) prints it on stderr only, where no Test::Nginx
# section looks. This runs `nginx -t` on the same http {} and server {} text a
# block gives and returns (exit status, everything nginx printed).
sub nginx_config_test {
    my ($http_config, $config) = @_;
    my $dir = File::Temp::tempdir('wxauth-conf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/logs";
    my $port = free_port();

    my $text = '';
    for my $m (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '') {
        $text .= "load_module $m;\n";
    }
    $text .= "error_log $dir/logs/error.log;\npid $dir/logs/nginx.pid;\n"
           . "events { worker_connections 64; }\n"
           . "http {\n    access_log off;\n" . ($http_config || '')
           . "\n    server {\n        listen 127.0.0.1:$port;\n" . ($config || '')
           . "\n    }\n}\n";
    $text =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/
        defined $ENV{$1} ? $ENV{$1} : die "WxAuthTest: \$$1 is not set\n"/ge;

    open my $out, '>', "$dir/nginx.conf" or die "WxAuthTest: $dir/nginx.conf: $!\n";
    print $out $text;
    close $out;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $output = `$bin -t -p $dir/ -c $dir/nginx.conf 2>&1`;
    return ($? >> 8, $output);
}

1;
