#!/usr/bin/perl

# Every failure leaves one error-log line that says what happened and
# what to do, at the documented level, never with a secret.  The lines
# are compared whole (what doc/error-log.md quotes), the variable parts
# aside.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;
use B24TV qw(stripe_signature);

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $token = B24T::random_secret(16);
chmod 0711, $t->dir;

$t->emulator(args => ['--deny', 'DEAL_13']);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ timeout=1s;
    b24trigger_portal tight http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1r/m burst=1 wait=0;
    b24trigger_queue $spool backoff=100ms backoff_max=100ms;

    server {
        listen %%LISTEN%%;

        b24trigger_verify token header=X-Token;
        b24trigger_secret $token;
        b24trigger_target \$arg_target;

        location /hook  { b24trigger_pass main; }

        location /stripe {
            b24trigger_pass main;
            b24trigger_verify stripe;
            b24trigger_secret whsec_$token;
            b24trigger_unsigned \$arg_target;
        }
        location /tight { b24trigger_pass tight; }
        location /queue { b24trigger_pass main; b24trigger_delivery queue; }
    }
EOF

my @ok = ('X-Token' => $token);

# the messages of the error log: [level] and the text before ", client:"

sub lines {
    my @l;
    for (split /\n/, $t->error_log) {
        next unless /\[(info|notice|warn|error|crit|alert)\] \d+#\d+: (?:\*\d+ )?(b24trigger: .*)$/;
        my ($level, $msg) = ($1, $2);
        $msg =~ s/, client: .*$//;
        push @l, "[$level] $msg";
    }
    return @l;
}

sub one_line {
    my ($name, $re) = @_;
    my @m = grep { $_ =~ $re } lines();
    is(scalar @m, 1, "$name: exactly one line") or diag(join "\n", lines());
}

$t->post('/hook?target=DEAL_1', '{}', 'X-Token' => 'nope');
one_line('bad token', qr/^\Q[info] b24trigger: webhook rejected in location "\/hook": token_invalid (token does not match)\E$/);

my $event = '{"id":"evt_1"}';
$t->post('/stripe?target=DEAL_1', $event,
         'Stripe-Signature' => stripe_signature('whsec_wrong', $event));
one_line('bad signature', qr/^\Q[info] b24trigger: webhook rejected in location "\/stripe": signature_invalid (1 signature in "Stripe-Signature", none matches)\E$/);

$t->post('/hook?target=DEAL_x', '{}', @ok);
one_line('invalid target', qr/^\Q[error] b24trigger: invalid target "DEAL_x" in location "\/hook", expected TYPENAME_ID such as DEAL_57\E$/);

$t->post('/hook?target=DEAL_13', '{}', @ok);
one_line('portal error', qr/^\Q[error] b24trigger: portal "main" refused target "DEAL_13" code "" from location "\/hook": 403 ACCESS_DENIED "Access denied! There is no permissions to update the entity." (attempt 1); the webhook's user may not change this CRM object: give it the right, or use a webhook of a user who has it\E$/);

$t->post('/hook?target=LEAD_0', '{}', @ok);
$t->post('/hook?target=FOO_7', '{}', @ok);
one_line('target not found', qr/^\Q[error] b24trigger: portal "main" refused target "FOO_7" code "" from location "\/hook": 400 (no error code) "Target is not found." (attempt 1); check b24trigger_target: the portal has no such CRM object\E$/);

$t->emu_config(faults => ['hang']);
$t->post('/hook?target=DEAL_2', '{}', @ok);
one_line('timeout', qr/^\Q[error] b24trigger: portal "main" at "http:\/\/$t->{emu}\/rest\/1\/***\/" timed out: \EOperation timed out after \d+ milliseconds with 0 bytes received\Q; target "DEAL_2" from location "\/hook" not triggered (attempt 1); the portal did not answer within timeout= of b24trigger_portal\E$/);

$t->emu_config(faults => ['query_limit']);
$t->post('/hook?target=DEAL_3', '{}', @ok);
one_line('portal rate limit', qr/^\Q[error] b24trigger: portal "main" is rate limiting (QUERY_LIMIT_EXCEEDED "Too many requests"), target "DEAL_3" from location "\/hook" not triggered, the sender is asked to retry in 1 s; too many calls: lower rate= of b24trigger_portal, or use "b24trigger_delivery queue"\E$/);

$t->post('/tight?target=DEAL_4', '{}', @ok);
$t->post('/tight?target=DEAL_5', '{}', @ok);
one_line('own bucket', qr/^\Q[error] b24trigger: the bucket of portal "tight" is full, target "DEAL_5" from location "\/tight" not triggered, the sender is asked to retry in \E\d+\Q s; raise rate= and burst= of b24trigger_portal if the portal allows more, or use "b24trigger_delivery queue"\E$/);

$t->post('/queue?target=DEAL_13', '{}', @ok);
ok($t->wait_log(qr/moved to dead letters/, 10), 'dead letter written');
one_line('dead letter', qr/^\Q[error] b24trigger: queued event "\E[\w-]+\Q" for portal "main" target "DEAL_13" moved to dead letters after 1 attempt: portal_error (last: portal_error 403 "ACCESS_DENIED" "Access denied! There is no permissions to update the entity."); the webhook's user may not change this CRM object: give it the right, or use a webhook of a user who has it\E$/);

$t->finish;
$t->secret_nowhere;

my $log = $t->error_log;
ok(index($log, $token) < 0, 'no webhook token in the error log');

done_testing;
