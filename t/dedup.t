#!/usr/bin/perl

# b24trigger_dedup: a key forwarded or queued within ttl is answered
# {"result":"duplicate"} and nothing is sent; a failed attempt leaves the
# key free for the retry; a duplicate while the first is in flight gets
# 409 with Retry-After; a full zone forgets its oldest keys quietly; an
# empty key means no de-duplication.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_queue $spool;
    b24trigger_dedup_zone events:32k ttl=1h;
    b24trigger_dedup_zone short:32k ttl=2s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_dedup events \$http_x_event_id;

        location /sync  { b24trigger_pass main; }
        location /queue { b24trigger_pass main; b24trigger_delivery queue; }
        location /short {
            b24trigger_pass main;
            b24trigger_dedup short \$http_x_event_id;
        }
        location /none {
            b24trigger_pass main;
            b24trigger_dedup off;
        }
    }
EOF

sub sent { scalar @{ $t->calls } }

# a repeated key

my $r = $t->post('/sync?id=1', '{}', 'X-Event-Id' => 'evt_1');
is($r->{status}, 200, 'first: forwarded');

$r = $t->post('/sync?id=1', '{}', 'X-Event-Id' => 'evt_1');
is($r->{status}, 200, 'repeat: 200');
is_deeply($r->{json}, { result => 'duplicate' }, 'repeat: duplicate');
is(sent(), 1, 'repeat: nothing sent');

$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_2');
is($r->{json}{result}, 'forwarded', 'another key: forwarded');

# queued keys count too

$r = $t->post('/queue?id=3', '{}', 'X-Event-Id' => 'evt_3');
is($r->{status}, 202, 'queued');
$r = $t->post('/queue?id=3', '{}', 'X-Event-Id' => 'evt_3');
is_deeply($r->{json}, { result => 'duplicate' }, 'queued key: duplicate');
$r = $t->post('/sync?id=3', '{}', 'X-Event-Id' => 'evt_3');
is_deeply($r->{json}, { result => 'duplicate' },
          'the zone is shared by the locations');

# a failed first attempt: the retry is accepted (once the queued event
# is delivered, so that it cannot take the fault meant for the sync call)

$t->wait_until(sub { grep { ($_->{target} || '') eq 'DEAL_3' } @{ $t->calls } },
               20);
$t->emu_reset;
$t->emu_config(faults => ['http500']);

$r = $t->post('/sync?id=4', '{}', 'X-Event-Id' => 'evt_4');
is($r->{status}, 502, 'failed first attempt: 502');

$r = $t->post('/sync?id=4', '{}', 'X-Event-Id' => 'evt_4');
is($r->{status}, 200, 'retry after a failure: accepted');
is($r->{json}{result}, 'forwarded', 'retry after a failure: forwarded');
is(sent(), 2, 'both attempts reached the portal');

# in flight

$t->emu_reset;
$t->emu_config(latency_ms => 1000);

my $pid = fork();
if ($pid == 0) {
    my $r = $t->post('/sync?id=6', '{}', 'X-Event-Id' => 'evt_6');
    exit($r->{status} == 200 ? 0 : 1);
}

sleep 0.3;
$r = $t->post('/sync?id=6', '{}', 'X-Event-Id' => 'evt_6');
is($r->{status}, 409, 'in flight: 409');
is_deeply($r->{json}, { error => 'duplicate_in_flight' }, 'in flight: body');
like($r->{headers}{'retry-after'}, qr/^\d+$/, 'in flight: Retry-After');

waitpid($pid, 0);
is($? >> 8, 0, 'in flight: the first one forwarded');

$r = $t->post('/sync?id=6', '{}', 'X-Event-Id' => 'evt_6');
is_deeply($r->{json}, { result => 'duplicate' }, 'then: duplicate');

$t->emu_config(latency_ms => 0);

# an empty key: no de-duplication

$t->emu_reset;
$t->post('/sync?id=7', '{}') for 1 .. 2;
is(sent(), 2, 'no key: both forwarded');

$t->post('/none?id=8', '{}', 'X-Event-Id' => 'evt_8') for 1 .. 2;
is(sent(), 4, 'b24trigger_dedup off: both forwarded');

# ttl

$t->post('/short?id=9', '{}', 'X-Event-Id' => 'evt_9');
$r = $t->post('/short?id=9', '{}', 'X-Event-Id' => 'evt_9');
is($r->{json}{result}, 'duplicate', 'ttl: duplicate within it');
sleep 2.5;
$r = $t->post('/short?id=9', '{}', 'X-Event-Id' => 'evt_9');
is($r->{json}{result}, 'forwarded', 'ttl: forwarded after it');

# a full zone: the oldest keys go, no error

my $long = 'k' x 200;
my $errors = 0;

for my $i (1 .. 300) {
    $r = $t->post('/sync?id=10', '{}', 'X-Event-Id' => "$long$i");
    $errors++ unless $r->{status} == 200
                     && $r->{json}{result} eq 'forwarded';
}

is($errors, 0, 'a full zone: 300 keys, all forwarded');

$r = $t->post('/sync?id=10', '{}', 'X-Event-Id' => "${long}300");
is($r->{json}{result}, 'duplicate', 'a full zone: the newest remembered');

$r = $t->post('/sync?id=10', '{}', 'X-Event-Id' => "${long}1");
is($r->{json}{result}, 'forwarded', 'a full zone: the oldest forgotten');

unlike($t->error_log, qr/no memory|\[crit\]/, 'a full zone: no error');

like($t->error_log, qr/\[info\].*duplicate of "evt_1" not forwarded/,
     'duplicate logged at info');

$t->finish;

done_testing;
