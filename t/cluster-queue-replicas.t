#!/usr/bin/perl

# b24trigger_cluster replicas=1 with the Redis queue and a real replica:
# the sender gets 202 only once WAIT said the replica has the event (it
# is in the replica when the 202 arrives); with the replica gone, WAIT
# runs out and the sender gets 503 queue_unavailable, never 202, while
# the shared link (the de-duplication on it) is not held up by the WAIT;
# with a replica back, 202 again without a reload.  Redis asks for a
# password: it is in no reply and no log line.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);
# a password: AUTH on both links, never in a log
my $pw = 'rq' . B24T::random_secret(20);
open my $fh, '>', $t->dir . '/redis.pw' or die;
print $fh "$pw\n";
close $fh;

$t->redis(aof => 1, password => $pw);
my $replica = $t->redis_replica;

my $conf = <<'EOF2';
    b24trigger_cluster redis://%%REDIS%% password=file:%%TESTDIR%%/redis.pw
                       prefix=r: timeout=1s replicas=1;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue redis;
    b24trigger_dedup_zone events:1m;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;

        location /q { b24trigger_pass main; b24trigger_delivery queue; }
        location /s { b24trigger_pass main;
                      b24trigger_dedup events $arg_id; }
        location = /status { b24trigger_status; }
    }
EOF2

$t->nginx($conf, workers => 2);

$t->wait_until(sub {
    (($t->request('GET', '/status')->{json} || {})->{cluster_up}
     || {})->{"redis://127.0.0.1:$t->{redis_port}"} }, 10);

# the portal hangs: the entries stay in the stream, to be looked at

$t->emu_config(mode => 'hang');

my @ok;
for my $i (1 .. 10) {
    my $r = $t->post("/q?id=$i", '{}');
    push @ok, $r->{status};
    my $n = `redis-cli -p $replica XLEN r:queue`;
    chomp $n;
    is($n, $i, "202 #$i: the replica has it already") if $r->{status} == 202;
}
is("@ok", join(' ', (202) x 10), 'replicas=1, a replica: 202');

# the replica gone: WAIT runs out, 503, the shared link is not held

$t->stop_replica($replica);
$t->emu_config(mode => 'none');
sleep 1;

my $start = time;
my @res = $t->concurrent({ path => '/q?id=20', body => '{}' },
                         { path => '/s?id=21', body => '{}' });
is($res[0]{status}, 503, 'no replica: 503');
is($res[0]{json}{error}, 'queue_unavailable', 'queue_unavailable');
ok($res[0]{headers}{'retry-after'}, 'with Retry-After');
like($t->error_log,
     qr/queue "redis" cannot take the webhook for target "DEAL_20": the replicas did not acknowledge it within the time \(WAIT\), answered 503/,
     'said in the error log');

ok($res[1]{elapsed} < $res[0]{elapsed} || $res[1]{elapsed} < 0.4,
   sprintf('a sync webhook (dedup in Redis) meanwhile was not held up by '
           . 'WAIT (%.2f s, the queued one %.2f s)', $res[1]{elapsed},
           $res[0]{elapsed}));
is($res[1]{json}{result}, 'forwarded', 'and forwarded');

# many at once: one WAIT at a time, each answered within the timeout

@res = $t->concurrent(map { { path => "/q?id=4$_", body => '{}' } } 1 .. 8);
is(join(' ', map { $_->{status} } @res), join(' ', (503) x 8),
   'eight at once without a replica: each 503');
my @waited = grep { /DEAL_4\d": the replicas did not acknowledge/ }
             split /\n/, $t->error_log;
is(scalar @waited, 8, 'each refused for want of replicas, none for a '
                      . 'link given up');

# a replica back: 202 again, no reload

$replica = $t->redis_replica;
ok($t->wait_until(sub { $t->post('/q?id=30', '{}')->{status} == 202 }, 10),
   'a replica back: 202');
ok($t->wait_until(sub {
        grep { $_->{target} eq 'DEAL_30' } @{ $t->calls } }, 10),
   'and delivered');

$t->secret_nowhere;
$t->secret_nowhere('no Redis password in replies or logs', $pw);
$t->finish;

done_testing();
