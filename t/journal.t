#!/usr/bin/perl

# The journal: every webhook, whatever became of it (forwarded, queued,
# delivered, retried, dead, rejected, ignored, duplicate, failed), is an
# entry with its time, location, sender, result and error, target, code,
# portal and the portal's answer, attempts and latency, read through the
# status location's JSON API (?view=events with filters, ?view=event for
# one event's story, ?view=dead); a queued event's delivery is linked to
# it by its queue id; two workers share one journal; no secret shows.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0, '--deny', 'DEAL_13']);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100 timeout=2s;
    b24trigger_queue $spool backoff=100ms backoff_max=200ms;
    b24trigger_dedup_zone once:1m;

    server {
        listen %%LISTEN%%;

        b24trigger_verify token header=X-Token;
        b24trigger_secret $token;
        b24trigger_target \$arg_target;
        b24trigger_code c\$arg_code;

        location /sync  { b24trigger_pass main; }
        location /queue { b24trigger_pass main; b24trigger_delivery queue; }
        location /skip  { b24trigger_pass main; b24trigger_ignore 1; }
        location /once  { b24trigger_pass main; b24trigger_dedup once \$arg_key; }

        location = /status { b24trigger_status; }
    }
EOF

my @ok = ('X-Token' => $token);

sub events {
    my ($query) = @_;
    my $r = $t->request('GET', "/status?view=events&$query");
    return $r->{json} ? $r->{json}{events} : undef;
}

# the entry of a webhook appears in its log phase, just after its answer
sub entry {
    my ($query) = @_;
    my $e;
    $t->wait_until(sub { ($e) = @{ events($query) || [] }; $e }, 10);
    return $e;
}

# forwarded

my $r = $t->post('/sync?target=DEAL_1&code=ok', '{}', @ok);
is($r->{status}, 200, 'forwarded: 200');

my $e = entry('result=forwarded');
ok($e, 'forwarded: an entry') or BAIL_OUT('no journal');
is($e->{location}, '/sync', 'forwarded: location');
is($e->{addr}, '127.0.0.1', 'forwarded: sender address');
is($e->{target}, 'DEAL_1', 'forwarded: target');
is($e->{code}, 'cok', 'forwarded: code');
is($e->{portal}, 'main', 'forwarded: portal');
is($e->{status}, 200, 'forwarded: what the sender got');
is($e->{portal_status}, 200, 'forwarded: what the portal said');
is($e->{attempts}, 1, 'forwarded: one attempt');
like($e->{id}, qr/^[0-9]{13}-[0-9]+-r[0-9]+$/, 'forwarded: an id of its own (no $request_id in use)');
ok(!exists $e->{error}, 'forwarded: no error');
cmp_ok($e->{latency_ms}, '>=', $e->{portal_time_ms}, 'forwarded: latency');
cmp_ok(abs($e->{time} / 1000 - time), '<', 60, 'forwarded: time in ms');
like($e->{seq}, qr/^\d+$/, 'forwarded: a sequence number');

# rejected, and why

$r = $t->post('/sync?target=DEAL_1', '{}', 'X-Token' => 'wrong-token');
is($r->{status}, 401, 'rejected: 401');

$e = entry('result=rejected');
is($e->{error}, $r->{json}{error}, "rejected: why ($r->{json}{error})");
is($e->{status}, 401, 'rejected: status');
is($e->{attempts}, 0, 'rejected: no attempt');
ok(!exists $e->{target}, 'rejected: no target');

# failed: the portal refused

$r = $t->post('/sync?target=DEAL_13', '{}', @ok);
is($r->{status}, 502, 'failed: 502');

$e = entry('result=failed');
is($e->{error}, 'portal_error', 'failed: error');
is($e->{portal_status}, 403, 'failed: portal status');
is($e->{portal_error}, 'ACCESS_DENIED', 'failed: portal error');
like($e->{portal_error_description}, qr/^Access denied/,
     'failed: portal description');

# ignored, duplicate

$r = $t->post('/skip?target=DEAL_1', '{}', @ok);
is($r->{json}{result}, 'ignored', 'ignored: answered');
is(entry('result=ignored')->{location}, '/skip', 'ignored: an entry');

$t->post('/once?target=DEAL_5&key=k1', '{}', @ok);
$r = $t->post('/once?target=DEAL_5&key=k1', '{}', @ok);
is($r->{json}{result}, 'duplicate', 'duplicate: answered');
$e = entry('result=duplicate');
is($e->{target}, 'DEAL_5', 'duplicate: an entry with its target');

# queued, then delivered: one id, two entries

$r = $t->post('/queue?target=DEAL_2&code=q', '{}', @ok);
is($r->{status}, 202, 'queued: 202');
my $qid = $r->{json}{id};

$e = entry("result=delivered&id=$qid");
ok($e, 'delivered: an entry with the queue id');
is($e->{target}, 'DEAL_2', 'delivered: target');
is($e->{code}, 'cq', 'delivered: code');
is($e->{location}, '/queue', 'delivered: location');
is($e->{portal_status}, 200, 'delivered: portal status');
is($e->{attempts}, 1, 'delivered: attempts');

my $story = $t->request('GET', "/status?view=event&id=$qid")->{json};
is_deeply([map { $_->{result} } @{ $story->{entries} }],
          ['queued', 'delivered'], 'event: queued, then delivered');
is($story->{entries}[0]{status}, 202, 'event: the sender got 202');
is($story->{entries}[0]{addr}, '127.0.0.1', 'event: the sender');
is($story->{dead_letter}, undef, 'event: no dead letter');

# queued, a 500, then delivered: the retry is in the story

$t->emu_config(faults => ['http500']);
$r = $t->post('/queue?target=DEAL_3', '{}', @ok);
$qid = $r->{json}{id};

ok(entry("result=delivered&id=$qid"), 'retried: delivered at last');
$story = $t->request('GET', "/status?view=event&id=$qid")->{json};
is_deeply([map { $_->{result} } @{ $story->{entries} }],
          ['queued', 'retry', 'delivered'], 'retried: its story');
is($story->{entries}[1]{portal_status}, 500, 'retried: the 500');
is($story->{entries}[1]{attempts}, 1, 'retried: after one attempt');
is($story->{entries}[2]{attempts}, 2, 'retried: delivered on the second');

# queued, then dead

$r = $t->post('/queue?target=DEAL_13', '{}', @ok);
$qid = $r->{json}{id};

$e = entry("result=dead&id=$qid");
ok($e, 'dead: an entry');
is($e->{error}, 'portal_error', 'dead: reason');
is($e->{portal_error}, 'ACCESS_DENIED', 'dead: the portal\'s error');

$story = $t->request('GET', "/status?view=event&id=$qid")->{json};
is($story->{dead_letter}{id}, $qid, 'dead: the dead letter in the story');
is($story->{dead_letter}{dead}{reason}, 'portal_error',
   'dead: the dead letter\'s reason');

my $dead = $t->request('GET', '/status?view=dead')->{json};
is($dead->{total}, 1, 'dead letters: one');
is($dead->{dead}[0]{id}, $qid, 'dead letters: its id');
is($dead->{dead}[0]{target}, 'DEAL_13', 'dead letters: its target');
is($dead->{dead}[0]{last_error}{error}, 'ACCESS_DENIED',
   'dead letters: its last error');
is(scalar @{ $t->request('GET', '/status?view=dead&target=DEAL_1')
             ->{json}{dead} }, 0, 'dead letters: filtered by target');

# filters, newest first, limit, after

my $all = events('limit=1000');
my @seq = map { $_->{seq} } @$all;
is_deeply(\@seq, [sort { $b <=> $a } @seq], 'events: newest first');
ok(!(grep { $_->{location} ne '/sync' } @{ events('location=/sync') }),
   'events: by location');
ok(!(grep { $_->{location} ne '/sync' } @{ events('location=%2Fsync') }),
   'events: by location, URL-encoded');
is(scalar @{ events('location=/sync') }, 3, 'events: all of /sync');
is(scalar @{ events('limit=2') }, 2, 'events: limit');
is(scalar @{ events('target=DEAL_13') }, 3, 'events: by target');
is_deeply([map { $_->{seq} } @{ events("after=$seq[2]") }],
          [@seq[0, 1]], 'events: after a sequence number');
is_deeply([map { $_->{seq} } @{ events("before=$seq[1]&limit=2") }],
          [@seq[2, 3]], 'events: before a sequence number');
is(scalar @{ events('since=' . ($all->[0]{time} + 1)) }, 0,
   'events: since a time');

my $list = $t->request('GET', '/status?view=events');
is($list->{json}{last}, $seq[0], 'events: the last sequence number');
is($list->{json}{ring}, 1000, 'events: the ring\'s size');
is($list->{headers}{'content-type'}, 'application/json', 'events: JSON');
is($list->{headers}{'cache-control'}, 'no-store', 'events: not kept');

is($t->request('GET', '/status?view=events&result=nope')->{json}{error},
   'result_unknown', 'events: an unknown result is an error');
is($t->request('GET', '/status?view=events&limit=x')->{status}, 400,
   'events: a bad number is an error');
is($t->request('GET', '/status?view=nope')->{json}{error}, 'view_unknown',
   'an unknown view');
is($t->request('GET', '/status?view=event&id=nope')->{status}, 404,
   'event: unknown');
is($t->request('GET', '/status?view=token')->{json}{error}, 'manage_off',
   'no token without manage=on');

# a worker's own ids count up by one, past 9 and 99, none twice: in
# every id of the form TIME-PID-rN, the Ns of each PID are 1, 2, 3, ...

$t->post('/skip?target=DEAL_1', '{}', @ok) for 1 .. 210;
$t->wait_until(sub { @{ events('result=ignored&limit=1000') || [] } >= 211 },
               10);

my %ns;
for my $ev (@{ events('limit=10000') }) {
    push @{ $ns{$1} }, $2 if $ev->{id} =~ /^[0-9]{13}-([0-9]+)-r([0-9]+)$/;
}

my ($most) = sort { $b <=> $a } map { scalar @$_ } values %ns;
cmp_ok($most, '>', 105, 'ids: a worker made more than a hundred');
is_deeply({ map { $_ => [sort { $a <=> $b } @{ $ns{$_} }] } keys %ns },
          { map { $_ => [1 .. @{ $ns{$_} }] } keys %ns },
          'ids: each worker\'s count up by one from 1');

# the counters are still there

ok($t->request('GET', '/status')->{json}{webhooks}{'/sync'},
   'the status page as before');

my $seen = join '', map { $_->{raw} } @{ $t->{replies} };
ok(index($seen, $token) < 0, 'no webhook secret in the API');

$t->finish;
$t->secret_nowhere;

done_testing;
