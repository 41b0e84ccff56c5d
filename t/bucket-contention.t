#!/usr/bin/perl

# The portal's bucket under contention: two workers take places in it at
# the same moments, hundreds of times, with wait=0.  A place given twice
# (two takes that both read the same level) would let more calls through
# than burst plus what drained meanwhile; a place lost would refuse calls
# the bucket had room for.  Both are counted at the portal.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use B24T;

my $BURST = $ENV{B24_VALGRIND} ? 40 : 100;
my $N = $ENV{B24_VALGRIND} ? 120 : 300;
my $ROUNDS = 5;

my $t = B24T->new;

# the portal has no bucket of its own: every call nginx lets through is
# counted there, answered 200 (with one, calls that arrive bunched, as
# under valgrind, would be refused there and hide what nginx admitted)
$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=20r/s burst=$BURST wait=0;

    server {
        listen %%LISTEN%% reuseport;

        location /sync {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

my ($ok, $busy, $other) = (0, 0, 0);
my $start = time;

for my $round (1 .. $ROUNDS) {
    my @r = $t->simultaneous(map { { path => "/sync?id=$round$_",
                                   body => '{}' } } 1 .. $N);

    for (@r) {
        my $s = $_ ? $_->{status} : 0;
        $s == 200 ? $ok++ : $s == 503 ? $busy++ : $other++;
    }
}

my $took = time - $start;

# our copy drains at 19 calls a second (5 % slower than rate=)
my $most = $BURST + int(19 * $took) + 1;

diag(sprintf("%d forwarded, %d refused in %.2f s (at most %d may go)",
             $ok, $busy, $took, $most));

is($other, 0, 'every request answered 200 or 503');
cmp_ok($ok, '>=', $BURST, 'the whole burst was used');
cmp_ok($ok, '<=', $most, 'no place in the bucket was given twice');

my @calls = @{ $t->calls };
is(scalar @calls, $ok, 'the portal saw exactly the forwarded calls');

# both workers took places (reuseport: the kernel spreads connections)
my %pids;
$pids{$_}++ for $t->error_log =~ /\[error\] (\d+)#\d+: .*the bucket of portal "main" is full/g;
cmp_ok(scalar keys %pids, '==', 2, 'both workers refused: ' . join(', ',
       map { "$_ x$pids{$_}" } sort keys %pids));

$t->finish;

done_testing;
