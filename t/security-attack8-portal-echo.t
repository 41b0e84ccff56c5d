#!/usr/bin/perl

# Attacker review 8, rule "secrets never in a reply, header, log line or
# file": a portal (or a proxy before it) whose error answer quotes the
# request, token included, as
#   {"error":"ACCESS_DENIED","error_description":"... /rest/1/TOKEN/..."}
# and a portal that fails in the other ways (refused, a hang past
# timeout=, an HTML 500).  What the portal says is passed on: to the
# sender (502 portal_error_description), the journal (the ring the status
# API and the dashboard read, and its file), the dead letters, the error
# log.  The token must be in none of them, sync or queued.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;

# a secret's absence, said without printing it (as B24T's secret_nowhere)
sub nowhere {
    my ($text, $secret, $name) = @_;
    ok(index($text, $secret) < 0, $name);
}

my $t = B24T->new;
my $dir = $t->dir;
my $secret = $t->secret;
my $spool = "$dir/spool";
my $down = $t->held_port;
chmod 0711, $dir;
mkdir "$dir/j";
chmod 0777, "$dir/j";

my $echo = "Access denied for POST /rest/1/$secret/crm.automation.trigger"
           . " (https://b24.example/rest/1/$secret/)";

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 1);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_portal down http://127.0.0.1:$down/rest/1/%%SECRET%%/
                      connect_timeout=1s;
    b24trigger_portal slow http://%%EMU%%/rest/1/%%SECRET%%/
                      timeout=1s;
    b24trigger_queue $spool backoff=10s;
    b24trigger_journal $dir/j/journal.jsonl;

    server {
        listen %%LISTEN%%;

        location /sync {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location /queued {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_delivery queue;
        }

        location /down {
            b24trigger_pass down;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location /slow {
            b24trigger_pass slow;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF

# sync: the portal's error quotes the token

$t->emu_config(faults => [{ mode => 'access_denied',
                              error_description => $echo }]);

my $r = $t->post('/sync?id=1', '{}');
is($r->{status}, 502, 'sync: the portal refused: 502');
is($r->{json} && $r->{json}{portal_error}, 'ACCESS_DENIED',
   'sync: its error is passed on');
nowhere($r->{raw}, $secret, 'sync: the token is not in the reply');
like($r->{json} && $r->{json}{portal_error_description} || '',
     qr/Access denied for POST/, 'sync: the rest of the description is');

# the other failures, sync

$r = $t->post('/down?id=2', '{}');
is($r->{status}, 502, 'refused connection: 502');

$t->emu_config(faults => ['hang']);
$r = $t->post('/slow?id=3', '{}');
is($r->{status}, 504, 'a hang past timeout=: 504');

$t->emu_config(faults => ['html502', 'http500']);
$r = $t->post('/sync?id=4', '{}');
is($r->{status}, 502, 'an HTML 502: 502');
$r = $t->post('/sync?id=5', '{}');
is($r->{status}, 502, 'a JSON 500: 502');

# queued: a permanent error quoting the token makes a dead letter

$t->emu_config(faults => [{ mode => 'access_denied',
                              error_description => $echo }]);

$r = $t->post('/queued?id=6', '{}');
is($r->{status}, 202, 'queued: 202');

ok($t->wait_until(sub { $t->files("$spool/dead") >= 1 }, 10),
   'queued: a dead letter');

my @dead = map { $t->slurp("$spool/dead/$_") } $t->files("$spool/dead");
is(scalar @dead, 1, 'one dead letter');
like($dead[0] || '', qr/Access denied for POST/,
     'the dead letter keeps the description');
nowhere(join('', @dead), $secret, 'the token is not in it');

# what the status API, the dashboard's source, shows

my $events = $t->request('GET', '/status?view=events');
is($events->{status}, 200, 'status API: events');
like($events->{body}, qr/Access denied for POST/,
     'status API: the description is there');
nowhere($events->{raw}, $secret, 'status API: not the token');

my $deadv = $t->request('GET', '/status?view=dead');
is($deadv->{status}, 200, 'status API: dead letters');
nowhere($deadv->{raw}, $secret,
       'status API, dead letters: not the token');

my $status = $t->request('GET', '/status');
nowhere($status->{raw}, $secret, 'status counters: not the token');

ok($t->wait_until(sub { -s "$dir/j/journal.jsonl" }, 5),
   'the journal file is written');
sleep 1.2;

my $journal = $t->slurp("$dir/j/journal.jsonl");
like($journal, qr/Access denied for POST/,
     'the journal file has the description');
nowhere($journal, $secret, 'the journal file: not the token');

nowhere(join('', map { $t->slurp("$spool/queue/$_") }
                 $t->files("$spool/queue")),
        $secret, 'the spool: not the token');

$t->finish;
$t->secret_nowhere('the token in no reply, header or log');

# an OAuth portal: the access token of the moment (refreshed at run time,
# so unknown when the configuration was loaded) quoted by the portal

my $o = B24T->new;
my $odir = $o->dir;
my $csecret = B24T::random_secret(32);
chmod 0711, $odir;
mkdir "$odir/oauth";
chmod 0777, "$odir/oauth";

$o->emulator(args => ['--oauth-app', "app.test:$csecret", '--bucket', 0,
                      '--member-id', 'member1']);

my $pair = $o->emu_request('POST', '/_emu/oauth/issue', {});

open my $fh, '>', "$odir/oauth/state.json" or die $!;
print $fh $B24T::JSON->encode({
    access_token => $pair->{access_token},
    refresh_token => $pair->{refresh_token},
    expires => time - 10, member_id => 'member1', domain => $o->emu });
close $fh;
chmod 0666, "$odir/oauth/state.json";

$o->nginx(<<"EOF");
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_code paid;
        }
    }
EOF

$r = $o->post('/hook?id=1', '');
is($r->{status}, 200, 'oauth: forwarded with a refreshed token');

my $state = $B24T::JSON->decode($o->slurp("$odir/oauth/state.json"));
my $access = $state->{access_token};
isnt($access, $pair->{access_token}, 'oauth: a new access token');

$o->emu_config(faults => [{ mode => 'access_denied',
                              error_description =>
                                  "Access denied for auth=$access" }]);

$r = $o->post('/hook?id=2', '');
is($r->{status}, 502, 'oauth: the portal refused: 502');
like($r->{json} && $r->{json}{portal_error_description} || '',
     qr/Access denied for auth=/, 'oauth: its description is passed on');
nowhere($r->{raw}, $access,
       'oauth: the access token is not in the reply');

$o->finish;
$o->secret_nowhere('oauth: no token in a reply, header or log', $access,
                   $state->{refresh_token}, $pair->{access_token},
                   $csecret);

done_testing;
