#!/usr/bin/perl

# Transient failures of a queued delivery are retried: network errors,
# timeouts, 5xx, answers that are not Bitrix24's, QUERY_LIMIT_EXCEEDED;
# the backoff doubles; OPERATION_TIME_LIMIT waits for operating_reset_at.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100 timeout=1s;
    b24trigger_portal otl http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue $spool backoff=200ms backoff_max=2s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_delivery queue;

        location /hook { b24trigger_pass main; }
        location /otl  { b24trigger_pass otl; }
    }
EOF

sub calls_for {
    my ($target) = @_;
    return grep { ($_->{target} || '') eq $target } @{ $t->calls };
}

sub delivered {
    my ($target, $timeout) = @_;
    return $t->wait_until(sub {
        grep { ($_->{status} || 0) == 200 && !$_->{fault} }
            calls_for($target)
    }, $timeout || 10);
}

# each transient fault once, then the portal answers

my $id = 10;

for my $f (qw(reset close http500 html502 html504 garbage_200 empty_200
              query_limit unexpected_answer hang))
{
    $id++;
    $t->emu_config(faults => [$f]);

    my $r = $t->post("/hook?id=$id", '{}');
    is($r->{status}, 202, "$f: queued");

    ok(delivered("DEAL_$id"), "$f: retried and delivered");

    my @c = calls_for("DEAL_$id");
    cmp_ok(scalar @c, '>=', 2, "$f: more than one call");
    is($c[0]{fault}, $f, "$f: the first call met the fault");
}

like($t->error_log,
     qr/\[warn\].*queued event "[^"]+" for portal "main" target "DEAL_\d+" failed \(attempt 1\): portal_timeout/,
     'timeout retried, logged at warn');

like($t->error_log,
     qr/failed \(attempt 1\): portal_rate_limited 503 QUERY_LIMIT_EXCEEDED/,
     'QUERY_LIMIT_EXCEEDED retried');

like($t->error_log,
     qr/failed \(attempt 1\): portal_error 500 INTERNAL_SERVER_ERROR/,
     '500 INTERNAL_SERVER_ERROR retried');

is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

# the backoff: 200 ms, then doubling up to 2 s, each drawn from [3/4, 1]

$t->emu_config(mode => 'http500');
$t->post('/hook?id=50', '{}');

$t->wait_until(sub { calls_for('DEAL_50') >= 6 }, 15);
$t->emu_config(mode => 'none');

my @ts = map { $_->{ts} } calls_for('DEAL_50');
my @gaps = map { $ts[$_] - $ts[$_ - 1] } 1 .. 5;

diag('gaps: ' . join ' ', map { sprintf '%.2f', $_ } @gaps);

my @want = (0.2, 0.4, 0.8, 1.6, 2);
for my $i (0 .. 4) {
    cmp_ok($gaps[$i], '>=', $want[$i] * 0.75 - 0.05,
           "gap $i at least 3/4 of $want[$i] s");
    cmp_ok($gaps[$i], '<=', $want[$i] + 0.4, "gap $i at most $want[$i] s");
}

ok(delivered('DEAL_50', 10), 'delivered once the portal recovers');

# OPERATION_TIME_LIMIT: the next attempt is when operating_reset_at said

my $r = $t->post('/otl?id=60', '{}');
ok(delivered('DEAL_60'), 'otl: a success first, with operating_reset_at');

$t->emu_config(faults => ['operation_time_limit']);
my $before = time;
$r = $t->post('/otl?id=61', '{}');
is($r->{status}, 202, 'otl: queued');

my $f;
ok($t->wait_until(sub {
    ($f) = grep { /^\d{13}-.*\.json$/ } B24T->files("$spool/queue");
    $f && $t->slurp("$spool/queue/$f") =~ /OPERATION_TIME_LIMIT/;
}, 10), 'otl: back in the queue');

my ($due) = $f =~ /^(\d{13})-/;
my $ev = $B24T::JSON->decode($t->slurp("$spool/queue/$f"));

# the emulator announces the end of the oldest ten-minute basket

cmp_ok($due / 1000 - $before, '>', 500,
       sprintf('otl: next attempt in %d s, at operating_reset_at',
               $due / 1000 - $before));
cmp_ok($due / 1000 - $before, '<', 662, 'otl: not later than the reset');
is($ev->{last_error}{error}, 'OPERATION_TIME_LIMIT', 'otl: last error');

like($t->error_log,
     qr/\[warn\].*portal "otl" blocks calls with OPERATION_TIME_LIMIT, no call before \d+ s from now/,
     'otl: the block logged');

sleep 1;
is(scalar(calls_for('DEAL_61')), 1, 'otl: no call before the reset');

$t->finish;

done_testing;
