package Test::Nginx::Socket;

# Fallback implementation of Test::Nginx::Socket.
#
# Independently written (no code taken from OpenResty's Test::Nginx); it
# follows that module's documented behaviour for the sections listed in
# util/test-nginx/README.md so that the data-driven suites under t/ run
# unchanged here and under the real module.  It is only meant to be used
# (via PERL5LIB=util/test-nginx/lib) where the real Test::Nginx is missing.

use strict;
use warnings;

# Like the real module this class is a Test::Base subclass: the test file's
# __DATA__ is parsed by Test::Base (blocks(), filters such as chomp/eval,
# ONLY/SKIP/LAST), and Test::Base/Test::More functions are re-exported.
use Test::Base -base;

our $VERSION = '0.30';
our $IS_FALLBACK = 1;

use POSIX qw(EAGAIN EWOULDBLOCK EINTR);
use Encode ();
use Time::HiRes qw(sleep time);
use Test::LongString ();
use List::Util qw(min);
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use Socket qw(SOCK_STREAM SOCK_DGRAM);
use File::Temp ();
use Digest::MD5 ();
use Digest::SHA ();
use HTTP::Response ();

use Test::Nginx::Util;

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections
    master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check
);

$Test::Nginx::Util::RunTestHelper = \&run_test_helper;
$Test::Nginx::Util::CheckErrorLog = \&check_error_log;

our @ResponseBodyChecks;

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

sub set_http_config_filter ($) {
    $Test::Nginx::Util::FilterHttpConfig = shift;
}

sub run_test ($) {
    Test::Nginx::Util::run_test(shift);
}

# A failure that the plan did not account for: keep Test::Builder from
# adding its own "planned N but ran M" noise on top (the TAP still fails).
sub _unplanned_fail ($) {
    Test::More->builder->no_ending(1);
    Test::More::fail(shift);
}

#---------------------------------------------------------------------------
# Building requests

sub _parse_more_headers {
    my $text = shift;
    my $out = '';
    my $chunked;
    for my $line (split /\n+/, $text) {
        next if $line eq '' || $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v = '' unless defined $v;
        $chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Turns the user's request text (possibly split into several packets) into
# a complete HTTP request:
#   "METHOD [URI [VERSION]]" first line (URI defaults to "/", version to
#   HTTP/1.1), then Host (unless given), Connection (unless given), the
#   "--- more_headers", Content-Length (computed from the trimmed body when
#   there is a body, it is not chunked and no Content-Length was given),
#   an empty line and the body.
# Packet boundaries of the input are preserved in the output.
sub _build_request {
    my ($name, $more, $chunked, $conn, $packets) = @_;

    my @vals  = map { ref $_ ? $_->{value} : $_ } @$packets;
    my $whole = join '', map { defined $_ ? $_ : '' } @vals;

    my ($first, $body) = $whole =~ /\A([^\n]*\n?)(.*)\z/s;
    if (!defined $first || $first eq '') {
        bail_out("$name - Request line should be non-empty");
    }

    my ($meth, $uri, $ver);
    if ($first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/) {
        ($meth, $uri, $ver) = ($1, $2, $3);
    } else {
        bail_out("$name - Request line is not valid. Should be "
                 . "'meth [url [version]]' but got \"$first\".");
    }
    $uri = '/'        unless defined $uri;
    $ver = 'HTTP/1.1' unless defined $ver;

    my $orig_body_len = length $body;
    my $lead_trimmed  = 0;
    my $len_header    = '';
    if (!$chunked && $body ne '' && $more !~ /(?:^|\n)Content-Length:/) {
        if ($body =~ /^(\s+)/) {
            $lead_trimmed = length $1;
        }
        $body =~ s/^\s+//;
        $body =~ s/\s+$//;
        $len_header = "Content-Length: " . length($body) . "\r\n";
    }

    $more =~ s/(?<!\r)\n/\r\n/g;

    my $headers = '';
    $headers .= "Host: $ServerName\r\n"
        if $more !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n"
        if $more !~ /(?:^|\n)Connection/i;
    $headers .= "$more$len_header\r\n";

    my $head = "$meth $uri $ver\r\n$headers";
    my $out  = $head . $body;

    # map the original packet boundaries onto the rewritten request
    my @cuts;
    my $pos = 0;
    for my $i (0 .. $#vals - 1) {
        $pos += length(defined $vals[$i] ? $vals[$i] : '');
        my $new;
        if ($pos >= length $first) {
            my $in_body = $pos - length($first) - $lead_trimmed;
            $in_body = 0 if $in_body < 0;
            $in_body = length $body if $in_body > length $body;
            $new = length($head) + $in_body;
        } else {
            my $rl = length("$meth $uri $ver\r\n");
            $new = $pos < $rl ? $pos : $rl;
        }
        push @cuts, $new;
    }

    my @result;
    my $start = 0;
    for my $i (0 .. $#vals) {
        my $end = $i < @cuts ? $cuts[$i] : length $out;
        $end = $start if $end < $start;
        my %pkt = ref $packets->[$i] eq 'HASH' ? %{ $packets->[$i] } : ();
        $pkt{value} = substr $out, $start, $end - $start;
        push @result, \%pkt;
        $start = $end;
    }
    return \@result;
}

sub _headers_for {
    my ($name, $more, $idx, $what) = @_;
    my $text = $more;
    if (ref $more eq 'ARRAY') {
        $text = $more->[$idx];
        bail_out("--- more_headers lacks data for the $what")
            unless defined $text;
    }
    return _parse_more_headers($text);
}

# Returns a list of requests; each request is a list of packets
# ({ value => ..., delay_before => ... }) written with separate syscalls.
sub get_req_from_block ($) {
    my $block = shift;
    my $name  = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        if (ref $raw eq 'ARRAY') {
            push @reqs, [ map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } }
                          @$raw ];
        } else {
            push @reqs, [ { value => $raw } ];
        }
        return \@reqs;
    }

    my $request;
    if (defined $block->request_eval) {
        Test::More::diag("$name - request_eval DEPRECATED. Use request eval instead.");
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            # leading blank space and "#" comment lines are ignored
            1 while $request =~ s/^\s*#[^\n]+\s+|^\s+//gs;
        }
    }

    my $more = $block->more_headers;
    $more = '' unless defined $more;

    if (my $pipelined = $block->pipelined_requests) {
        if (ref $pipelined ne 'ARRAY') {
            bail_out("$name - invalid entries in --- pipelined_requests");
        }
        my $data = '';
        for my $i (0 .. $#$pipelined) {
            my ($hdr, $chunked) = _headers_for($name, $more, $i,
                                               "$i pipelined request");
            my $conn = $i == $#$pipelined ? 'close' : 'keep-alive';
            my $pkts = _build_request($name, $hdr, $chunked, $conn,
                                      [ $pipelined->[$i] ]);
            $data .= $pkts->[0]{value};
        }
        push @reqs, [ { value => $data } ];
        return \@reqs;
    }

    if (!ref $request) {
        my ($hdr, $chunked) = _headers_for($name, $more, 0, 'request');
        push @reqs, _build_request($name, $hdr, $chunked, 'close',
                                   [ $request ]);
    } elsif (ref $request eq 'ARRAY') {
        for my $i (0 .. $#$request) {
            my $one = $request->[$i];
            my ($hdr, $chunked) = _headers_for($name, $more, $i,
                                               "${i}th request");
            if (!ref $one) {
                push @reqs, _build_request($name, $hdr, $chunked, 'close',
                                           [ $one ]);
            } elsif (ref $one eq 'ARRAY') {
                for my $p (@$one) {
                    next if !ref $p || ref $p eq 'HASH';
                    bail_out("$name - Invalid syntax. $p should be a string "
                             . "or hash with value.");
                }
                push @reqs, _build_request($name, $hdr, $chunked, 'close',
                                           $one);
            } else {
                bail_out("$name - Invalid syntax. $one should be a string "
                         . "or an array of packets.");
            }
        }
    } else {
        bail_out("$name - invalid ---request : MUST be string or array of "
                 . "requests");
    }

    return \@reqs;
}

#---------------------------------------------------------------------------
# Talking to nginx

sub _connect {
    my ($block, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client;
    $addr = $ServerAddr unless defined $addr;

    my $max_tries = $Test::Nginx::Util::TotalConnectingTimeouts ? 20 : 50;
    my $err;
    for my $try (1 .. $max_tries + 1) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $ServerPortForClient,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        return $sock if $sock;
        $err = $!;
        last if $try > $max_tries;

        my $child = $Test::Nginx::Util::ChildPid;
        if (defined $child
            && waitpid($child, POSIX::WNOHANG()) == $child)
        {
            undef $Test::Nginx::Util::ChildPid;
            warn "WARNING: Child process $child is already gone.\n";
            _unplanned_fail("$name - Can't connect to "
                            . "$addr:$ServerPortForClient: $err (aborted)\n");
            return undef;
        }

        my $s = Test::Nginx::Util::sleep_time();
        my $wait = ($s + $s * $try) * $try / 2;
        $wait = 1 if $wait >= 1;
        if ($wait >= 0.6) {
            warn "$name - Can't connect to $addr:$ServerPortForClient: $err\n";
            warn "\tRetry connecting after $wait sec\n" if $try < $max_tries;
        }
        sleep $wait;
    }

    my $msg = "$name - Can't connect to $addr:$ServerPortForClient: $err "
              . "(aborted)\n";
    if (++$Test::Nginx::Util::TotalConnectingTimeouts < 3) {
        _unplanned_fail($msg);
    } else {
        bail_out($msg);
    }
    return undef;
}

# Sends one request (a list of packets) on a fresh connection and reads
# until the server closes it.  Returns ($raw_response, $is_head_request).
sub send_request ($$$$) {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my @queue = map { {%$_} } @$packets;
    my $all = join '', map { defined $_->{value} ? $_->{value} : '' } @queue;
    my $head_req = $all =~ /^\s*HEAD\s+/ ? 1 : 0;

    # a server closing early must show up as a write error, not kill us
    # with SIGPIPE
    my $nosignal = eval { Socket::MSG_NOSIGNAL() } || 0;
    local $SIG{PIPE} = $nosignal ? $SIG{PIPE} : 'IGNORE';

    my $sock = _connect($block, $timeout) or return (undef, $head_req);
    $sock->blocking(0);

    my $resp = '';
    my $cur  = shift @queue;
    my $buf  = defined $cur->{value} ? $cur->{value} : '';
    my $off  = 0;
    my $writing = 1;
    my $sel  = IO::Select->new($sock);

    while (1) {
        $! = 0;
        my ($r, $w, $e) = IO::Select->select($sel, $writing ? $sel : undef,
                                             $sel, $timeout);
        if (!$r && !$w && !$e) {
            next if $! == EINTR;
            # timed out
            close $sock;
            if (!defined $block->abort) {
                _unplanned_fail("ERROR: client socket timed out - $name\n");
            } else {
                sleep 0.005;
            }
            last;
        }

        if ($e && @$e) {
            warn "exception occurs on the socket: $!\n";
            close $sock;
            last;
        }

        if ($r && @$r) {
            my $eof;
            while (1) {
                my $chunk;
                my $n = sysread $sock, $chunk, 4096;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    next if $! == EINTR;
                    warn "WARNING: $name - HTTP response read failure: $!";
                    $eof = 1;
                    last;
                }
                if ($n == 0) {
                    $eof = 1;
                    last;
                }
                $resp .= $chunk;
            }
            if ($eof) {
                close $sock;
                last;
            }
        }

        if ($writing && $w && @$w) {
            while (1) {
                if ($off < length $buf) {
                    my $n = $nosignal
                        ? send($sock, substr($buf, $off), $nosignal)
                        : syswrite($sock, $buf, length($buf) - $off, $off);
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK;
                        next if $! == EINTR;
                        my $msg = "write failed: $!";
                        warn "$msg\n";
                        $resp = $msg if $resp eq '';
                        close $sock;
                        return ($resp, $head_req);
                    }
                    $off += $n;
                    next;
                }

                my $next = shift @queue;
                if (!defined $next) {
                    $writing = 0;
                    my $how = $block->shutdown;
                    if (defined $how) {
                        $how = 1 if $how =~ /^\s*$/s;
                        shutdown $sock, $how;
                    }
                    last;
                }

                my $delay = defined $next->{delay_before}
                            ? $next->{delay_before} : $middle_delay;
                sleep $delay if $delay;
                $buf = defined $next->{value} ? $next->{value} : '';
                $off = 0;
            }
        }
    }

    return ($resp, $head_req);
}

sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my $left;

    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';

    my $res  = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $te && $te eq 'chunked') {
        my $data = $res->content;
        $data = '' unless defined $data;
        my $decoded = '';
        my $p = 0;
        while (1) {
            if (substr($data, $p) =~ /\A0[ \t]*\r\n\r\n/) {
                $p += length $&;
                $left = substr $data, $p if $p < length $data;
                last;
            }
            if (substr($data, $p) =~ /\A[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/) {
                my $size = hex $1;
                $p += length $&;
                if (length($data) - $p < $size) {
                    _unplanned_fail("$name - invalid chunked data received "
                        . "(not enought octets for the data section)");
                    return;
                }
                $decoded .= substr $data, $p, $size;
                $p += $size;
                if (substr($data, $p, 2) ne "\r\n") {
                    _unplanned_fail("$name - invalid chunked data received "
                                    . "(expected CRLF).");
                    return;
                }
                $p += 2;
                next;
            }
            if ($p < length $data) {
                _unplanned_fail("$name - invalid chunked body received: "
                                . substr($data, $p));
            } else {
                _unplanned_fail("$name - no last chunk found - $data");
            }
            return;
        }
        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len =~ /^\d+$/) {
        my $data = $res->content;
        $data = '' unless defined $data;
        if (length $data < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got " . length($data) . "\n" unless $head_req;
        } elsif (length $data > $len) {
            $left = substr $data, $len;
            $res->content(substr $data, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

#---------------------------------------------------------------------------
# Checks

sub _skip_msg { my ($name, $what, $dry) = @_; "$name - $what - tests skipped due to $dry" }

# With several requests the expected values must be arrays (one element per
# request); with one request an array is accepted and its first element used.
sub get_indexed_value ($$$$) {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    if (ref $value eq 'ARRAY') {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.")
            if $idx != 0;
        return $value->[0];
    }
    return $value;
}

sub _subst_ports {
    my $s = shift;
    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    return $s;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    SKIP: {
        Test::More::skip("$name - tests skipped due to $dry_run", 1) if $dry_run;
        if (defined $block->error_code_like) {
            my $pat = get_indexed_value($name, $block->error_code_like, $idx,
                                        $need_array);
            Test::More::like($got, qr/$pat/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            Test::More::is($got, get_indexed_value($name, $block->error_code,
                                                   $idx, $need_array),
                           "$name - status code ok");
        } else {
            Test::More::is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        SKIP: {
            Test::More::skip(_skip_msg($name, 'raw_response_headers_like',
                                       $dry_run), 1) if $dry_run;
            my $pat = get_indexed_value($name,
                        $block->raw_response_headers_like, $idx, $need_array);
            Test::More::like($raw_headers, qr/$pat/s,
                             "$name - raw resp headers like");
        }
    }
    if (defined $block->raw_response_headers_unlike) {
        SKIP: {
            Test::More::skip(_skip_msg($name, 'raw_response_headers_unlike',
                                       $dry_run), 1) if $dry_run;
            my $pat = get_indexed_value($name,
                        $block->raw_response_headers_unlike, $idx, $need_array);
            Test::More::unlike($raw_headers, qr/$pat/s,
                               "$name - raw resp headers unlike");
        }
    }
}

# One subtest per header line: "Name: value" must equal, "!Name" must be
# absent.  "--- response_headers_like" (only consulted when there is no
# "--- response_headers") matches each value against ^pattern$.
sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers = '' unless defined $raw_headers;

    if (defined $block->response_headers) {
        my $h = parse_headers(get_indexed_value($name,
                    $block->response_headers, $idx, $need_array));
        for my $key (keys %$h) {
            my $want = $h->{$key};
            if (!defined $want) {
                SKIP: {
                    Test::More::skip(_skip_msg($name, 'response_headers',
                                               $dry_run), 1) if $dry_run;
                    Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                        "$name - header $key not present in the raw headers");
                }
                next;
            }
            $want = _subst_ports($want);
            my $got = $res ? $res->header($key) : undef;
            $got = '' unless defined $got;
            SKIP: {
                Test::More::skip(_skip_msg($name, 'response_headers',
                                           $dry_run), 1) if $dry_run;
                Test::More::is($got, $want, "$name - header $key ok");
            }
        }
    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(get_indexed_value($name,
                    $block->response_headers_like, $idx, $need_array));
        for my $key (keys %$h) {
            my $pat = $h->{$key};
            $pat = '' unless defined $pat;
            my $got = $res ? $res->header($key) : undef;
            $got = '' unless defined $got;
            SKIP: {
                Test::More::skip(_skip_msg($name, 'response_headers_like',
                                           $dry_run), 1) if $dry_run;
                Test::More::like($got, qr/^$pat$/,
                                 "$name - header $key like ok");
            }
        }
    }
}

sub _body_filter {
    my ($block, $filter, $content) = @_;
    my $name = $block->name;
    if (ref $filter eq 'CODE') {
        return $filter->($content);
    }
    if (ref $filter) {
        bail_out("$name - the --- response_body_filters section only supports "
                 . "subroutine reference values and string values");
    }
    my %builtin = (
        md5_hex  => sub { Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $f = $builtin{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the "
                    . "--- response_body_filters section");
    return $f->($content);
}

sub transform_response_body ($$$) {
    my ($block, $res, $idx) = @_;
    return unless defined $res;
    my $content = $res->content;
    return unless defined $content;

    my $filters = $block->response_body_filters;
    return unless defined $filters;
    my $name = $block->name;

    if (!ref $filters) {
        (my $s = $filters) =~ s/^\s+|\s+$//g;
        $filters = [ split /\s+/, $s ];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [ $filters ];
    }

    if (@$filters && ref $filters->[0] eq 'ARRAY') {
        for my $elem (@$filters) {
            next if ref $elem eq 'ARRAY';
            bail_out("$name - the --- response_body_filters two-dimensional "
                     . "array only be like [[uc], [lc]] not [[uc], lc]");
        }
        $filters = $filters->[$idx];
        bail_out("$name - the ---response_body_filters two-dimensional array "
                 . "unmatch the specified request($idx)")
            unless defined $filters;
    }

    for my $f (ref $filters eq 'ARRAY' ? @$filters : ($filters)) {
        $content = _body_filter($block, $f, $content);
    }
    $res->content($content);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $idx, $repeated_idx, $need_array) = @_;
    my $name = $block->name;

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gm;
        $content =~ s/^Connection: TE, close\r\n//gm;
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $expected;
        if ($block->response_body_eval) {
            Test::More::diag("$name - response_body_eval is DEPRECATED. Use "
                             . "response_body eval instead.");
            $expected = eval get_indexed_value($name,
                            $block->response_body_eval, $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body, $idx,
                                          $need_array);
        }

        if ($block->charset) {
            Encode::from_to($expected, 'UTF-8', $block->charset);
        }

        $expected = _subst_ports($expected);

        SKIP: {
            Test::More::skip(_skip_msg($name, 'response_body', $dry_run), 1)
                if $dry_run;
            my $desc = "$name - response_body - response is expected "
                       . "(repeated req $repeated_idx, req $idx)";
            if (ref $expected) {
                Test::More::like($content, $expected,
                    "$name - response_body - like (repeated req "
                    . "$repeated_idx, req $idx)");
            } elsif ($Test::Nginx::Util::NoLongString) {
                is($content, $expected, $desc);
            } else {
                Test::LongString::is_string($content, $expected, $desc);
            }
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my ($type, $pats) = defined $block->response_body_like
            ? ('like',   $block->response_body_like)
            : ('unlike', $block->response_body_unlike);
        my $pat = _subst_ports(get_indexed_value($name, $pats, $idx,
                                                 $need_array));
        my $summary = Test::Nginx::Util::trim($content);
        $summary = '' unless defined $summary;
        SKIP: {
            Test::More::skip(_skip_msg($name, "response_body_$type",
                                       $dry_run), 1) if $dry_run;
            my $desc = "$name - response_body_$type - response is expected "
                       . "($summary)";
            if ($type eq 'like') {
                Test::More::like($content, qr/$pat/s, $desc);
            } else {
                Test::More::unlike($content, qr/$pat/s, $desc);
            }
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $idx, $repeated_idx,
                 $dry_run);
    }
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# Section value -> list of patterns: a plain string gives one pattern per
# (non-empty) line; an eval'ed value may be one qr// or an array of strings
# and qr//s.
sub _patterns {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [ $pats ] if ref $pats eq 'Regexp';
    return [ @$pats ];
}

sub _line_matches {
    my ($line, $pat) = @_;
    return 1 if ref $pat && $line =~ /$pat/;
    return $line =~ /\Q$pat\E/ ? 1 : 0;
}

sub _mentions {
    my ($val, $needle) = @_;
    return 0 unless defined $val;
    if (!ref $val || ref $val eq 'Regexp') {
        return index("$val", $needle) >= 0 ? 1 : 0;
    }
    if (ref $val eq 'ARRAY') {
        for (@$val) { return 1 if _mentions($_, $needle) }
    }
    return 0;
}

# "must appear" patterns: one subtest per pattern
sub _check_log_present {
    my ($name, $pats, $lines, $dry_run, $what, $file, $ridx) = @_;
    my @todo = @{ _patterns($pats) };
    for my $line (@{ $lines || [] }) {
        for my $pat (@todo) {
            next unless defined $pat;
            next unless _line_matches($line, $pat);
            SKIP: {
                Test::More::skip(_skip_msg($name, $what, $dry_run), 1)
                    if $dry_run;
                Test::More::pass("$name - pattern \"$pat\" matches a line in "
                                 . "$file (req $ridx)");
            }
            undef $pat;
        }
    }
    for my $pat (@todo) {
        next unless defined $pat;
        SKIP: {
            Test::More::skip(_skip_msg($name, $what, $dry_run), 1) if $dry_run;
            Test::More::fail("$name - pattern \"$pat\" should match a line in "
                             . "$file (req $ridx)");
        }
    }
}

# "must not appear" patterns: one passing subtest per pattern, or one
# failing subtest per offending line
sub _check_log_absent {
    my ($name, $pats, $lines, $dry_run, $what, $file, $ridx) = @_;
    my @todo = @{ _patterns($pats) };
    my %found;
    $lines ||= [];
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@todo) {
            next unless defined $pat;
            next unless _line_matches($line, $pat);
            Test::More->builder->no_ending(1) if $found{$pat}++;
            SKIP: {
                Test::More::skip(_skip_msg($name, $what, $dry_run) . " ($line)",
                                 1) if $dry_run;
                my $end = min($i + 10, @$lines - 1);
                my $ctx = join '', @{$lines}[$i + 1 .. $end - 1];
                Test::More::fail("$name - pattern \"" . fmt_str($pat)
                    . "\" should not match any line in $file but matches "
                    . "line \"" . fmt_str($line) . "\" (req $ridx)\n$ctx");
            }
        }
    }
    for my $pat (@todo) {
        next if !defined $pat || $found{$pat};
        SKIP: {
            Test::More::skip(_skip_msg($name, $what, $dry_run), 1) if $dry_run;
            Test::More::pass("$name - pattern \"" . fmt_str($pat)
                             . "\" does not match a line in $file (req $ridx)");
        }
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $ridx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my %warn_about = ('[alert]' => 1, '[crit]' => 1, '[emerg]' => 1,
                      'writing a global lua variable' => 1);

    my $grep_pat = $block->grep_error_log;
    if (ref $grep_pat eq 'ARRAY') {
        $grep_pat = $grep_pat->[$ridx];
    }
    if (!defined $block->grep_error_log && defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but "
                 . "--- grep_error_log_out is defined");
    }
    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but "
                 . "--- grep_error_log is defined") unless defined $expected;
        $expected = $expected->[$ridx] if ref $expected eq 'ARRAY';
        SKIP: {
            Test::More::skip(_skip_msg($name, 'error_log', $dry_run), 1)
                if $dry_run;
            $lines ||= error_log_data();
            my $matched = '';
            for my $line (@{ $lines || [] }) {
                my $m;
                if (ref $grep_pat && $line =~ /$grep_pat/) {
                    $m = $&;
                } elsif ($line =~ /\Q$grep_pat\E/) {
                    $m = $&;
                }
                $matched .= "$m\n" if defined $m && $m !~ /\n/;
            }
            my $desc = "$name - grep_error_log_out (req $ridx)";
            if (ref $expected eq 'Regexp') {
                Test::More::like($matched, $expected, $desc);
            } elsif ($Test::Nginx::Util::NoLongString) {
                Test::More::is($matched, $expected, $desc);
            } else {
                Test::LongString::is_string($matched, $expected, $desc);
            }
        }
    }

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        for my $needle (keys %warn_about) {
            my $short = $needle;
            $short =~ s/\]$//;
            delete $warn_about{$needle} if _mentions($pats, $short);
        }
        $lines ||= error_log_data();
        if ($section eq 'error_log') {
            _check_log_present($name, $pats, $lines, $dry_run, 'error_log',
                               'error.log', $ridx);
        } else {
            _check_log_absent($name, $pats, $lines, $dry_run, 'no_error_log',
                              'error.log', $ridx);
        }
    }

    if (!$dry_run) {
        $lines ||= error_log_data();
        for my $line (@{ $lines || [] }) {
            for my $needle (sort keys %warn_about) {
                next unless index($line, $needle) >= 0;
                warn "WARNING: $name - " . fmt_str($line) . "\n";
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\n\z//;
            _unplanned_fail("$name - $l\n");
        }
    }
}

# Only consulted when --- shutdown_error_log is present; the patterns of
# --- no_shutdown_error_log are checked first.
sub check_shutdown_error_log ($$) {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines = error_log_data();
    if (defined(my $pats = $block->no_shutdown_error_log)) {
        _check_log_absent($name, $pats, $lines, $dry_run,
                          'no_shutdown_error_log', 'error.log', 'shutdown');
    }
    _check_log_present($name, $block->shutdown_error_log, $lines, $dry_run,
                       'shutdown_error_log', 'error.log', 'shutdown');
    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*? failed\.$/) {
            (my $l = $line) =~ s/\n\z//;
            _unplanned_fail("$name - $l");
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $ridx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined(my $pats = $block->access_log)) {
        $lines ||= access_log_data();
        _check_log_present($name, $pats, $lines, $dry_run, 'access_log',
                           'access.log', $ridx);
    }
    if (defined(my $pats = $block->no_access_log)) {
        $lines ||= access_log_data();
        _check_log_absent($name, $pats, $lines, $dry_run, 'no_access_log',
                          'access.log', $ridx);
    }
}

sub _skip_stap {
    my ($block, $dry_run) = @_;
    return unless $block->{stap};
    my $name = $block->name;
    my $why = $dry_run ? "the lack of directive $dry_run"
                       : 'env TEST_NGINX_USE_STAP is not set';
    SKIP: {
        Test::More::skip("$name - stap_out - tests skipped due to $why", 1);
    }
}

#---------------------------------------------------------------------------
# One repetition of a block: send the request(s), check everything.

sub run_test_helper ($$$) {
    my ($block, $dry_run, $ridx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout);
    $timeout = timeout() unless defined $timeout;

    my $pipelined = $block->pipelined_requests;
    my $need_array = $pipelined ? 1 : (@$reqs > 1 ? 1 : 0);
    my $ignore = defined $block->ignore_response;

    my $res;
    my $idx = 0;
    for my $r (0 .. $#$reqs) {
        my ($raw, $head_req);
        if ($dry_run) {
            $raw = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw, $head_req) = send_request($reqs->[$r],
                $block->raw_request_middle_delay, $timeout, $block);
        }

        my $remaining = $pipelined ? scalar @$pipelined : 0;
        while (1) {
            $raw = '' unless defined $raw;
            my ($raw_headers, $left);
            if (!$ignore) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw,
                                                                 $head_req);
                }
            }

            if ($remaining) {
                $raw = $left;
                $remaining--;
            } elsif (defined $left && length $left) {
                (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last "
                     . "chunk in response: \"$l\"\n";
            }

            if (!$ignore) {
                check_error_code($block, $res, $dry_run, $idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run,
                                           $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run,
                                       $idx, $need_array);
                transform_response_body($block, $res, $idx);
                check_response_body($block, $res, $dry_run, $idx, $ridx,
                                    $need_array);
            }

            # the logs are checked after every request, not only the last
            if ($remaining || $r < $#$reqs) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $ridx, $need_array);
                check_access_log($block, $dry_run, $ridx) unless $ignore;
            }

            $idx++;
            last unless $remaining;
        }
    }

    sleep $block->wait if $block->wait;

    _skip_stap($block, $dry_run);

    check_error_log($block, $res, $dry_run, $ridx, $need_array);
    check_access_log($block, $dry_run, $ridx) unless $ignore;
}

#---------------------------------------------------------------------------
# Embedded mock TCP/UDP servers (--- tcp_listen / --- udp_listen)

sub _reply_list {
    my ($reply, $query) = @_;
    $reply = $reply->($query) if ref $reply eq 'CODE';
    return ref $reply eq 'ARRAY' ? @$reply : ($reply);
}

sub _write_file {
    my ($file, $data) = @_;
    open my $out, '>', $file or die "cannot open $file for writing: $!\n";
    binmode $out;
    print $out $data;
    close $out;
}

sub _tcp_server_child {
    my ($block, $listener, $query_file, $req_len) = @_;
    my $client;
    until ($client = $listener->accept) {
        sleep 0.01;
    }

    my ($no_read, $no_write);
    if (defined(my $how = $block->tcp_shutdown)) {
        sleep parse_time($block->tcp_shutdown_delay)
            if $block->tcp_shutdown_delay;
        shutdown $client, $how;
        if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
    }

    my $buf = '';
    unless ($no_read) {
        while (1) {
            my $chunk = '';
            my $ok = $client->recv($chunk, 4096);
            last unless defined $ok;
            $buf .= $chunk;
            _write_file($query_file, $buf) if $query_file;
            last if length($chunk) == 0;
            last if !$req_len || length($buf) >= $req_len;
        }
    }

    my $delay = parse_time($block->tcp_reply_delay);
    sleep $delay if $delay;

    if (!$no_write && defined(my $reply = $block->tcp_reply)) {
        for my $r (_reply_list($reply, $buf)) {
            next unless defined $r;
            my $off = 0;
            while ($off < length $r) {
                my $n = syswrite $client, $r, length($r) - $off, $off;
                last unless defined $n;
                $off += $n;
            }
        }
    }

    if (defined $block->tcp_no_close) {
        sleep 1 while 1;
    }
    close $client;
}

sub _udp_server_child {
    my ($block, $sock, $query_file) = @_;
    my $buf = '';
    my $peer = $sock->recv($buf, 4096);
    _write_file($query_file, $buf) if $query_file;
    my $delay = parse_time($block->udp_reply_delay);
    sleep $delay if $delay;
    if (defined(my $reply = $block->udp_reply)) {
        for my $r (_reply_list($reply, $buf)) {
            next unless defined $r;
            if (defined $peer && length $peer) {
                send($sock, $r, 0, $peer);
            } else {
                $sock->send($r);
            }
        }
    }
}

sub _fork_server {
    my ($name, $code) = @_;
    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP QUIT);
        eval { $code->() };
        warn $@ if $@;
        POSIX::_exit(0);
    }
    push @Test::Nginx::Util::HelperPids, $pid;
    return $pid;
}

sub start_mock_servers {
    my ($block) = @_;
    my $name = $block->name;
    my %s;

    if (defined(my $target = $block->tcp_listen)) {
        if (!defined $block->tcp_reply && !defined $block->tcp_shutdown) {
            bail_out("$name - no --- tcp_reply specified but --- tcp_listen "
                     . "is specified");
        }
        my $req_len = $block->tcp_query_len;
        if (defined $block->tcp_query || defined $req_len) {
            $req_len = length $block->tcp_query unless defined $req_len;
            $s{tcp_query_file} = File::Temp->new(TMPDIR => 1);
        }
        my ($listener, $err);
        for (1 .. 30) {
            if ($target =~ /^\d+$/) {
                $listener = IO::Socket::INET->new(
                    LocalHost => '127.0.0.1', LocalPort => $target,
                    Proto => 'tcp', ReuseAddr => 1, Listen => 5);
            } elsif ($target =~ /\S+\.sock$/) {
                unlink $target if -e $target;
                $listener = IO::Socket::UNIX->new(
                    Local => $target, Type => SOCK_STREAM, Listen => 5);
            } else {
                bail_out("$name - bad tcp_listen target: $target");
            }
            last if $listener;
            $err = $!;
            last unless $err =~ /address already in use/i;
            sleep 0.2;
        }
        bail_out("$name - failed to create the tcp listening socket: $err")
            unless $listener;
        my $qf = $s{tcp_query_file} ? $s{tcp_query_file}->filename : undef;
        $s{tcp_pid} = _fork_server($name, sub {
            _tcp_server_child($block, $listener, $qf, $req_len);
        });
        $s{tcp_sock} = $listener;
        $s{tcp_target} = $target;
    }

    if (defined(my $target = $block->udp_listen)) {
        bail_out("$name - no --- udp_reply specified but --- udp_listen is "
                 . "specified") unless defined $block->udp_reply;
        $s{udp_query_file} = File::Temp->new(TMPDIR => 1)
            if defined $block->udp_query;
        my $sock;
        if ($target =~ /^\d+$/) {
            $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                LocalPort => $target, Proto => 'udp', ReuseAddr => 1);
        } elsif ($target =~ /\S+\.sock$/) {
            unlink $target if -e $target;
            $sock = IO::Socket::UNIX->new(Local => $target, Type => SOCK_DGRAM);
            $s{udp_unlink} = $target;
        } else {
            bail_out("$name - bad udp_listen target: $target");
        }
        bail_out("$name - failed to create the udp listening socket: $!")
            unless $sock;
        my $qf = $s{udp_query_file} ? $s{udp_query_file}->filename : undef;
        $s{udp_pid} = _fork_server($name, sub {
            _udp_server_child($block, $sock, $qf);
        });
        $s{udp_sock} = $sock;
    }

    return \%s;
}

sub check_mock_servers {
    my ($block, $s) = @_;
    my $name = $block->name;
    if ($s->{tcp_sock}) {
        my $buf = $s->{tcp_query_file}
                  ? Test::Nginx::Util::_slurp($s->{tcp_query_file}->filename)
                  : '';
        is_str($buf, $block->tcp_query, "$name - tcp_query ok")
            if defined $block->tcp_query;
        Test::More::is(length($buf), $block->tcp_query_len,
                       "$name - TCP query length ok")
            if defined $block->tcp_query_len;
    }
    if ($s->{udp_sock}) {
        my $buf = $s->{udp_query_file}
                  ? Test::Nginx::Util::_slurp($s->{udp_query_file}->filename)
                  : '';
        is_str($buf, $block->udp_query, "$name - udp_query ok")
            if defined $block->udp_query;
    }
}

sub stop_mock_servers {
    my ($block, $s) = @_;
    Test::Nginx::Util::stop_helpers($block->name);
    close $s->{tcp_sock} if $s->{tcp_sock};
    close $s->{udp_sock} if $s->{udp_sock};
    unlink $s->{udp_unlink} if $s->{udp_unlink};
    if (defined $s->{tcp_target} && $s->{tcp_target} =~ /\.sock$/) {
        unlink $s->{tcp_target};
    }
}

1;
