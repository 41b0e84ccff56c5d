#!/usr/bin/perl

# b24trigger_alert: a queued event that goes to the dead letters, or a
# spike of refused webhooks, is told to a portal user inside Bitrix24
# with im.notify.system.add (the emulator records it): once per dead
# letter, and at most one message per every= under a burst, which the
# next message sums up; never a secret in a message.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0, '--deny', 'DEAL_13']);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_portal quiet http://%%EMU%%/rest/2/%%SECRET%%/;
    b24trigger_queue $spool backoff=100ms backoff_max=200ms;
    b24trigger_alert main to=7 on=all every=3s threshold=3;
    b24trigger_alert quiet to=9 on=dead;

    server {
        listen %%LISTEN%%;

        b24trigger_verify token header=X-Token;
        b24trigger_secret $token;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_delivery queue;

        location /hook  { b24trigger_pass main; }
        location /quiet { b24trigger_pass quiet; }
    }
EOF

sub notes {
    return grep { $_->{method} eq 'im.notify.system.add' } @{ $t->calls };
}

sub dead_letter {
    my ($path) = @_;
    my $r = $t->post($path, '{}', 'X-Token' => $token);
    return $r->{json}{id};
}

# one dead letter: one message, at once

my $id = dead_letter('/hook?id=13');
ok($t->wait_until(sub { notes() >= 1 }, 10), 'dead letter: a message');
my $first = time;

my ($n) = notes();
is($n->{status}, 200, 'the portal took it');
is($n->{user}, '1', 'through the portal\'s webhook');
is($n->{params}{USER_ID}, 7, 'to the user of to=');
like($n->{params}{MESSAGE}, qr/1 queued event of portal "main" went to the dead letters \(the last: \Q$id\E, DEAL_13; portal_error, ACCESS_DENIED\)/,
     'what happened, which event');

sleep 1;
is(scalar(notes()), 1, 'once per dead letter');

# a burst of five within every=3s: one more message, the sum

my @ids = map { dead_letter("/hook?id=13&n=$_") } 1 .. 5;
ok($t->wait_until(sub {
    (grep { -f "$spool/dead/$_.json" } @ids) == 5
}, 10), 'five more dead letters');
is(scalar(notes()), 1, 'the burst: nothing before every=');

ok($t->wait_until(sub { notes() >= 2 }, 10), 'the burst: then a message');
my $second = time;
cmp_ok($second - $first, '>=', 2.5, 'not before every= since the first');

my @n = notes();
like($n[1]{params}{MESSAGE}, qr/ 5 queued events of portal "main" went to the dead letters/,
     'the burst summed up in one message');

sleep 1;
is(scalar(notes()), 2, 'no more for the burst');

# refusals: a spike of three within every= (threshold=3) is told; two
# are not, nor three spread over more than every=

my $wrong = $t->post('/quiet?id=1', '{}', 'X-Token' => 'wrong-token');
is($wrong->{status}, 401, 'refused');
$t->post('/hook?id=1', '{}', 'X-Token' => "wrong-$_") for 1 .. 2;
sleep 3.5;
is(scalar(notes()), 2, 'two refusals: no message');

$t->post('/hook?id=1', '{}', 'X-Token' => 'wrong-3');
sleep 1;
is(scalar(notes()), 2, 'three over more than every=: no message');

$t->post('/hook?id=1', '{}', 'X-Token' => "wrong-$_") for 4 .. 5;
ok($t->wait_until(sub { notes() >= 3 }, 10), 'three within every=: a message');
@n = notes();
like($n[2]{params}{MESSAGE}, qr/ 3 webhooks for portal "main" were refused within \d+ s \(the last: location \/hook, token_invalid\)/,
     'the spike, where and why');
is($n[2]{params}{USER_ID}, 7, 'to the same user');

# a portal with on=dead hears of its dead letters only

dead_letter('/quiet?id=13');
ok($t->wait_until(sub { grep { $_->{params}{USER_ID} == 9 } notes() }, 10),
   'on=dead: its own message');
my @quiet = grep { $_->{params}{USER_ID} == 9 } notes();
is(scalar @quiet, 1, 'on=dead: one');
like($quiet[0]{params}{MESSAGE}, qr/portal "quiet" went to the dead letters/,
     'on=dead: about its portal');
is($quiet[0]{user}, '2', 'on=dead: through its own portal');

# no secret in a message, in the log a line per message

for my $m (notes()) {
    my $text = $m->{params}{MESSAGE};
    ok(index($text, $token) < 0 && index($text, $t->secret) < 0
       && index($text, '***') < 0, "no secret in message $m->{seq}");
}

like($t->error_log, qr/\[notice\] .*alert sent to user 7 of portal "main": 5 dead letters, 0 refused webhooks/,
     'a notice per message');

$t->finish;
$t->secret_nowhere;

done_testing;
