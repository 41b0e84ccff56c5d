#!/usr/bin/perl

# Attacker review 8, rule "work before verification is bounded": the
# signature headers, where the operator lets nginx take large headers
# (large_client_header_buffers 4 2m), sent unsigned to a single worker:
#
#   - a Stripe-Signature of 1 MB: 15,000 "v1=<64 hex>" entries tried
#     against 8 secrets (rotation), 260,000 empty "v1=" entries, 1 MB of
#     separators;
#   - a Standard Webhooks webhook-signature of 1 MB of "v1,<base64>";
#   - an hmac header of 1 MB of base64 padding ("====...") and of hex;
#   - a body over b24trigger_body_max in 1-byte chunks, no Content-Length;
#   - 60 connections that announce a body of b24trigger_body_max (1 MB)
#     and trickle one byte of it (slowloris), while a valid webhook is
#     sent: the worker's memory must not grow by the bodies announced.
#
# The SAFE outcome, each time: the documented status with its JSON error,
# nothing at the portal, the worker alive (the same pid) and a valid
# webhook forwarded right after; the worker's peak memory is printed
# (diag) for each, and bounded generously: 16 times the header (not
# checked under valgrind).
# Found holding: the signatures are parsed in one pass each (a list of
# 16 bytes an item, decoded only where a signature could be), about
# 1-4 MB of peak for 1 MB of header, a few ms; the trickling connections
# cost nginx's buffers, not the bodies they announce (the module's buffer
# of the announced length is not touched until bytes come).  Thousands
# of headers of a signature's name are nginx's own 400 (it refuses 1000
# header lines or more), so looking them up one by one stays small.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV qw(stripe_signature);

my $t = B24T->new;
my @keys = map { 'whsec_' . B24T::random_secret(24) } 1 .. 8;
my $hkey = B24T::random_secret(24);

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 1, log_level => 'info');
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;

    b24trigger_field \$deal data.object.metadata.deal_id;

    server {
        listen %%LISTEN%%;
        large_client_header_buffers 4 2m;
        client_body_timeout 20s;

        location = /stripe {
            b24trigger_pass      crm;
            b24trigger_verify    stripe;
            b24trigger_secret    @keys;
            b24trigger_body_max  4k;
            b24trigger_target    DEAL_\$deal;
            b24trigger_code      paid;
        }

        location = /std {
            b24trigger_pass      crm;
            b24trigger_verify    standard;
            b24trigger_secret    whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
            b24trigger_target    DEAL_\$deal;
        }

        location = /b64 {
            b24trigger_pass      crm;
            b24trigger_verify    hmac header=X-Sig encoding=base64;
            b24trigger_secret    $hkey;
            b24trigger_target    DEAL_\$deal;
        }

        location = /hex {
            b24trigger_pass      crm;
            b24trigger_verify    hmac header=X-Sig;
            b24trigger_secret    $hkey;
            b24trigger_target    DEAL_\$deal;
        }
    }
EOF

my @json = ('Content-Type' => 'application/json');
my ($worker) = $t->worker_pids;
my $n = 0;

sub peak {
    my $s = $t->slurp("/proc/$worker/status");
    return $s =~ /^VmHWM:\s+(\d+) kB/m ? $1 : 0;
}

sub body { '{"data":{"object":{"metadata":{"deal_id":"' . $_[0] . '"}}}}' }

# a valid webhook, signed with the last of the 8 secrets
sub valid {
    my ($name) = @_;
    my $b = body(++$n);
    my $r = $t->post('/stripe', $b, @json,
                     'Stripe-Signature' => stripe_signature($keys[-1], $b));
    is($r->{status}, 200, "$name: a valid webhook right after: 200");
    is(($t->worker_pids)[0], $worker, "$name: the same worker");
}

sub hostile {
    my ($name, $path, $header, $value, $status, $error, @more) = @_;

    my $calls = @{ $t->calls };
    my $before = peak();
    my $start = time;
    my $r = $t->post($path, body(999), @json, @more, $header => $value);
    my $took = time - $start;

    is($r->{status}, $status, "$name: $status");
    is($r->{json} && $r->{json}{error}, $error, "$name: $error");
    is(scalar @{ $t->calls }, $calls, "$name: nothing at the portal");

    my $grown = peak() - $before;
    diag(sprintf '%s: %d bytes of header, answered in %.3f s, worker peak '
         . 'grew by %d kB', $name, length $value, $took, $grown);
    SKIP: {
        skip 'peak memory under valgrind', 1 if $ENV{B24_VALGRIND};
        cmp_ok($grown, '<', 16 * length($value) / 1024 + 2048,
               "$name: the worker's peak grew by less than 16 x the header");
    }

    valid($name);
}

valid('warm-up');

my $ts = time;

hostile('15,000 v1 x 8 secrets', '/stripe', 'Stripe-Signature',
        "t=$ts," . join(',', map { 'v1=' . ('ab' x 32) } 1 .. 15000),
        401, 'signature_invalid');

hostile('260,000 empty v1', '/stripe', 'Stripe-Signature',
        "t=$ts," . ('v1=,' x 260000), 401, 'signature_invalid');

hostile('1 MB of separators', '/stripe', 'Stripe-Signature',
        "t=$ts" . (',' x 1000000), 401, 'signature_invalid');

hostile('1 MB of v1,base64', '/std', 'webhook-signature',
        join(' ', map { 'v1,' . ('A' x 43) . '=' } 1 .. 22000), 401,
        'signature_invalid', 'webhook-id' => 'msg_1',
        'webhook-timestamp' => $ts);

hostile('1 MB of base64 padding', '/b64', 'X-Sig', '=' x 1000000, 401,
        'signature_invalid');

hostile('1 MB of hex', '/hex', 'X-Sig', 'ab' x 500000, 401,
        'signature_invalid');

# over b24trigger_body_max, in 1-byte chunks, no Content-Length

{
    my $b = body(998) . (' ' x 5000);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port) or die;
    my $req = "POST /stripe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              . "Content-Type: application/json\r\n"
              . "Stripe-Signature: t=$ts,v1=00\r\n"
              . "Transfer-Encoding: chunked\r\n\r\n"
              . join('', map { "1\r\n$_\r\n" } split //, $b) . "0\r\n\r\n";
    syswrite($s, $req);
    my $r = B24T::read_response($s, 10);
    push @{ $t->{replies} }, $r;

    is($r->{status}, 413, '1-byte chunks over body_max: 413');
    is($r->{json} && $r->{json}{error}, 'body_too_large',
       '1-byte chunks over body_max: body_too_large');
    valid('1-byte chunks');
}

# slowloris: 60 bodies announced at body_max, one byte each sent

sub rss {
    my $s = $t->slurp("/proc/$worker/status");
    return $s =~ /^VmRSS:\s+(\d+) kB/m ? $1 : 0;
}

{
    my $before = rss();
    my @s;

    for (1 .. 60) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $t->port) or die;
        syswrite($s, "POST /std HTTP/1.1\r\nHost: x\r\n"
                     . "Connection: close\r\n"
                     . "Content-Type: application/json\r\n"
                     . "webhook-signature: v1,AAAA\r\n"
                     . "Content-Length: 1048576\r\n\r\n{");
        push @s, $s;
    }

    sleep 0.5;
    valid('60 trickling connections open');

    my $grown = rss() - $before;
    my $vm = $t->slurp("/proc/$worker/status") =~ /^VmSize:\s+(\d+)/m
             ? $1 : 0;
    diag("60 trickling connections: worker RSS grew by $grown kB "
         . "(VmSize $vm kB)");
    SKIP: {
        skip 'memory under valgrind', 1 if $ENV{B24_VALGRIND};
        cmp_ok($grown, '<', 60 * 256,
               'at most 256 kB a trickling connection');
    }

    # the rest of their bodies: each refused, nothing forwarded

    my $calls = @{ $t->calls };
    for my $s (@s) {
        my $rest = ' ' x 1048575;
        my $off = 0;
        while ($off < length $rest) {
            my $n = syswrite($s, $rest, 65536, $off);
            last unless defined $n && $n > 0;
            $off += $n;
        }
    }

    my @r = map { B24T::read_response($_, 20) } @s;
    push @{ $t->{replies} }, @r;

    is(scalar(grep { ($_->{status} || 0) == 401 } @r), 60,
       'the 60 trickled bodies, completed: 401 each');
    is(scalar @{ $t->calls }, $calls, 'nothing of them at the portal');
}

valid('the end');

$t->finish;
$t->secret_nowhere;

done_testing;
