#!/usr/bin/perl

# b24trigger_cluster: two nginx nodes of two workers each share one
# de-duplication key space in Redis.  200 webhooks, each sent twice and
# sprayed over both nodes at once, reach the portal exactly once each.
# Redis down: the nodes go on forwarding with node-local de-duplication,
# and each says so once in its error log; Redis back: the key space is
# shared again without a reload, and each node says so once.  The status
# page shows the link, its latency and the reconnects.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);
my $rport = $t->redis;
my $name = "redis://127.0.0.1:$rport/3";

my $conf = <<'EOF';
    b24trigger_cluster redis://%%REDIS%%/3 prefix=t1: timeout=1s;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_dedup_zone events:1m ttl=1h;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;
        b24trigger_dedup events $http_x_event_id;

        location /sync { b24trigger_pass main; }
        location = /status { b24trigger_status; }
    }
EOF

$t->nginx($conf, workers => 2);
my $n2 = $t->node;
$n2->nginx($conf, workers => 2);

my @nodes = ($t, $n2);

sub status {
    my ($n) = @_;
    return $n->request('GET', '/status')->{json} || {};
}

sub link_up {
    my ($n) = @_;
    return (status($n)->{cluster_up} || {})->{$name};
}

for my $i (0, 1) {
    ok($t->wait_until(sub { defined link_up($nodes[$i])
                            && link_up($nodes[$i]) == 1 }, 10),
       "node $i: link up in the status");
}

# 200 webhooks, each twice, the copies on different nodes at once; a 409
# (the other copy in flight) is retried as a sender would

my @answers;
my (%result, @retry);

for my $batch (0 .. 3) {
    my @reqs;

    for my $i ($batch * 50 + 1 .. $batch * 50 + 50) {
        for my $copy (0, 1) {
            push @reqs, { path => "/sync?id=$i",
                          port => $nodes[($i + $copy) % 2]->port,
                          headers => ['X-Event-Id' => "evt_$i"],
                          body => '{}', id => $i };
        }
    }

    my @r = $t->concurrent(@reqs);

    for my $k (0 .. $#reqs) {
        my $r = $r[$k];
        my $id = $reqs[$k]{id};

        if (($r->{status} || 0) == 409) {
            push @retry, $reqs[$k];
            next;
        }

        push @{ $result{$id} }, ($r->{json} || {})->{result}
                                || "status " . ($r->{status} || 'none');
    }
}

my $conflicts = @retry;

for my $q (@retry) {
    my $r;

    for (1 .. 50) {
        $r = B24T::http_request('127.0.0.1', $q->{port}, 'POST', $q->{path},
                                body => $q->{body}, headers => $q->{headers});
        last unless ($r->{status} || 0) == 409;
        sleep 0.1;
    }

    push @{ $result{$q->{id}} }, ($r->{json} || {})->{result}
                                 || "status " . ($r->{status} || 'none');
}

note("$conflicts copies met their twin in flight (409) and were retried");

my @bad = grep {
    join(',', sort @{ $result{$_} || [] }) ne 'duplicate,forwarded'
} 1 .. 200;

is(scalar @bad, 0, 'each webhook: one forwarded, one duplicate')
    or diag(join "\n", map { "$_: @{ $result{$_} || [] }" } @bad[0 .. 4]);

my %calls;
$calls{ $_->{target} }++ for @{ $t->calls };

is(scalar keys %calls, 200, 'the portal got 200 targets');
is(scalar(grep { $calls{$_} != 1 } keys %calls), 0,
   'each target exactly once');

my $keys = $t->redis_cli('-n', 3, '--scan', '--pattern', 't1:events:*');
is(scalar(split /\n/, $keys), 200, 'the 200 keys are in Redis, prefixed');

like($t->redis_cli('-n', 3, 'GET', 't1:events:evt_7'), qr/^d$/m,
     'a key forwarded is marked done');

my $ttl = $t->redis_cli('-n', 3, 'TTL', 't1:events:evt_7');
chomp $ttl;
ok($ttl > 3500 && $ttl <= 3600, "its ttl is the zone's ($ttl)");

my $s = status($t);
ok(exists $s->{cluster_latency_seconds}{$name}, 'status: latency shown');

my $p = $t->request('GET', '/status?format=prometheus')->{body};
like($p, qr/^b24trigger_cluster_up\{cluster="\Q$name\E"\} 1$/m,
     'prometheus: link up');
like($p, qr/^b24trigger_cluster_latency_seconds\{cluster="\Q$name\E"\} \d+\.\d{3}$/m,
     'prometheus: latency in seconds');

# Redis down: sync mode goes on with node-local de-duplication (the
# lines counted are those written from now on: a slow start, under
# valgrind, may have said a first timeout already)

my @mark = map { length $_->error_log } @nodes;

sub since {
    my ($i, $level) = @_;
    my $log = substr($nodes[$i]->error_log, $mark[$i]);
    return grep { /\[$level\]/ } split /\n/, $log;
}

$t->stop_redis;

for my $i (0, 1) {
    ok($t->wait_until(sub { defined link_up($nodes[$i])
                            && link_up($nodes[$i]) == 0 }, 10),
       "node $i: link down in the status");
}

my $r = $t->post('/sync?id=1001', '{}', 'X-Event-Id' => 'evt_down');
is($r->{json}{result}, 'forwarded', 'Redis down: forwarded');

$r = $t->post('/sync?id=1001', '{}', 'X-Event-Id' => 'evt_down');
is($r->{json}{result}, 'duplicate', 'Redis down: node-local dedup');

$r = $n2->post('/sync?id=1002', '{}', 'X-Event-Id' => 'evt_down2');
is($r->{json}{result}, 'forwarded', 'Redis down: the other node forwards');

# the workers keep trying meanwhile; still one line per node

sleep 2;

for my $i (0, 1) {
    my @down = grep { /cluster link to "\Q$name\E" is down/ }
               since($i, 'error');
    is(scalar @down, 1, "node $i: the link down said once");
}

# Redis back (empty: it kept nothing): shared again, no reload

$t->redis;

for my $i (0, 1) {
    ok($nodes[$i]->wait_log(qr/cluster link to "\Q$name\E" is up again/, 15),
       "node $i: the link back said");
}

for my $i (0, 1) {
    ok($t->wait_until(sub { (link_up($nodes[$i]) || 0) == 1 }, 10),
       "node $i: link up again in the status");
}

$r = $n2->post('/sync?id=1003', '{}', 'X-Event-Id' => 'evt_back');
is($r->{json}{result}, 'forwarded', 'Redis back: forwarded');

$r = $t->post_settled('/sync?id=1003', '{}', 'X-Event-Id' => 'evt_back');
is($r->{json}{result}, 'duplicate', 'Redis back: the other node knows it');

like($t->redis_cli('-n', 3, 'GET', 't1:events:evt_back'), qr/^d$/m,
     'Redis back: the key is in Redis');

for my $i (0, 1) {
    my @up = grep { /is up again/ } since($i, 'notice');
    is(scalar @up, 1, "node $i: the link back said once");
    ok(status($nodes[$i])->{cluster_reconnects}{$name} >= 1,
       "node $i: reconnects counted");
}

my $sent = grep { $_->{target} =~ /^DEAL_100[123]$/ } @{ $t->calls };
is($sent, 3, 'the portal got each of the three once');

$n2->finish;
$t->finish;

done_testing();
