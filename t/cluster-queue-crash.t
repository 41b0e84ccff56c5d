#!/usr/bin/perl

# The Redis queue when a node or Redis fails, two nodes of two workers:
# kill -9 of one node (master and workers) with accepted events not yet
# delivered (a slow portal): the other node takes its entries over after
# visibility= and delivers every one; Redis restarted (appendonly yes,
# appendfsync always) while events come in: every event answered 202 is
# delivered, exactly once, and none answered otherwise was.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);
$t->redis(aof => 1);

my $conf = <<'EOF2';
    b24trigger_cluster redis://%%REDIS%% prefix=c: timeout=1s;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000 timeout=10s;
    b24trigger_queue redis backoff=200ms backoff_max=1s visibility=3s
                     concurrency=8;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;

        location /q { b24trigger_pass main; b24trigger_delivery queue; }
        location = /status { b24trigger_status; }
    }
EOF2

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

sub targets {
    my ($re) = @_;
    my %n;
    $n{ $_->{target} }++ for grep { $_->{target} =~ $re } @{ $t->calls };
    return \%n;
}

# appendonly yes, appendfsync always: no warning

ok($t->wait_until(sub { $t->error_log =~ /b24trigger .* started/ }, 5),
   'started');
sleep 1;
unlike($t->error_log . $n2->error_log, qr/has appendonly|persistence/,
       'no persistence warning with appendfsync always');

# kill -9 of node 1 with 100 accepted events, a slow portal

$t->emu_config(latency_ms => 1500);

my @reqs = map { { path => "/q?id=$_", body => '{}',
                   port => $nodes[$_ % 2]->port } } 1 .. 100;
my @res = $t->concurrent(@reqs);
is(scalar(grep { $_->{status} == 202 } @res), 100, '100 accepted');

# node 1's workers hold entries, their calls in flight
sleep 0.5;
$t->crash;
unlink "$t->{dir}/logs/nginx.pid";
my $killed = time;

my $pending = $t->redis_cli('XINFO', 'CONSUMERS', 'c:queue', 'b24trigger');
ok(($pending =~ s/pending\n([1-9]\d*)/$1/g) >= 2,
   'node 1 held entries when it died') or diag($pending);

$t->emu_config(latency_ms => 0);

ok($n2->wait_until(sub { keys %{ targets(qr/^DEAL_\d+$/) } == 100 }, 3 + 15),
   'node 2 delivered all 100');
my $took = time - $killed;
ok($took < 3 + 10, sprintf('within visibility + 10 s (%.1f s)', $took));
ok($n2->wait_log(qr/\[warn\].*queued event\(s\) idle for more than 3000 ms taken over/, 10),
   'the takeover in the error log');

sleep 1;
my $tg = targets(qr/^DEAL_\d+$/);
my $calls = 0;
$calls += $_ for values %$tg;
ok($calls - 100 <= 2 * 8,
   "at most node 1's calls in flight made again (" . ($calls - 100) . ')');
ok($t->wait_until(sub { $t->redis_cli('XLEN', 'c:queue') =~ /^0$/m }, 5),
   'the stream is empty');

# Redis restarted while events come in: every 202 delivered once

$t->emu_reset;

my (%accepted, %refused);
my $i = 10000;
my $restarted = 0;

my $until = time + 6;
while (time < $until) {
    $i++;
    my $r = $n2->post("/q?id=$i", '{}');
    if ($r->{status} == 202) { $accepted{"DEAL_$i"} = 1 }
    else { $refused{"DEAL_$i"} = $r->{status} }
    sleep 0.02;

    if (!$restarted && time > $until - 4) {
        $restarted = 1;
        $t->stop_redis;
        $t->redis;
    }
}

ok(scalar(keys %accepted) > 20, scalar(keys %accepted) . ' accepted');
ok(scalar(keys %refused) >= 1,
   scalar(keys %refused) . ' refused while Redis was away');
is(scalar(grep { $_ != 503 } values %refused), 0, 'each with 503');

ok($n2->wait_until(sub {
        my $tg = targets(qr/^DEAL_\d{5,}$/);
        !grep { !$tg->{$_} } keys %accepted }, 20),
   'every event answered 202 delivered')
    or do {
        my $tg = targets(qr/^DEAL_\d{5,}$/);
        diag('missing: ', join ' ', grep { !$tg->{$_} } sort keys %accepted);
    };
sleep 1;
$tg = targets(qr/^DEAL_\d{5,}$/);
is(scalar(grep { $tg->{$_} > 1 } keys %$tg), 0, 'each exactly once');
is(scalar(grep { $tg->{$_} } keys %refused), 0, 'none of the refused');

like($n2->error_log, qr/cluster link .* is up again/, 'the link came back');

$t->stop;
$n2->secret_nowhere;
$n2->finish;
$t->secret_nowhere;
$t->{checked} = 1;
ok($t->error_log !~ /\[alert\]/, 'node 1: no alert') ;

done_testing();
