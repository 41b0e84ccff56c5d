#!/usr/bin/perl

# kill -9 of the master and both workers while a few hundred queued
# webhooks are being delivered to a slow portal; nginx started again on
# the same spool delivers every webhook that got 202.  Duplicates are
# bounded by what was in flight at the crash.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $N = $ENV{B24_VALGRIND} ? 99 : 300;
my $CONCURRENCY = 8;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

my $conf = <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_queue $spool backoff=200ms backoff_max=1s
                     concurrency=$CONCURRENCY;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_delivery queue;
        }
    }
EOF

$t->emulator(args => ['--bucket', 0, '--latency', 200]);
$t->nginx($conf, workers => 2);

# the webhooks arrive while earlier ones are already being delivered

my $accepted = $t->dir . '/accepted';
my $pid = fork();

if ($pid == 0) {
    my @ok;
    for my $batch (0 .. 2) {
        my @r = $t->concurrent(map { { path => '/hook?id=' . ($batch * 1000
                                                            + $_),
                                       body => '{}' } } 1 .. $N / 3);
        push @ok, map { $_->[1] } grep { $_->[0] && $_->[0]{status}
                                         && $_->[0]{status} == 202 }
                  map { [$r[$_ - 1], 'DEAL_' . ($batch * 1000 + $_)] }
                  1 .. $N / 3;
    }
    open my $fh, '>', $accepted or die;
    print $fh "$_\n" for @ok;
    close $fh;
    exit 0;
}

waitpid($pid, 0);

my @accepted = split /\n/, $t->slurp($accepted);
is(scalar @accepted, $N, "$N webhooks accepted with 202");

# deliveries are under way: crash now, while some are claimed (a fixed
# sleep could land, on a loaded machine, between one claim and the next)

sub claimed { map { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim") }

sleep 0.3;
ok($t->wait_until(sub { scalar claimed() }, 20), 'deliveries under way');

my $before = scalar grep { ($_->{status} || 0) == 200 } @{ $t->calls };
my @pids = $t->crash;

is(scalar(grep { B24T::alive($_) } @pids), 0,
   'master and workers killed with SIGKILL');

my @claimed = claimed();
my @queued = B24T->files("$spool/queue");
my %answers;
$answers{ $_->{status} || 'none' }++ for @{ $t->calls };

diag("at the crash: $before delivered, " . scalar(@claimed)
     . " claimed, " . scalar(@queued) . " queued; portal answers: "
     . join(', ', map { "$_ x$answers{$_}" } sort keys %answers));

cmp_ok(scalar @claimed, '>', 0, 'events were claimed at the crash');
cmp_ok($before, '<', $N, 'not everything was delivered before the crash');

# nginx again, on the same spool; the portal is fast now

sleep 0.5;    # answers to the killed workers' calls still come in
my $calls_at_crash = scalar @{ $t->calls };

$t->emu_config(latency_ms => 0);
$t->nginx($conf, workers => 2);

my %got;

ok($t->wait_until(sub {
    %got = ();
    $got{$_->{target}}++
        for grep { ($_->{status} || 0) == 200 } @{ $t->calls };
    !grep { !$got{$_} } @accepted;
}, 60), 'every accepted webhook delivered after the restart');

is_deeply([grep { !$got{$_} } @accepted], [], 'none lost');

my $dups = 0;
$dups += $_ - 1 for values %got;

# a call the portal answered while its worker was being killed is
# delivered again: at most the calls in flight, 2 workers x concurrency

cmp_ok($dups, '<=', 2 * $CONCURRENCY,
       "duplicates bounded by the calls in flight ($dups)");
diag("delivered twice: $dups of $N; calls up to the crash: "
     . "$calls_at_crash");

# the portal may have answered every call before the crash, so the check
# above can pass before the new workers have looked at the claims: wait

ok($t->wait_log(qr/\[notice\].*b24trigger: \d+ claimed events of exited process \d+ returned to the queue/,
                $ENV{B24_VALGRIND} ? 60 : 20),
   'the orphaned claims were returned');

ok($t->wait_until(sub {
    !B24T->files("$spool/queue")
    && !grep { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim")
}, 10), 'the spool is empty afterwards');

is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

$t->finish;

done_testing;
