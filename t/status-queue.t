#!/usr/bin/perl

# b24trigger_status shows the queue (events waiting, being delivered, the
# oldest one's age), the dead letters and each portal's bucket level.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $down = $t->held_port;
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1r/s burst=20;
    b24trigger_portal down http://127.0.0.1:$down/rest/1/%%SECRET%%/
                      connect_timeout=1s;
    b24trigger_queue $spool backoff=30s backoff_max=30s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target \$arg_target;

        location /sync  { b24trigger_pass main; }
        location /queue { b24trigger_pass main; b24trigger_delivery queue; }
        location /down  { b24trigger_pass down; b24trigger_delivery queue; }

        location = /status { b24trigger_status; }
    }
EOF

# the bucket: 6 sync calls in a burst leave about 6 in it

$t->post("/sync?target=DEAL_$_", '') for 1 .. 6;

my $j = $t->request('GET', '/status')->{json};
cmp_ok($j->{bucket_level}{main}, '>=', 5, 'bucket level after 6 calls');
cmp_ok($j->{bucket_level}{main}, '<=', 6, 'and not more');
is($j->{bucket_level}{down}, 0, 'an unused portal: empty bucket');

# the queue: 4 events for a portal that is down wait and age

$t->post("/down?target=DEAL_$_", '') for 1 .. 4;

# one permanent error: a dead letter

$t->post('/queue?target=FOO_5', '');

ok($t->wait_until(sub {
       my $j = $t->request('GET', '/status')->{json};
       ($j->{dead_letters}{$spool} || 0) == 1
           && ($j->{queue_waiting}{$spool} || 0) == 4
           && ($j->{queue_delivering}{$spool} || 0) == 0
   }, 15), 'status: 4 waiting, none delivering, 1 dead letter');

sleep 2.2;

$j = $t->request('GET', '/status')->{json};
cmp_ok($j->{queue_oldest_seconds}{$spool}, ">=", 2, "the oldest has aged")
    or diag(explain $j);

my $p = $t->request('GET', '/status?format=prometheus')->{body};
like($p, qr/^b24trigger_queue_waiting\{queue="\Q$spool\E"\} 4$/m,
     'prometheus: queue waiting');
like($p, qr/^b24trigger_dead_letters\{queue="\Q$spool\E"\} 1$/m,
     'prometheus: dead letters');
like($p, qr/^# TYPE b24trigger_bucket_level gauge$/m,
     'prometheus: bucket level is a gauge');

$t->finish;

done_testing;
