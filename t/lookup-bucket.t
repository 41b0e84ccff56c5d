#!/usr/bin/perl

# Each lookup is a call like the trigger's own and takes its place in the
# portal's leaky bucket: against a portal that allows 12 calls then 5 per
# second, 20 sync webhooks at once (20 lookups and 20 triggers) and then
# 20 queued ones are all delivered, paced by nginx's bucket (rate=5r/s
# burst=10), and the portal never answers QUERY_LIMIT_EXCEEDED.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use Digest::SHA qw(hmac_sha256_hex);
use B24T;

# pacing is measured against the portal's clock: valgrind's slowness
# bunches calls that were admitted apart
plan(skip_all => 'timing under valgrind') if $ENV{B24_VALGRIND};

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $key = B24T::random_secret(24);
chmod 0711, $t->dir;

# two more places at the emulator than nginx's burst: it counts a call
# when its thread gets to it (t/bucket.t says why)
$t->emulator(args => ['--bucket', 12, '--drain', 5]);
sub seed {
    $t->emu_crm(items => [ map { { entityTypeId => 2, id => 100 + $_,
                                   UF_CRM_ORDER_ID => "N$_" } } 1 .. 40 ]);
}

seed();

$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=5r/s burst=10 wait=20s;
    b24trigger_queue $spool backoff=200ms backoff_max=1s;
    b24trigger_lookup_zone orders:1m;

    b24trigger_field \$order_id OrderId;

    server {
        listen %%LISTEN%%;

        b24trigger_verify hmac header=X-Sig;
        b24trigger_secret $key;
        b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id zone=orders;
        b24trigger_code   paid;

        location = /sync  { b24trigger_pass main; }
        location = /queue { b24trigger_pass main; b24trigger_delivery queue; }
    }
EOF

sub req {
    my ($path, $n) = @_;
    my $body = "{\"OrderId\":\"N$n\"}";
    return { path => $path, body => $body,
             headers => [ 'Content-Type' => 'application/json',
                          'X-Sig' => hmac_sha256_hex($body, $key) ] };
}

# 20 sync webhooks at once

my $start = time;
my @r = $t->concurrent(map { req('/sync', $_) } 1 .. 20);

is(scalar(grep { $_ && $_->{status} == 200 } @r), 20, '20 sync: 200')
    or diag(join ' ', map { $_ ? $_->{status} : 'none' } @r);
is_deeply([ sort map { $_->{json}{target} } grep { $_ && $_->{json} } @r ],
          [ sort map { 'DEAL_' . (100 + $_) } 1 .. 20 ],
          'each found its own deal');

my @sync = @{ $t->calls };
my @calls = @sync;
is(scalar @calls, 40, '40 calls: 20 lookups, 20 triggers');
is(scalar(grep { $_->{method} eq 'crm.item.list' } @calls), 20,
   '20 of them crm.item.list');

# the portal's own bucket, replayed from when it counted each call: its
# level never went above its size (12), nginx kept to burst=10 and 5/s
sub level {
    my ($level, $last, $max) = (0, undef, 0);
    for my $ts (sort { $a <=> $b } map { $_->{ts} } @_) {
        $level -= ($ts - $last) * 5 if defined $last;
        $level = 0 if $level < 0;
        $level += 1;
        $last = $ts;
        $max = $level if $level > $max;
    }
    return $max;
}

my $max = level(@calls);
cmp_ok($max, '<=', 12, sprintf('the portal\'s bucket at most %.1f of 12', $max));
cmp_ok($max, '>', 9, 'and the burst was used');
cmp_ok(time - $start, '>', 4, 'paced by the bucket');

# 20 queued at once, after the bucket refilled

sleep 3;
$t->emu_reset;
seed();

@r = $t->concurrent(map { req('/queue', $_) } 21 .. 40);
is(scalar(grep { $_ && $_->{status} == 202 } @r), 20, '20 queued: 202');

ok($t->wait_until(sub {
    (grep { $_->{method} eq 'crm.automation.trigger'
            && ($_->{status} || 0) == 200 } @{ $t->calls }) >= 20;
}, 60), 'all 20 delivered');

@calls = @{ $t->calls };
is(scalar(grep { $_->{method} eq 'crm.item.list' } @calls), 20,
   '20 lookups');

$max = level(@calls);
cmp_ok($max, '<=', 12,
       sprintf('queued: the portal\'s bucket at most %.1f of 12', $max));

my $limited = grep { ($_->{error} || '') eq 'QUERY_LIMIT_EXCEEDED' }
              @sync, @calls;
is($limited, 0, 'the portal answered QUERY_LIMIT_EXCEEDED 0 times');

$t->finish;
$t->secret_nowhere;

done_testing;
