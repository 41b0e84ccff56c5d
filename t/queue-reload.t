#!/usr/bin/perl

# nginx -s reload and a binary upgrade (USR2, WINCH, QUIT of the old
# master) while queued webhooks arrive and are delivered to a slow portal:
# every 202 is delivered, and no alert is logged.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

plan(skip_all => 'binary upgrade under valgrind') if $ENV{B24_VALGRIND};

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

$t->emulator(args => ['--bucket', 0, '--latency', 100]);

# a binary upgrade needs a daemon: nginx ignores USR2 while the parent of
# the master is the one that started it

my $cf = $t->write_conf($conf, workers => 2);
my $text = $t->slurp($cf);
$text =~ s/daemon off;/daemon on;/ or die;
open my $fh, '>', $cf or die;
print $fh $text;
close $fh;

system($t->{nginx}, '-p', $t->dir, '-c', $cf, '-e',
       $t->dir . '/logs/error.log') == 0 or die "nginx did not start";
$t->wait_port($t->{port}, 10) or die "nginx did not listen";

# a sender that keeps sending: ids from $from, for $secs seconds

sub load {
    my ($from, $secs) = @_;

    my $file = $t->dir . "/accepted.$from";
    my $pid = fork();
    return ($pid, $file) if $pid;

    my ($id, @ok) = ($from);
    my $until = time + $secs;

    while (time < $until) {
        my @r = $t->concurrent(map { { path => '/hook?id=' . ($id + $_),
                                       body => '{}' } } 0 .. 9);
        push @ok, map { 'DEAL_' . ($id + $_) }
                  grep { $r[$_] && ($r[$_]{status} || 0) == 202 } 0 .. 9;
        $id += 10;
        sleep 0.05;
    }

    open my $fh, '>', $file or die;
    print $fh "$_\n" for @ok;
    close $fh;
    exit 0;
}

sub accepted {
    my ($file) = @_;
    return split /\n/, $t->slurp($file);
}

# reload under load

my ($pid, $file) = load(1000, 3);
sleep 1;
my @old = $t->worker_pids;
$t->reload(undef, nowait => 1);
sleep 0.5;
$t->reload(undef, nowait => 1);
waitpid($pid, 0);

my @reload = accepted($file);
cmp_ok(scalar @reload, '>', 50, scalar(@reload) . ' accepted around reloads');

ok($t->wait_until(sub { !grep { B24T::alive($_) } @old }, 20),
   'the old workers exited');

# binary upgrade under load: USR2, then WINCH and QUIT to the old master

($pid, $file) = load(100000, 3);
sleep 1;

my $old_master = $t->master_pid;
kill 'USR2', $old_master;

my $new_master;
ok($t->wait_until(sub {
    my $p = $t->slurp($t->dir . '/logs/nginx.pid');
    $p =~ /^(\d+)\n/ && $1 != $old_master && B24T::alive($1)
        && ($new_master = $1);
}, 10), 'a new master started');

ok($t->wait_until(sub { scalar($t->worker_pids) == 2 }, 10),
   'the new master has its workers');

kill 'WINCH', $old_master;
sleep 0.5;
kill 'QUIT', $old_master;

ok($t->wait_until(sub { !B24T::alive($old_master) }, 20),
   'the old master quit');

waitpid($pid, 0);

my @upgrade = accepted($file);
cmp_ok(scalar @upgrade, '>', 50,
       scalar(@upgrade) . ' accepted around the upgrade');

# everything accepted is delivered

my %got;
my @all = (@reload, @upgrade);

ok($t->wait_until(sub {
    %got = map { ($_->{target} => 1) }
           grep { ($_->{status} || 0) == 200 } @{ $t->calls };
    !grep { !$got{$_} } @all;
}, 60), 'every accepted webhook delivered');

is_deeply([grep { !$got{$_} } @all], [], 'none lost');

ok($t->wait_until(sub {
    !B24T->files("$spool/queue")
    && !grep { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim")
}, 10), 'the spool is empty afterwards');

# the master is not our child: stop it by hand

kill 'QUIT', $new_master;
ok($t->wait_until(sub { !B24T::alive($new_master) }, 20),
   'the new master quit');

is_deeply([B24T->files("$spool/claim")], [], 'no claim left');
unlike($t->error_log, qr/abandoned on exit/, 'no delivery abandoned');

$t->finish;

done_testing;
