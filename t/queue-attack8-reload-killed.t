#!/usr/bin/perl

# Attacker review 8, rule "a 202 from the queue means the event is
# delivered eventually, even if nginx is killed -9 during a reload": a
# batch of webhooks (one group commit) is being delivered to a slow
# portal when nginx is reloaded, and the old worker is killed -9 before
# it can write the rest of its batch out (it is stopped first, so that
# its exit path never runs).  The new workers took nothing of it at their
# start (the old worker was alive); they must find its claim once it is
# gone, and deliver what it had not, skipping what it had.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;

my $N = $ENV{B24_VALGRIND} ? 20 : 40;
my $CONCURRENCY = 2;

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

$t->emulator(args => ['--bucket', 0, '--latency', 300]);
$t->nginx($conf, workers => 1, events => 'multi_accept on;');

# the webhooks sent while the worker is stopped: one batch

my ($old) = $t->worker_pids;
kill 'STOP', $old;

my $out = $t->dir . '/replies';
my $pid = fork();

if ($pid == 0) {
    my @r = $t->concurrent(map { { path => "/hook?id=$_", body => '{}' } }
                           1 .. $N);
    open my $fh, '>', $out or die;
    print $fh join("\n", map { ($r[$_ - 1]{status} || 0) . " DEAL_$_" }
                         1 .. $N), "\n";
    close $fh;
    exit 0;
}

sleep($ENV{B24_VALGRIND} ? 3 : 1);
kill 'CONT', $old;
waitpid($pid, 0);

my @accepted = map { /^202 (\S+)/ ? $1 : () } split /\n/, $t->slurp($out);
is(scalar @accepted, $N, "$N accepted");

sub claimed {
    map { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim");
}

sub delivered {
    my %got;
    $got{$_->{target}}++
        for grep { ($_->{status} || 0) == 200 } @{ $t->calls };
    return \%got;
}

ok($t->wait_until(sub { (grep { /\.batch$/ } claimed())
                        && keys %{ delivered() } >= 2 * $CONCURRENCY }, 30),
   'the batch claimed, its delivery under way');

# the old worker stopped, nginx reloaded, the old worker killed -9

kill 'STOP', $old;
$t->reload(undef, nowait => 1);

my @new = grep { $_ != $old } $t->worker_pids;
is(scalar @new, 1, 'a new worker');

sleep 0.5;
$t->{allow_alerts} = qr/worker process $old exited on signal 9/;
kill 'KILL', $old;
kill 'CONT', $old;
ok($t->wait_until(sub { !B24T::alive($old) }, 10), 'the old worker killed');

my $at_kill = delivered();
diag(scalar(keys %$at_kill) . " of $N delivered at the kill; claimed: "
     . join(' ', claimed()));

# the new worker finds the claim within its recovery period (30 s)

ok($t->wait_until(sub {
    my $got = delivered();
    !grep { !$got->{$_} } @accepted;
}, 60), 'every accepted webhook delivered');

my $got = delivered();
my $dups = 0;
$dups += $_ - 1 for values %$got;
cmp_ok($dups, '<=', $CONCURRENCY,
       "repeated at most the calls in flight at the kill ($dups)");

ok($t->wait_until(sub { !B24T->files("$spool/queue") && !claimed() }, 10),
   'the spool is empty');
is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

$t->finish;

done_testing;
