#!/usr/bin/perl

# Permanent failures of a queued delivery are not retried: 400 target
# errors, 401/403 credentials, 404 method, and events older than max_age
# go to PATH/dead as readable JSON with the reason and the last error.
# Moving a dead letter back into PATH/queue replays it.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $down = $t->held_port;
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0, '--deny', 'DEAL_13']);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_portal wrong http://%%EMU%%/rest/1/wrong%%SECRET%%/;
    b24trigger_portal down http://127.0.0.1:$down/rest/1/%%SECRET%%/
                      connect_timeout=1s;
    b24trigger_queue $spool max_age=3s backoff=200ms backoff_max=500ms;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target \$arg_target;
        b24trigger_delivery queue;

        location /main  { b24trigger_pass main; }
        location /wrong { b24trigger_pass wrong; }
        location /down  { b24trigger_pass down; }
    }
EOF

sub dead_letter {
    my ($id) = @_;
    my $file = "$spool/dead/$id.json";
    $t->wait_until(sub { -f $file }, 10) or return undef;
    my $text = $t->slurp($file);
    my $ev = eval { $B24T::JSON->decode($text) } or return undef;
    $ev->{_text} = $text;
    return $ev;
}

my @cases = (
    # name, path, fault, status, error, description
    ['target not found', '/main?target=FOO_5', undef, 400, '',
     'Target is not found.'],
    ['access denied', '/main?target=DEAL_13', undef, 403, 'ACCESS_DENIED',
     'Access denied! There is no permissions to update the entity.'],
    ['wrong credentials', '/wrong?target=DEAL_1', undef, 401,
     'INVALID_CREDENTIALS', 'Invalid request credentials'],
    ['method not found', '/main?target=DEAL_2', 'method_not_found', 404,
     'ERROR_METHOD_NOT_FOUND', 'Method not found!'],
    ['portal deleted', '/main?target=DEAL_3', 'portal_deleted', 403,
     'PORTAL_DELETED', 'Portal was deleted'],
    ['no auth', '/main?target=DEAL_4', 'no_auth_found', 401,
     'NO_AUTH_FOUND', 'Wrong authorization data'],
);

my %dead;

for my $c (@cases) {
    my ($name, $path, $fault, $status, $error, $desc) = @$c;

    $t->emu_reset;
    $t->emu_config(faults => [$fault]) if $fault;

    my $r = $t->post($path, '{}');
    is($r->{status}, 202, "$name: queued");

    my $ev = dead_letter($r->{json}{id});
    ok($ev, "$name: a dead letter") or next;

    is($ev->{dead}{reason}, 'portal_error', "$name: reason");
    is($ev->{last_error}{status}, $status, "$name: last status");
    is($ev->{last_error}{error}, $error, "$name: last error");
    is($ev->{last_error}{error_description}, $desc, "$name: description");
    is($ev->{attempts}, 1, "$name: one attempt, no retry");
    like($ev->{_text}, qr/\n  "/, "$name: indented for people");

    is(scalar @{ $t->calls }, 1, "$name: called once");

    $dead{$name} = $r->{json}{id};
}

like($t->error_log,
     qr/\[error\].*queued event "[^"]+" for portal "main" target "DEAL_13" moved to dead letters after 1 attempt: portal_error \(last: portal_error 403 "ACCESS_DENIED" "Access denied! There is no permissions to update the entity\."\)/,
     'dead letter: error log line');

# too old: the portal never answers within max_age

my $r = $t->post('/down?target=DEAL_9', '{}');
my $ev = dead_letter($r->{json}{id});

ok($ev, 'expired: a dead letter');
is($ev->{dead}{reason}, 'expired', 'expired: reason');
is($ev->{last_error}{outcome}, 'portal_unreachable', 'expired: last error');
cmp_ok($ev->{attempts}, '>', 1, "expired: after $ev->{attempts} attempts");

is_deeply([grep { /\.json$/ } B24T->files("$spool/queue")], [],
          'nothing left in the queue');

# replay: move the file back by hand

$t->emu_reset;

my $id = $dead{'method not found'};
rename "$spool/dead/$id.json", "$spool/queue/$id.json" or die;

ok($t->wait_until(sub {
    grep { ($_->{status} || 0) == 200 && $_->{target} eq 'DEAL_2' }
         @{ $t->calls }
}, 10), 'replayed dead letter delivered');

ok($t->wait_until(sub { !-f "$spool/queue/$id.json" }, 5),
   'and gone from the queue');
ok(!-f "$spool/dead/$id.json", 'and not dead again');

like($t->error_log, qr/\[notice\].*dead letter "\Q$id\E" replayed/,
     'replay logged');

$t->finish;

done_testing;
