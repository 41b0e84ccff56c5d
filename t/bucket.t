#!/usr/bin/perl

# The portal's leaky bucket, shared by the workers and both delivery
# modes: against a portal that allows 10 calls then 2 per second, nginx
# with rate=2r/s burst=10 never trips QUERY_LIMIT_EXCEEDED.  Queued
# webhooks wait their turn; sync ones wait up to wait= and are then
# answered 503 rate_limited with Retry-After.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

# pacing is measured against the portal's clock: valgrind's slowness
# bunches calls that were admitted apart
plan(skip_all => 'timing under valgrind') if $ENV{B24_VALGRIND};

my $t = B24T->new;
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

# the emulator counts a call when its thread gets to it: on a loaded
# machine (two suites side by side on 2 cores) calls sent apart are
# sometimes counted together, so its bucket has room for two more than
# nginx's burst; 60 calls sent at once without pacing would still trip
# it about 45 times
$t->emulator(args => ['--bucket', 12, '--drain', 2]);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=2r/s burst=10 wait=1s;
    b24trigger_queue $spool backoff=200ms backoff_max=1s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;

        location /queue { b24trigger_pass main; b24trigger_delivery queue; }
        location /sync  { b24trigger_pass main; }
    }
EOF

# 60 queued at once

my $start = time;
my @r = $t->concurrent(map { { path => "/queue?id=$_", body => '{}' } }
                       1 .. 60);
is(scalar(grep { $_ && $_->{status} == 202 } @r), 60, '60 queued');

my @calls;
ok($t->wait_until(sub {
    @calls = @{ $t->calls };
    (grep { ($_->{status} || 0) == 200 } @calls) >= 60;
}, 60), 'all 60 delivered');

my $took = time - $start;
my @limited = grep { ($_->{error} || '') eq 'QUERY_LIMIT_EXCEEDED' } @calls;

is(scalar @limited, 0, 'the portal answered QUERY_LIMIT_EXCEEDED 0 times');
is(scalar @calls, 60, 'exactly 60 calls');

# 10 at once, then 50 at 2/s (a little less: our copy drains 5 % slower)

cmp_ok($took, '>', 24, sprintf('paced by the bucket (%.1f s)', $took));
cmp_ok($took, '<', 60, 'and not stuck');

my @ts = sort { $a <=> $b } map { $_->{ts} } @calls;
my $burst = grep { $_ - $ts[0] < 1 } @ts;
cmp_ok($burst, '<=', 12, "a burst of $burst in the first second");

# sync: the bucket refills 5 s, then 20 at once

sleep 5.5;
$t->emu_reset;

@r = $t->concurrent(map { { path => "/sync?id=$_", body => '{}' } } 1 .. 20);

my @ok = grep { $_ && $_->{status} == 200 } @r;
my @busy = grep { $_ && $_->{status} == 503 } @r;

is(@ok + @busy, 20, 'sync: every request answered 200 or 503');
cmp_ok(scalar @ok, '>=', 10, scalar(@ok) . ' forwarded');
cmp_ok(scalar @busy, '>=', 5, scalar(@busy) . ' refused');
is_deeply([map { $_->{json} } $busy[0]],
          [{ error => 'rate_limited' }], 'sync: {"error":"rate_limited"}');
ok(!grep({ ($_->{headers}{'retry-after'} || '') !~ /^[1-9]\d*$/ } @busy),
   'sync: every 503 has Retry-After');

my @waited = grep { $_->{elapsed} > 0.3 } @ok;
cmp_ok(scalar @waited, '>=', 1, 'some sync requests waited for the bucket');
ok(!grep({ $_->{elapsed} > 4 } @ok),
   'none waited much longer than wait=');

@calls = @{ $t->calls };
is(scalar(grep { ($_->{error} || '') eq 'QUERY_LIMIT_EXCEEDED' } @calls), 0,
   'sync: QUERY_LIMIT_EXCEEDED 0 times');
is(scalar @calls, scalar @ok, 'sync: refused requests never reach the portal');

like($t->error_log,
     qr/\[error\].*the bucket of portal "main" is full, target "DEAL_\d+" from location "[^"]+" not triggered, the sender is asked to retry in \d+ s/,
     'sync: error log line');

$t->finish;

done_testing;
