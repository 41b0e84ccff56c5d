#!/usr/bin/perl

# Attacker review 8, rule "a 202 from the queue means the event is
# delivered eventually": a trigger code mapped from a body field is as
# long as the sender (or the provider's data) makes it, up to
# b24trigger_body_max.  Delivery refuses to read an event file larger
# than 64 KB ("not a queued event": a dead letter as it is), so a code of
# 70 KB used to be answered 202 and then never delivered, not even when
# the dead letter was replayed.  The SAFE outcome: the same answer in
# both delivery modes, never a 202 for what cannot be delivered; a code
# the portal can take still goes through the queue.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $token = B24T::random_secret(20);
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 1);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_queue $spool backoff=200ms;

    b24trigger_field \$code code;

    server {
        listen %%LISTEN%%;

        location /q {
            b24trigger_pass      main;
            b24trigger_verify    token header=X-Token;
            b24trigger_secret    $token;
            b24trigger_target    DEAL_\$arg_id;
            b24trigger_code      \$code;
            b24trigger_delivery  queue;
        }

        location /s {
            b24trigger_pass      main;
            b24trigger_verify    token header=X-Token;
            b24trigger_secret    $token;
            b24trigger_target    DEAL_\$arg_id;
            b24trigger_code      \$code;
        }
    }
EOF

my @h = ('Content-Type' => 'application/json', 'X-Token' => $token);

# a code that fits is queued and delivered

my $r = $t->post('/q?id=1', '{"code":"' . ('c' x 200) . '"}', @h);
is($r->{status}, 202, 'a code of 200 bytes: queued');
ok($t->wait_until(sub { grep { ($_->{target} || '') eq 'DEAL_1' }
                        @{ $t->calls } }, 10),
   'and delivered');

# a code of 70 KB: queued means delivered, else refused at once

my $long = 'c' x 70000;
$r = $t->post('/q?id=2', qq({"code":"$long"}), @h);

if ($r->{status} == 202) {
    ok($t->wait_until(sub { grep { ($_->{target} || '') eq 'DEAL_2' }
                            @{ $t->calls } }, 10),
       'a code of 70 KB: 202, so delivered')
        or diag('dead letters: ', join ' ', $t->files("$spool/dead"));
} else {
    is($r->{status}, 422, 'a code of 70 KB: refused, 422');
    is($r->{json} && $r->{json}{error}, 'code_invalid', 'code_invalid');
    is(scalar($t->files("$spool/queue")) + scalar($t->files("$spool/dead")),
       0, 'nothing in the spool');
}

# the same in sync mode: the same answer as queued

my $sr = $t->post('/s?id=3', qq({"code":"$long"}), @h);
is($sr->{status}, $r->{status} == 202 ? 200 : $r->{status},
   'sync answers a code of 70 KB as the queue does');

# a code of 1024 bytes of control characters (6 bytes each in the event's
# JSON) still fits an event file

my $ctl = "\\u0001" x 1024;
$r = $t->post('/q?id=4', qq({"code":"$ctl"}), @h);
is($r->{status}, 202, 'a code of 1024 control characters: queued');
ok($t->wait_until(sub { grep { ($_->{target} || '') eq 'DEAL_4' }
                        @{ $t->calls } }, 10),
   'and delivered');

is(scalar($t->files("$spool/dead")), 0, 'no dead letter');

$t->finish;

done_testing;
