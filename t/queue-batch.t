#!/usr/bin/perl

# Group commit: webhooks that arrive together are written with one fsync
# as one batch file, each sender answered 202 only after that write; the
# batch is delivered event by event, every event once.  The worker is
# stopped (SIGSTOP) while the webhooks arrive, so that they are all
# waiting when it goes on: one turn of its loop takes them all.  Then the
# two ways a batch is left: kill -9 in the middle of its delivery (the
# next claimer skips what was delivered, as "<batch>.done" says), and a
# graceful reload (the rest written out an event a file).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;

my $N = $ENV{B24_VALGRIND} ? 40 : 100;
my $CONCURRENCY = 4;

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

# all connections accepted at once, so that the senders' requests are
# read in one turn of the loop and make one batch however busy the
# machine is (without it nginx accepts one connection a turn, and a
# slow turn splits them over several batches)

my %opts = (events => 'multi_accept on;');

# $n webhooks sent while the worker is stopped; their replies

sub burst {
    my ($first, $n) = @_;

    my @w = $t->worker_pids;
    kill 'STOP', @w;

    my $out = $t->dir . "/replies.$first";
    my $pid = fork();

    if ($pid == 0) {
        my @r = $t->concurrent(map { { path => "/hook?id=$_", body => '{}' } }
                               $first .. $first + $n - 1);
        open my $fh, '>', $out or die;
        for my $i (0 .. $#r) {
            my $x = $r[$i] || {};
            printf $fh "%d %d %s\n", $first + $i, $x->{status} || 0,
                $x->{body} || '';
        }
        close $fh;
        exit 0;
    }

    sleep($ENV{B24_VALGRIND} ? 3 : 1);
    kill 'CONT', @w;
    waitpid($pid, 0);

    my %r;
    for (split /\n/, $t->slurp($out)) {
        my ($id, $status, $body) = split / /, $_, 3;
        $r{$id} = [$status, $body];
    }
    return \%r;
}

sub delivered {
    my %got;
    $got{$_->{target}}++
        for grep { ($_->{status} || 0) == 200 } @{ $t->calls };
    return \%got;
}

sub spool_empty {
    !B24T->files("$spool/queue")
    && !grep { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim");
}

# 1. one batch, every event delivered once

$t->emulator(args => ['--bucket', 0]);
$t->nginx($conf, %opts);

my $r = burst(1, $N);

is(scalar(grep { $r->{$_}[0] == 202 } keys %$r), $N, "$N answered 202");

my %ids = map { ($r->{$_}[1] =~ /"id":"([^"]+)"/)[0] // '' => 1 } keys %$r;
is(scalar(grep { length } keys %ids), $N, 'each with its own id');

like($t->error_log,
     qr/b24trigger queue: (\d{2,}) event\(s\) written as "[^"]+\.\1\.batch"/,
     'they were written together, as one batch');

ok($t->wait_until(sub { keys %{ delivered() } == $N }, 30),
   'every event of the batch delivered');

my $got = delivered();
is(scalar(grep { $got->{$_} != 1 } keys %$got), 0, 'each exactly once');
is_deeply([sort { $a <=> $b } map { /(\d+)/ } keys %$got], [1 .. $N],
          'the targets the senders sent');

ok($t->wait_until(\&spool_empty, 10), 'the spool is empty afterwards');
is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

# 2. kill -9 while the batch is being delivered to a slow portal

$t->emu_reset;
$t->emu_config(latency_ms => 300);

$r = burst(1001, $N);
is(scalar(grep { $r->{$_}[0] == 202 } keys %$r), $N, "again $N answered 202");

ok($t->wait_until(sub { keys %{ delivered() } >= 3 * $CONCURRENCY }, 30),
   'delivery under way');

$t->crash;

my @claimed = map { B24T->files("$spool/claim/$_") }
              B24T->files("$spool/claim");
cmp_ok(scalar(grep { /\.batch$/ } @claimed), '>=', 1,
       'a batch was claimed at the crash');
cmp_ok(scalar(grep { /\.batch\.done$/ } @claimed), '>=', 1,
       'with the ids of its events delivered so far');

sleep 0.5;    # the answers to the killed worker's calls still come in

my $before = delivered();
cmp_ok(scalar keys %$before, '<', $N, 'not all delivered before the crash');

$t->emu_config(latency_ms => 0);
$t->nginx($conf, %opts);

ok($t->wait_until(sub { keys %{ delivered() } == $N }, 60),
   'every event that got 202 delivered after the restart');

$got = delivered();
my $dups = 0;
$dups += $_ - 1 for values %$got;

cmp_ok($dups, '<=', $CONCURRENCY,
       "repeated only what was in flight at the crash ($dups)");
ok($t->wait_log(qr/the queued batch "[^"]+" was claimed before; the events then delivered are skipped/, 10),
   'the next claimer skipped what was delivered');
ok($t->wait_until(\&spool_empty, 10), 'the spool is empty afterwards');

# 3. a reload while the batch is being delivered

$t->emu_reset;
$t->emu_config(latency_ms => 300);

$r = burst(2001, $N);
is(scalar(grep { $r->{$_}[0] == 202 } keys %$r), $N, "again $N answered 202");

ok($t->wait_until(sub { keys %{ delivered() } >= $CONCURRENCY }, 30),
   'delivery under way');

$t->reload;

ok($t->wait_log(qr/the rest of the queued batch "[^"]+" returned to the queue on exit/, 20),
   'the old worker wrote the rest of its batch out');

$t->emu_config(latency_ms => 0);

ok($t->wait_until(sub { keys %{ delivered() } == $N }, 60),
   'every event delivered after the reload');

$got = delivered();
$dups = 0;
$dups += $_ - 1 for values %$got;

cmp_ok($dups, '<=', $CONCURRENCY, "repeated at most the calls in flight ($dups)");
ok($t->wait_until(\&spool_empty, 10), 'the spool is empty afterwards');
is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

$t->finish;

done_testing;
