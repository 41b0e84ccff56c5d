#!/usr/bin/perl

# A spool that cannot take an event answers 503 and keeps nothing: never a
# 202 for what is not on disk.  max_size reached, a directory the workers
# cannot write; the dedup key of a refused webhook stays free.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $down = $t->held_port;
chmod 0711, $t->dir;

# the portal is down: nothing leaves the spool

$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal down http://127.0.0.1:$down/rest/1/%%SECRET%%/
                      connect_timeout=1s;
    b24trigger_queue $spool max_size=2k backoff=10s;
    b24trigger_dedup_zone events:32k;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass down;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_delivery queue;
            b24trigger_dedup events \$http_x_event_id;
        }
    }
EOF

# the events on disk, by id: a worker may move one from queue/ to its
# claim folder and back (the portal is down) while the folders are read,
# so the count is taken until two looks agree

sub events_once {
    my %id;
    for (grep { /\.json$/ } B24T->files("$spool/queue"),
         map { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim"))
    {
        my ($ev) = /(\d{13}-\d+-[0-9a-f]{8})\.json$/ or next;
        $id{$ev} = 1;
    }
    return sort keys %id;
}

sub events {
    my @last = events_once();
    for (1 .. 50) {
        my @now = events_once();
        return @now if "@now" eq "@last";
        @last = @now;
        sleep 0.05;
    }
    return @last;
}

# max_size: about 120 bytes an event, 2k fills after some 16

my ($ok, $r) = (0);

for my $i (1 .. 40) {
    $r = $t->post("/hook?id=$i", '{}', 'X-Event-Id' => "evt_$i");
    last if $r->{status} != 202;
    $ok++;
}

cmp_ok($ok, '>', 5, "$ok accepted before the spool was full");
cmp_ok($ok, '<', 40, 'then refused');
is($r->{status}, 503, 'full: 503');
is_deeply($r->{json}, { error => 'queue_full' }, 'full: body');
like($r->{headers}{'retry-after'}, qr/^\d+$/, 'full: Retry-After');

is(scalar(events()), $ok, 'full: exactly the accepted events on disk');
is_deeply([B24T->files("$spool/tmp")], [], 'full: nothing half-written');

like($t->error_log,
     qr/\[error\].*b24trigger: spool "[^"]+" cannot take the webhook for target "DEAL_\d+": max_size reached, answered 503/,
     'full: error log line');

# its key was not remembered: the sender's retry is judged afresh

my $refused = $ok + 1;
$r = $t->post("/hook?id=$refused", '{}', 'X-Event-Id' => "evt_$refused");
is($r->{status}, 503, 'full: the retry is refused again, not a duplicate');

# unwritable: the workers may not create files in tmp/

$t->quit(20);
system('rm', '-rf', $spool) == 0 or die;

$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal down http://127.0.0.1:$down/rest/1/%%SECRET%%/
                      connect_timeout=1s;
    b24trigger_queue $spool backoff=10s;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass down;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_delivery queue;
        }
    }
EOF

chmod 0500, "$spool/tmp";

$r = $t->post('/hook?id=1', '{}');
is($r->{status}, 503, 'unwritable: 503');
is_deeply($r->{json}, { error => 'queue_unavailable' }, 'unwritable: body');
is(scalar(events()), 0, 'unwritable: nothing claimed or queued');

like($t->error_log,
     qr/\[error\].*open\(\) "[^"]+\/tmp\/\d+\.[^"]+\.tmp" failed \(13: Permission denied\)/,
     'unwritable: the system error is logged');

like($t->error_log,
     qr/\[error\].*b24trigger: spool "[^"]+" cannot take the webhook for target "DEAL_1" \(13: Permission denied\)|cannot take the webhook for target "DEAL_1".*\(13: Permission denied\)/,
     'unwritable: error log line');

chmod 0700, "$spool/tmp";

$r = $t->post('/hook?id=2', '{}');
is($r->{status}, 202, 'writable again: 202');

$t->finish;

done_testing;
