#!/usr/bin/perl

# The replay shield across nodes: with b24trigger_cluster, one signed
# request captured and sent again to another node (with other headers,
# another query string) is a duplicate there; a tampered copy is refused
# before Redis is asked; a failed first attempt leaves the signature free
# so that the sender's retry, to any node, goes through.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;
use B24TV qw(github_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);

$t->emulator(args => ['--bucket', 0]);
$t->redis;

my $conf = <<"EOF";
    b24trigger_cluster redis://%%REDIS%% prefix=r:;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m ttl=1h;
    b24trigger_field \$deal deal;

    server {
        listen %%LISTEN%%;

        location = /gh {
            b24trigger_pass    main;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
            b24trigger_target  DEAL_\$deal;
            b24trigger_replay  replays window=10m;
        }
    }
EOF

$t->nginx($conf, workers => 2);
my $n2 = $t->node;
$n2->nginx($conf, workers => 2);

$t->wait_log(qr/\[debug\].*b24trigger redis: up/, 10);
$n2->wait_log(qr/\[debug\].*b24trigger redis: up/, 10);

# a signed request; a 409 (the first still in flight, or its mark
# "done", sent as the answer goes out, not yet in Redis) is retried, as
# a sender does
sub gh {
    my ($node, $body, %o) = @_;
    my $sig = $o{sig} || github_signature($secret, $body);
    my $r;

    for (1 .. 30) {
        $r = $node->request('POST', '/gh' . ($o{query} || ''), body => $body,
            headers => ['X-Hub-Signature-256' => $sig,
                        'Content-Type' => 'application/json',
                        'X-GitHub-Delivery' => $o{delivery} || 'd1']);
        last unless $r->{status} == 409;
        sleep 0.1;
    }

    return $r;
}

my $body = '{"deal":57,"action":"closed"}';

my $r = gh($t, $body);
is($r->{json}{result}, 'forwarded', 'node 1: forwarded');

$r = gh($n2, $body);
is($r->{json}{result}, 'duplicate', 'the replay to node 2: duplicate');

$r = gh($n2, $body, query => '?x=1', delivery => 'other');
is($r->{json}{result}, 'duplicate',
   'with another query string and header: duplicate');

$r = gh($n2, '{"deal":58,"action":"closed"}',
        sig => github_signature($secret, $body));
is($r->{status}, 401, 're-aimed copy: refused');

my @keys = split /\n/, $t->redis_cli('--scan', '--pattern', 'r:replays:replay:*');
is(scalar @keys, 1, 'one replay key in Redis');
my $ttl = $t->redis_cli('TTL', $keys[0] || 'none');
chomp $ttl;
ok($ttl > 590 && $ttl <= 600, "its ttl is the window ($ttl)");

is(scalar(grep { $_->{target} eq 'DEAL_57' } @{ $t->calls }), 1,
   'the portal got it once');

# a failed attempt leaves the signature free for the retry

$t->emu_config(faults => ['http500']);

my $body2 = '{"deal":59,"action":"closed"}';
$r = gh($n2, $body2);
is($r->{status}, 502, 'a failed attempt: 502');

$r = gh($t, $body2);
is($r->{json}{result}, 'forwarded', 'its retry to the other node: forwarded');

$r = gh($n2, $body2);
is($r->{json}{result}, 'duplicate', 'then a duplicate');

$n2->finish;
$t->finish;

$t->secret_nowhere('no webhook secret anywhere', $secret);

done_testing();
