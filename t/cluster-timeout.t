#!/usr/bin/perl

# b24trigger_cluster when Redis hangs (stopped, its socket open): a
# webhook waits for Redis at most timeout=, then goes on with node-local
# de-duplication; the link is dropped and said down once, with why; when
# Redis answers again the link comes back by itself.  A reload and a
# graceful stop leave no socket behind and take no longer than usual.

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
    b24trigger_cluster redis://%%REDIS%% timeout=500ms;
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

# Redis hangs

kill 'STOP', $t->{pids}{redis};

my $start = time;
$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_t2');
my $took = time - $start;

is($r->{json}{result}, 'forwarded', 'Redis hung: forwarded all the same');
ok($took >= 0.4 && $took < 3, sprintf('after the timeout (%.2f s)', $took));

ok($t->wait_log(qr/cluster link to "\Q$name\E" is down \(127\.0\.0\.1:$rport: no reply within 500 ms\)/, 5),
   'the timeout said');

$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_t2');
is($r->{json}{result}, 'duplicate', 'Redis hung: node-local dedup');

$start = time;
$r = $t->post('/sync?id=3', '{}', 'X-Event-Id' => 'evt_t3');
ok(time - $start < 1.5, 'the link down: no wait for Redis any more');

# the reconnects meanwhile do not wait for a connect that hangs (the
# listen backlog accepts it) longer than the timeout, and say nothing

sleep 3;

my @down = grep { /is down/ } $t->log_lines('error');
is(scalar @down, 1, 'said once');

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
