#!/usr/bin/perl

# Attacker review 8, rule "a 202 from the queue means the event is
# delivered eventually, whatever is killed": kill -9 of the master alone,
# while queued webhooks are delivered to a slow portal that fails now and
# then.  The workers live on without a master (nginx does not stop them):
# they go on accepting and delivering; then one of them is killed too
# (no master respawns it) and the other must return its claims (its
# siblings' parent is gone, so "a worker of our master" no longer tells
# them apart from strangers); then the last one is stopped and nginx
# started again on the same spool.  Every 202 reaches the portal.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

my $conf = <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_queue $spool backoff=200ms backoff_max=1s concurrency=4;

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
$t->nginx($conf, workers => 2);

my %accepted;

sub send_batch {
    my ($from, $to) = @_;
    my @ids = ($from .. $to);
    my @r = $t->concurrent(map { { path => "/hook?id=$_", body => '{}' } }
                           @ids);
    for my $i (0 .. $#ids) {
        $accepted{"DEAL_$ids[$i]"} = 1 if ($r[$i]{status} || 0) == 202;
    }
}

sub claimed {
    map { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim");
}

send_batch(1, 60);
is(scalar keys %accepted, 60, '60 accepted');
ok($t->wait_until(sub { scalar claimed() }, 20), 'deliveries under way');

# the master alone

my $master = $t->master_pid;
my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two workers');

kill 'KILL', $master;
waitpid(delete $t->{pids}{nginx}, 0);
ok(!B24T::alive($master), 'the master killed');
sleep 0.3;
is(scalar(grep { B24T::alive($_) } @workers), 2, 'its workers live on');

# they still accept, while the portal fails now and then

$t->emu_config(faults => [('http500') x 10]);
send_batch(101, 140);
is(scalar keys %accepted, 100, '40 more accepted without a master');

# one worker killed too, with claims if it has any

my ($victim) = grep { B24T->files("$spool/claim/$_") } @workers;
$victim ||= $workers[0];
my ($other) = grep { $_ != $victim } @workers;

kill 'KILL', $victim;
ok($t->wait_until(sub { !B24T::alive($victim) }, 10),
   "worker $victim killed");

sub missing {
    my %got = map { $_->{target} => 1 }
              grep { ($_->{status} || 0) == 200 } @{ $t->calls };
    return grep { !$got{$_} } sort keys %accepted;
}

# the survivor delivers what it has, and returns the dead one's claims
# within its recovery period (30 s)

ok($t->wait_until(sub { !missing() }, 60),
   'the surviving worker delivers every 202, its sibling\'s claims too')
    or diag('missing: ' . join(' ', missing()) . '; claimed: '
            . join(' ', claimed()));

# the last one stopped, nginx started again on the same spool

kill 'QUIT', $other;
ok($t->wait_until(sub { !B24T::alive($other) }, 20), 'the survivor quits');

$t->nginx($conf, workers => 2);

ok($t->wait_until(sub { !missing() }, 30),
   'after a restart, nothing accepted is missing')
    or diag('missing: ' . join(' ', missing()));

ok($t->wait_until(sub {
    !B24T->files("$spool/queue") && !claimed()
}, 20), 'the spool is empty');

is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

$t->finish;

done_testing;
