#!/usr/bin/perl

# Issue 15, acceptance 7, the hard way: the primary is killed (kill -9,
# not a failover asked of the Sentinel as in cluster-queue-failover.t)
# under load, with replicas=1: a primary and two replicas (all with
# appendfsync always and a password), one Sentinel, two nginx nodes of
# two workers each.  A sender posts events to both nodes in turn,
# retrying a 503 as a provider would; midway the primary is killed.  The
# Sentinel promotes a replica and points the other at it; the nodes
# follow without a reload; every event answered 202 reaches the portal
# (0 lost) and each event is accepted in the end.  No [alert], no
# password in any log.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $dir = $t->dir;

$t->emulator(args => ['--bucket', 0]);
my $password = B24T::random_secret(24);
my $primary = $t->redis(password => $password, aof => 1);
open my $pw, '>', "$dir/redis-password" or die;
print $pw "$password\n";
close $pw;

# two replicas: once the primary is gone and one of them promoted, the
# other follows it, so that replicas=1 can be met again

my @replicas;

for my $n (1, 2) {
    my $port = $t->held_port;
    mkdir "$dir/replica$n";
    $t->{pids}{"replica$n"} = $t->spawn('redis-server', '--port', $port,
        '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
        '--appendfsync', 'always', '--dir', "$dir/replica$n",
        '--daemonize', 'no', '--logfile', "$dir/replica$n/redis.log",
        '--replicaof', '127.0.0.1', $primary,
        '--masterauth', $password, '--requirepass', $password);
    $t->wait_port($port, 10) or die "replica $n did not start";
    push @replicas, $port;
}

my $sport;

sub cli {
    my ($port, @args) = @_;
    local $ENV{REDISCLI_AUTH} = $password if $port != ($sport || 0);
    open my $fh, '-|', 'redis-cli', '-p', $port, @args or die;
    local $/;
    my $out = <$fh>;
    close $fh;
    return defined $out ? $out : '';
}

for my $port (@replicas) {
    ok($t->wait_until(sub { cli($port, 'INFO', 'replication')
                            =~ /master_link_status:up/ }, 20),
       "the replica on $port follows the primary");
}

$sport = $t->sentinel('mymaster');
my $name = "sentinel://127.0.0.1:$sport/mymaster";

my $conf = <<"EOF";
    b24trigger_cluster sentinel://127.0.0.1:$sport/mymaster
                       password=file:$dir/redis-password
                       prefix=f: timeout=1s replicas=1;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_queue redis visibility=3s backoff=200ms backoff_max=1s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_code paid;
        b24trigger_delivery queue;

        location /q { b24trigger_pass main; }
        location = /status { b24trigger_status; }
    }
EOF

$t->nginx($conf, workers => 2);
my $n2 = $t->node;
$n2->nginx($conf, workers => 2);
my @nodes = ($t, $n2);

for my $i (0, 1) {
    ok($t->wait_until(sub {
           ((($nodes[$i]->request('GET', '/status')->{json} || {})
             ->{cluster_up} || {})->{$name} || 0) == 1 }, 10),
       "node $i: linked to the primary");
}

# the sender: 300 events, to the nodes in turn; a 503 is retried (every
# 250 ms, at most 120 times: sooner than its Retry-After, to keep the
# test short), as a provider would; each event's final answer goes to a
# file

my $events = 300;
my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    open my $out, '>', "$dir/answers" or exit 1;
    $out->autoflush(1);
    for my $i (1 .. $events) {
        my $status = 0;
        for my $try (1 .. 120) {
            my $r = eval { $nodes[$i % 2]->post("/q?id=$i", '{}') };
            $status = $r ? $r->{status} : 0;
            last if $status == 202;
            sleep 0.25;
        }
        print $out "$i $status\n";
        sleep 0.01;
    }
    exit 0;
}

# midway, the primary dies

ok($t->wait_until(sub { -s "$dir/answers"
                        && (() = $t->slurp("$dir/answers") =~ /\n/g)
                           >= $events / 3 }, 60),
   'a third of the events answered');

kill 'KILL', $t->{pids}{redis};
my $killed = time;

my $promoted;
ok($t->wait_until(sub {
       my $a = cli($sport, 'SENTINEL', 'get-master-addr-by-name', 'mymaster');
       ($promoted) = grep { $a =~ /^$_$/m } @replicas;
       return $promoted }, 30),
   'the Sentinel promotes a replica');
diag(sprintf 'promoted %.1f s after the kill', time - $killed);

waitpid($pid, 0);
is($?, 0, 'the sender finished');

my %answer = map { split ' ' } split /\n/, $t->slurp("$dir/answers");
is(scalar(keys %answer), $events, 'every event answered');
my @accepted = grep { $answer{$_} == 202 } keys %answer;
is(scalar(@accepted), $events, 'every event accepted (after retries)');

# every 202 reaches the portal

my %got;
ok($t->wait_until(sub {
       %got = ();
       $got{$_->{target}}++
           for grep { ($_->{status} || 0) == 200 } @{ $t->calls };
       return !grep { !$got{"DEAL_$_"} } @accepted;
   }, 60), 'every event answered 202 is delivered');

my @lost = grep { !$got{"DEAL_$_"} } @accepted;
is(scalar(@lost), 0, '0 lost') or diag("lost: @lost[0 .. ($#lost > 9 ? 9 : $#lost)]");
my $again = grep { $_ > 1 } values %got;
diag("$again event(s) delivered more than once (an answer lost in the "
     . "failover)") if $again;

# delivery goes on after the failover: a new event through each node

for my $i (0, 1) {
    my $id = 10_000 + $i;
    my $r = $nodes[$i]->post("/q?id=$id", '{}');
    is($r->{status}, 202, "node $i: accepted after the failover");
    ok($t->wait_until(sub {
           grep { $_->{target} eq "DEAL_$id" && ($_->{status} || 0) == 200 }
               @{ $t->calls } }, 20),
       "node $i: delivered after the failover");
}

for my $n (@nodes) {
    $n->secret_nowhere('no Redis password, no portal secret in the logs',
                       $password, $t->secret);
}

$n2->finish;
$t->finish;

done_testing();
