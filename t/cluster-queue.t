#!/usr/bin/perl

# The queue as a Redis Stream (b24trigger_queue redis), two nodes of two
# workers each: refused without b24trigger_cluster; no 202 that Redis did
# not acknowledge (Redis down: 503 with Retry-After, back: 202 again
# without a reload; max_size reached: the spool's 503 queue_full); an
# entry in the stream that is not an event is a dead letter, never a call;
# events sent to both nodes at once are each delivered exactly once; a
# 5xx is retried at its due time, a 400 is a dead letter kept in Redis
# with its reason; Redis without appendfsync always is warned about; the
# stream's depth is in the status.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);

# refused without a cluster, and with a lookup

my ($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue redis;
    server {
        listen %%LISTEN%%;
        location /q { b24trigger_pass main; b24trigger_verify none;
                      b24trigger_target DEAL_1;
                      b24trigger_delivery queue; }
    }
EOF
isnt($rc, 0, 'nginx -t: b24trigger_queue redis without a cluster refused');
like($out, qr/"b24trigger_queue redis" needs "b24trigger_cluster"/,
     'saying what it needs');

($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_cluster redis://127.0.0.1:1;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue redis visibility=10ms;
EOF
isnt($rc, 0, 'visibility= under a second refused');
like($out, qr/invalid parameter "visibility=10ms"/, 'saying which');

$t->redis;

my $conf = <<'EOF';
    b24trigger_cluster redis://%%REDIS%% prefix=q: timeout=1s;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_portal slow http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=5r/s burst=1;
    b24trigger_lookup_zone orders:1m;
    b24trigger_queue redis max_size=60 backoff=300ms backoff_max=1s
                     visibility=3s concurrency=4;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;

        location /q { b24trigger_pass main; b24trigger_delivery queue;
                      b24trigger_target DEAL_$arg_id; }
        location /slow { b24trigger_pass slow; b24trigger_delivery queue;
                         b24trigger_target DEAL_$arg_id; }
        location /order {
            b24trigger_pass main;
            b24trigger_delivery queue;
            b24trigger_lookup deal UF_CRM_ORDER_ID $arg_order zone=orders
                              attempts=2;
        }
        location /gh {
            b24trigger_pass main;
            b24trigger_verify github;
            b24trigger_secret "It's a Secret to Everybody";
            b24trigger_target DEAL_$arg_deal;
            b24trigger_unsigned $arg_deal;
            b24trigger_delivery queue;
        }
        location = /status { b24trigger_status; }
        location = /manage { b24trigger_status manage=on; }
        
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
    return scalar grep { ($_->{target} // '') =~ $re } @{ $t->calls };
}

sub targets {
    my %n;
    $n{ $_->{target} }++ for @{ $t->calls };
    return \%n;
}

# Redis without appendfsync always: said once, by the first worker

ok($t->wait_log(qr/\[warn\].*"redis:\/\/127\.0\.0\.1:\d+\/?\d*" has appendonly "no" and appendfsync "everysec"/, 10),
   'the persistence settings warned about');
my @w = grep { /has appendonly/ } split /\n/, $t->error_log;
is(scalar @w, 1, 'once');

# an entry that is no event: a dead letter as it is, nobody called

$t->redis_cli('XADD', 'q:queue', '*', 'e', '{"id":"../../x","portal":1}');
$t->redis_cli('XADD', 'q:queue', '*', 'e', 'not json');
ok($t->wait_until(sub { $t->redis_cli('HLEN', 'q:queue:dead') =~ /^2$/m },
                  10), 'two entries that are no events: dead letters')
    or diag($t->redis_cli('HGETALL', 'q:queue:dead'),
            $t->redis_cli('XINFO', 'GROUPS', 'q:queue'));
is(scalar @{ $t->calls }, 0, 'the portal was not called');
like($t->error_log . $n2->error_log,
     qr/queue entry "\d+-\d+" is not an event .*moved to dead letters/,
     'said in the error log');
$t->redis_cli('DEL', 'q:queue:dead');

# only a verified webhook enters the stream: GitHub's documented vector,
# tampered, is refused and nothing reaches Redis or the portal

my $v1 = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b'
       . '043e17';
my $r = $t->post('/gh?deal=900', 'Hello, World?', 'X-Hub-Signature-256' => $v1);
is($r->{status}, 401, 'tampered: 401');
is($r->{json}{error}, 'signature_invalid', 'signature_invalid');
$r = $n2->post('/gh?deal=901', 'Hello, World!');
is($r->{status}, 401, 'unsigned: 401');
is($t->redis_cli('XLEN', 'q:queue'), "0\n", 'nothing in the stream');
$r = $t->post('/gh?deal=902', 'Hello, World!', 'X-Hub-Signature-256' => $v1);
is($r->{status}, 202, 'the vector as documented: 202');
ok($t->wait_until(sub { calls_to(qr/^DEAL_902$/) == 1 }, 10),
   'and delivered');
is(calls_to(qr/^DEAL_90[01]$/), 0, 'the refused ones never called');
$t->emu_reset;

# events sent to both nodes at once: each delivered once

my @reqs = map { { path => "/q?id=$_", body => '{}',
                   port => $nodes[$_ % 2]->port } } 1 .. 40;
my @res = $t->concurrent(@reqs);

is(scalar(grep { $_->{status} == 202 } @res), 40, '40 accepted with 202');
is(scalar(grep { ($_->{json}{result} || '') eq 'queued' } @res), 40,
   'each {"result":"queued"}');
my %ids = map { $_->{json}{id} => 1 } @res;
is(scalar keys %ids, 40, 'each with an id of its own');

ok($t->wait_until(sub { calls_to(qr/^DEAL_\d+$/) >= 40 }, 20),
   'all 40 delivered');
sleep 1;
my $tg = targets();
is(scalar(grep { $tg->{"DEAL_$_"} } 1 .. 40), 40, 'every target called');
is(scalar(grep { $tg->{"DEAL_$_"} != 1 } grep { $tg->{"DEAL_$_"} } 1 .. 40),
   0, 'each exactly once');
ok($t->wait_until(sub { $t->redis_cli('XLEN', 'q:queue') =~ /^0$/m }, 5),
   'the stream is empty: acknowledged and deleted')
    or diag($t->redis_cli('XRANGE', 'q:queue', '-', '+'));
like($t->redis_cli('XPENDING', 'q:queue', 'b24trigger'), qr/^0$/m,
     'nothing pending');

# which node delivers is the group's choice (whoever reads first): the
# two logs together say each delivery once, whichever node made it

my @by = map { scalar(() = $_->error_log
                        =~ /queued event "[^"]*" delivered to portal "main", target "DEAL_(?:[1-9]|[1-3]\d|40)"/g) }
         @nodes;
is($by[0] + $by[1], 40, 'the nodes logged 40 deliveries between them');
diag("delivered by node 1: $by[0], by node 2: $by[1]");

# b24trigger_lookup: the target found when the event is delivered; one
# found nowhere is tried "attempts=" times, then a dead letter

$t->emu_crm(items => [
    { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => 'A-1001' },
]);
$r = $n2->post('/order?order=A-1001', '{}');
is($r->{status}, 202, 'a lookup queued');
ok($t->wait_until(sub { calls_to(qr/^DEAL_57$/) == 1 }, 10),
   'delivered to the object found');
$r = $t->post('/order?order=Z-9', '{}');
my $nf_id = $r->{json}{id};
ok($t->wait_until(sub {
        $t->redis_cli('HGET', 'q:queue:dead', $nf_id)
            =~ /"reason":"target_not_found"/ }, 15),
   'found nowhere, twice: a dead letter target_not_found');
like($t->error_log . $n2->error_log,
     qr/target "\(lookup DEAL UF_CRM_ORDER_ID\)" failed \(attempt 1\): target_not_found 0 no DEAL with UF_CRM_ORDER_ID=Z-9/,
     'the first attempt retried');
$t->redis_cli('HDEL', 'q:queue:dead', $nf_id);
$t->emu_reset;

# a 5xx: retried when due; a 400: a dead letter in Redis with its reason

$t->emu_reset;
$t->emu_config(faults => ['http500']);
$r = $t->post('/q?id=501', '{}');
is($r->{status}, 202, 'queued');
ok($t->wait_until(sub { calls_to(qr/^DEAL_501$/) == 2 }, 10),
   '5xx: delivered again');
like($t->error_log . $n2->error_log,
     qr/queued event "[^"]+" for portal "main" target "DEAL_501" failed \(attempt 1\).*next attempt in \d+ ms/,
     'the retry in the error log');
is($t->redis_cli('ZCARD', 'q:queue:retry'), "0\n", 'no retry left');

$t->emu_config(faults => ['target_not_found']);
$r = $t->post('/q?id=502', '{}');
my $dead_id = $r->{json}{id};
ok($t->wait_until(sub {
        $t->redis_cli('HEXISTS', 'q:queue:dead', $dead_id) =~ /^1$/m }, 10),
   'a 400: a dead letter under its id');
my $letter = $t->redis_cli('HGET', 'q:queue:dead', $dead_id);
like($letter, qr/"reason":"portal_error"/, 'with its reason');
like($letter, qr/"target":"DEAL_502"/, 'and the event');
is(calls_to(qr/^DEAL_502$/), 1, 'called once');

# the status API lists it, from Redis, on either node; replay needs the
# token, and puts the letter back into the stream, where it is delivered

my $list = $n2->request('GET', '/status?view=dead&reason=portal_error');
is($list->{status}, 200, '?view=dead: 200');
is($list->{json}{total}, 1, 'one dead letter');
is($list->{json}{dead}[0]{id}, $dead_id, 'the one');
is($list->{json}{dead}[0]{dead}{reason}, 'portal_error', 'with its reason');
is(scalar @{ $n2->request('GET', '/status?view=dead&reason=expired')
             ->{json}{dead} }, 0, 'filtered by reason');

# a refused action costs no work in Redis: the caller is checked before
# the dead letters are read (HGETALL), not after

sub hgetall_calls {
    my ($calls) = $t->redis_cli('INFO', 'commandstats')
        =~ /^cmdstat_hgetall:calls=(\d+)/m;
    return $calls || 0;
}

my $hgetall = hgetall_calls();
$r = $t->request('POST', "/manage?action=replay&id=$dead_id");
is($r->{status}, 403, 'replay without the token: 403');
is($r->{json}{error}, 'token_invalid', 'token_invalid');
$r = $t->request('POST', "/manage?action=replay&id=$dead_id",
                 headers => ['Origin' => 'https://evil.example']);
is($r->{status}, 403, 'replay from another origin: 403');
is($r->{json}{error}, 'cross_site', 'cross_site');
is(hgetall_calls(), $hgetall, 'Redis was asked nothing for them');
is($t->redis_cli('HEXISTS', 'q:queue:dead', $dead_id), "1\n", 'still dead');

my $csrf = $t->request('GET', '/manage?view=token')->{json}{token};
$r = $t->request('POST', "/manage?action=replay&id=$dead_id",
                 headers => ['X-B24trigger-Token' => $csrf]);
is($r->{status}, 200, 'replay with the token: 200');
is_deeply($r->{json}{ids}, [$dead_id], 'the id replayed');
ok($t->wait_until(sub { calls_to(qr/^DEAL_502$/) == 2 }, 10),
   'replayed: delivered');
is($t->redis_cli('HEXISTS', 'q:queue:dead', $dead_id), "0\n",
   'no longer a dead letter');
like($t->error_log, qr/dead letter "\Q$dead_id\E" for target "DEAL_502" replayed through status location "\/manage"/,
     'the replay in the error log');

$r = $t->request('POST', "/manage?action=drop&id=$dead_id",
                 headers => ['X-B24trigger-Token' => $csrf]);
is($r->{status}, 404, 'gone: 404');

$t->emu_config(faults => ['target_not_found']);
$r = $t->post('/q?id=503', '{}');
my $drop_id = $r->{json}{id};
ok($t->wait_until(sub {
        $t->redis_cli('HEXISTS', 'q:queue:dead', $drop_id) =~ /^1$/m }, 10),
   'another dead letter');
$r = $t->request('POST', "/manage?action=drop&id=$drop_id",
                 headers => ['X-B24trigger-Token' => $csrf]);
is($r->{status}, 200, 'drop: 200');
ok($t->wait_until(sub {
        $t->redis_cli('HEXISTS', 'q:queue:dead', $drop_id) =~ /^0$/m }, 5),
   'dropped from Redis');
$t->emu_config(faults => ['target_not_found']);
$r = $t->post('/q?id=504', '{}');
my $keep_id = $r->{json}{id};
ok($t->wait_until(sub {
        $t->redis_cli('HEXISTS', 'q:queue:dead', $keep_id) =~ /^1$/m }, 10),
   'one more, kept for the status');

# the status: the stream's depth and the dead letters

ok($t->wait_until(sub {
        my $j = $t->request('GET', '/status')->{json};
        defined $j->{dead_letters}{redis} && $j->{dead_letters}{redis} == 1
        && defined $j->{queue_waiting}{redis}
        && $j->{queue_waiting}{redis} == 0 }, 5),
   'status: queue_waiting and dead_letters of "redis"');

# max_size=60 entries: the 61st is refused as a full spool is

$t->emu_config(mode => 'hang');
$t->redis_cli('ZADD', 'q:queue:retry', '9999999999999', "filler $_")
    for 1 .. 60;
$r = $t->post('/q?id=600', '{}');
is($r->{status}, 503, 'max_size reached: 503');
is($r->{json}{error}, 'queue_full', 'queue_full');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
like($t->error_log, qr/queue "redis" cannot take the webhook for target "DEAL_600": max_size reached/,
     'said in the error log');

ok($t->wait_until(sub {
        my $j = $n2->request('GET', '/status')->{json};
        ($j->{queue_waiting}{redis} || 0) >= 60 }, 5),
   'status: the depth');
like($n2->request('GET', '/status?format=prometheus')->{body},
     qr/^b24trigger_queue_waiting\{queue="redis"\} \d+/m,
     'metrics: b24trigger_queue_waiting{queue="redis"}');

$t->redis_cli('DEL', 'q:queue:retry');
$t->emu_config(mode => 'none');

# a reload while workers hold events waiting for the bucket: those are
# given back at once, and every event is delivered once

@res = $t->concurrent(map { { path => "/slow?id=8$_", body => '{}',
                              port => $nodes[$_ % 2]->port } } 10 .. 29);
is(scalar(grep { $_->{status} == 202 } @res), 20, '20 accepted for a slow '
                                                  . 'portal');
sleep 0.5;
$_->reload for @nodes;
ok($t->wait_until(sub { calls_to(qr/^DEAL_8[12]\d$/) >= 20 }, 15),
   'all delivered after the reload');
sleep 1;
$tg = targets();
is(scalar(grep { $tg->{"DEAL_8$_"} != 1 } 10 .. 29), 0, 'each once');
like($t->error_log . $n2->error_log,
     qr/\[notice\].*queued event\(s\) not started given back to the cluster on exit/,
     'the held ones given back on exit');

# the stream's key taken by something else: 503, said once per worker;
# the key free again: the group is made anew, 202

$t->redis_cli('DEL', 'q:queue');
$t->redis_cli('SET', 'q:queue', 'not a stream');
$r = $t->post('/q?id=650', '{}');
is($r->{status}, 503, 'the key is no stream: 503');
is($r->{json}{error}, 'queue_unavailable', 'queue_unavailable');
like($t->error_log, qr/target "DEAL_650": WRONGTYPE/, 'with Redis\'s reason');
sleep 1;
my $said = () = $t->error_log =~ /XREADGROUP of the queue "q:queue" failed: WRONGTYPE/g;
ok($said >= 1 && $said <= 2, "the refused read said once a worker ($said)");
$t->redis_cli('DEL', 'q:queue');
ok($t->wait_until(sub { $t->post('/q?id=651', '{}')->{status} == 202 }, 5),
   'the key free: 202');
ok($t->wait_until(sub { calls_to(qr/^DEAL_651$/) >= 1 }, 10),
   'and delivered: the group made anew');

# Redis down: 503 with Retry-After, never a 202; back: 202, no reload

$t->stop_redis;
$t->wait_log(qr/cluster link .* is down/, 10);

$r = $t->post('/q?id=700', '{}');
is($r->{status}, 503, 'Redis down: 503');
is($r->{json}{error}, 'queue_unavailable', 'queue_unavailable');
ok($r->{headers}{'retry-after'} >= 1, 'with Retry-After');
$r = $n2->post('/q?id=701', '{}');
is($r->{status}, 503, 'on the other node too');
$r = $n2->request('GET', '/status?view=dead');
is($r->{status}, 503, 'the dead letters cannot be read: 503');
is($r->{json}{error}, 'queue_unavailable', 'queue_unavailable');

$t->redis;
ok($t->wait_until(sub { $t->post('/q?id=702', '{}')->{status} == 202 }, 15),
   'Redis back: 202 without a reload');
ok($t->wait_until(sub { calls_to(qr/^DEAL_702$/) >= 1 }, 10),
   'and delivered');
is(calls_to(qr/^DEAL_70[01]$/), 0, 'the refused ones were not');

for my $n (@nodes) {
    $n->secret_nowhere;
    $n->finish;
}

done_testing();
