#!/usr/bin/perl

# The portal's bucket across nodes: with b24trigger_cluster, a portal's
# leaky bucket is one for all nodes (bucket=cluster, the default), so two
# nodes together send no more than burst= at once; bucket=node keeps one
# per node.  A queued call counts in the cluster's bucket too.  The block
# of OPERATION_TIME_LIMIT that one node learns spares the portal the
# other node's calls.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);
$t->redis;

my $conf = <<'EOF';
    b24trigger_cluster redis://%%REDIS%% prefix=b:;
    b24trigger_portal main  http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1r/m burst=3 wait=0;
    b24trigger_portal apart http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1r/m burst=3 wait=0 bucket=node;
    b24trigger_portal otl   http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_portal wide  http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_queue %%TESTDIR%%/spool backoff=200ms backoff_max=1s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;

        location /main   { b24trigger_pass main; }
        location /queued { b24trigger_pass main;
                           b24trigger_delivery queue; }
        location /apart  { b24trigger_pass apart; }
        location /otl    { b24trigger_pass otl; }
        location /wide   { b24trigger_pass wide; }
        location = /status { b24trigger_status; }
    }
EOF

chmod 0711, $t->dir;
$t->nginx($conf, workers => 2);
my $n2 = $t->node;
chmod 0711, $n2->dir;
$n2->nginx($conf, workers => 2);

my @nodes = ($t, $n2);

for my $n (@nodes) {
    $n->wait_until(sub {
        (($n->request('GET', '/status')->{json} || {})->{cluster_up}
         || {})->{"redis://127.0.0.1:$t->{redis_port}"} }, 10);
}

sub calls_to {
    my ($re) = @_;
    return scalar grep { $_->{target} =~ $re } @{ $t->calls };
}

# a queued call on node 1 takes the first place

my $r = $t->post('/queued?id=100', '{}');
is($r->{status}, 202, 'queued');
ok($t->wait_until(sub { calls_to(qr/^DEAL_100$/) == 1 }, 10),
   'the queued call delivered');

# then sync calls to both nodes in turn: two places are left

my @got;
for my $i (1 .. 6) {
    $r = $nodes[$i % 2]->post("/main?id=$i", '{}');
    push @got, $r->{status};
}

is("@got", '200 200 503 503 503 503',
   'bucket=cluster: burst=3 for both nodes, the queued call counted');
is($r->{json}{error}, 'rate_limited', 'the refusal: rate_limited');
ok($r->{headers}{'retry-after'} >= 1, 'with Retry-After');
is(calls_to(qr/^DEAL_[1-6]$/), 2, 'the portal got two of them');

my $level = $t->redis_cli('HGET', 'b:bucket:main', 'level');
ok($level > 2900 && $level <= 3000, "the level is in Redis ($level)");

# bucket=node: burst=3 on each node

@got = ();
for my $i (11 .. 18) {
    $r = $nodes[$i % 2]->post("/apart?id=$i", '{}');
    push @got, $r->{status};
}

is("@got", '200 200 200 200 200 200 503 503', 'bucket=node: burst=3 each');
is($t->redis_cli('EXISTS', 'b:bucket:apart'), "0\n",
   'bucket=node: nothing in Redis');

# OPERATION_TIME_LIMIT on node 1 blocks node 2 too

$t->emu_config(faults => ['operation_time_limit']);

$r = $t->post('/otl?id=21', '{}');
is($r->{status}, 503, 'OPERATION_TIME_LIMIT: 503');
is($r->{json}{error}, 'portal_rate_limited', 'portal_rate_limited');

my $before = scalar @{ $t->calls };

$r = $n2->post('/otl?id=22', '{}');
is($r->{status}, 503, 'the other node: 503 as well');
is($r->{json}{error}, 'portal_rate_limited', 'portal_rate_limited');
ok($r->{headers}{'retry-after'} > 1, 'with the time left');
is(scalar @{ $t->calls }, $before, 'the portal was spared');

like($n2->error_log,
     qr/portal "otl" is blocked \(OPERATION_TIME_LIMIT\) for \d+ s/,
     'node 2 says the portal is blocked');

# the bucket's level is shown as Redis last said it

my $j = $n2->request('GET', '/status')->{json};
is($j->{bucket_level}{main}, 3, 'status: the shared level');

# a sender that goes away while its request waits for the bucket's answer

kill 'STOP', $t->{pids}{redis};
$t->abort_after(0.3, '/wide?id=30', '{}');
kill 'CONT', $t->{pids}{redis};

$r = $t->post('/wide?id=31', '{}');
is($r->{json}{result}, 'forwarded', 'after a sender gone: forwarded');

# Redis down: each node's own bucket, from the level Redis last gave

$t->stop_redis;
$t->wait_log(qr/cluster link .* is down/, 10);
$n2->wait_log(qr/cluster link .* is down/, 10);

$r = $n2->post('/wide?id=32', '{}');
is($r->{json}{result}, 'forwarded', 'Redis down: the node bucket admits');

$r = $n2->post('/main?id=33', '{}');
is($r->{status}, 503, 'Redis down: a bucket Redis said full stays full');

$n2->finish;
$t->finish;

done_testing();
