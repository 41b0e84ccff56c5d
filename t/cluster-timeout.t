#!/usr/bin/perl

# b24trigger_cluster when Redis hangs (stopped, its socket open): a
# webhook waits for Redis at most timeout=, then goes on with node-local
# de-duplication; the link is dropped and said down once, with why; when
# Redis answers again the link comes back by itself, also when a worker
# died and was started again meanwhile.  A sender that goes away while
# its request waits for Redis leaves no key in flight behind.  A reload
# and a graceful stop leave no socket behind.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);
my $rport = $t->redis;
my $name = "redis://127.0.0.1:$rport";

my $conf = <<'EOF';
    b24trigger_cluster redis://%%REDIS%% timeout=1500ms;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m ttl=10m;

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

sub up {
    return (($t->request('GET', '/status')->{json} || {})->{cluster_up}
            || {})->{$name};
}

ok($t->wait_until(\&up, 10), 'link up');

my $r = $t->post('/sync?id=1', '{}', 'X-Event-Id' => 'evt_t1');
is($r->{json}{result}, 'forwarded', 'forwarded through Redis');

# the sender goes away while its request waits for Redis, which then
# answers: the key set for nobody is given back

kill 'STOP', $t->{pids}{redis};
$t->abort_after(0.3, '/sync?id=9', '{}', 'X-Event-Id' => 'evt_gone');
sleep 0.2;
kill 'CONT', $t->{pids}{redis};

ok($t->wait_until(sub {
       $t->redis_cli('EXISTS', 'b24t:events:evt_gone') eq "0\n" }, 5),
   'sender gone: no key left in flight');

$r = $t->post('/sync?id=9', '{}', 'X-Event-Id' => 'evt_gone');
is($r->{json}{result}, 'forwarded', 'sender gone: its retry is forwarded');

# Redis hangs

kill 'STOP', $t->{pids}{redis};

my $start = time;
$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_t2');
my $took = time - $start;

is($r->{json}{result}, 'forwarded', 'Redis hung: forwarded all the same');
ok($took >= 1.4 && $took < 4, sprintf('after the timeout (%.2f s)', $took));

ok($t->wait_log(qr/cluster link to "\Q$name\E" is down \(127\.0\.0\.1:$rport: no reply within 1500 ms\)/, 5),
   'the timeout said');

$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_t2');
is($r->{json}{result}, 'duplicate', 'Redis hung: node-local dedup');

# the reconnects meanwhile do not wait for a connect that hangs (the
# listen backlog accepts it) longer than the timeout, and say nothing;
# the other worker, idle, finds out by its PING

sleep 3;

$start = time;
$r = $t->post('/sync?id=3', '{}', 'X-Event-Id' => 'evt_t3');
ok(time - $start < 1.2, 'the link down: no wait for Redis any more');

my @down = grep { /is down/ } $t->log_lines('error');
is(scalar @down, 1, 'said once');

# a worker dies meanwhile; the one started in its place counts itself

$t->{allow_alerts} = qr/exited on signal 9/;
my ($victim) = $t->worker_pids;
kill 'KILL', $victim;
ok($t->wait_until(sub { my @w = $t->worker_pids;
                        @w == 2 && !grep { $_ == $victim } @w }, 10),
   'the worker is started again');
sleep 2;

kill 'CONT', $t->{pids}{redis};

ok($t->wait_log(qr/cluster link to "\Q$name\E" is up again/, 15),
   'Redis answers again: the link is back');

$r = $t->post('/sync?id=4', '{}', 'X-Event-Id' => 'evt_t4');
is($r->{json}{result}, 'forwarded', 'forwarded');
like($t->redis_cli('GET', 'b24t:events:evt_t4'), qr/^d$/m,
     'the key is in Redis again');

# a reload: the old workers close their link and go

$t->reload($conf, workers => 2);
ok($t->wait_until(\&up, 10), 'after a reload: link up');

$r = $t->post('/sync?id=5', '{}', 'X-Event-Id' => 'evt_t5');
is($r->{json}{result}, 'forwarded', 'after a reload: forwarded');

my $quit = $t->quit;
ok($quit >= 0 && $quit < 5, sprintf('graceful stop (%.2f s)', $quit));

unlike($t->error_log, qr/open socket|left in connection/,
       'no socket left behind');

$t->finish;

done_testing();
