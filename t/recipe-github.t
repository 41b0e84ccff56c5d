#!/usr/bin/perl

# doc/providers/github.md, "A push to a branch named after a deal": a regex
# map over the ref, a push known by its pusher (GitHub does not sign the
# X-GitHub-Event header), pings acknowledged; every delivery signed as GitHub
# signs it (X-Hub-Signature-256), a wrong signature refused; a captured
# delivery sent again with another event header and a query string is a
# duplicate, never a second call nor another deal.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha1_hex);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked github_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(64);

$t->emulator;
B24TRecipe::run($t, 'github', secrets => { github => $secret });

sub push_event {
    my ($ref) = @_;
    return "{\"ref\":\"$ref\",\"before\":\"6113728f27ae82c7b1a177c8d03f9e96e0adf246\","
         . '"after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",'
         . '"repository":{"id":1296269,"full_name":"octocat/Hello-World"},'
         . '"pusher":{"name":"octocat"},"commits":[{"id":"59b20b8d",'
         . '"message":"Fix all the bugs"}],"head_commit":null}';
}

# what GitHub sends with a secret set: both signature headers
sub github {
    my ($event, $body, $key, $query) = @_;
    $key = $secret unless defined $key;
    return $t->post('/hooks/github' . ($query || ''), $body,
                    'Content-Type' => 'application/json',
                    'X-GitHub-Event' => $event,
                    'X-GitHub-Delivery' => '72d3162e-cc78-11e3-81ab-4c9367dc0958',
                    'X-GitHub-Hook-ID' => '12345678',
                    'X-Hub-Signature' => 'sha1=' . hmac_sha1_hex($body, $key),
                    'X-Hub-Signature-256' => github_signature($key, $body),
                    'User-Agent' => 'GitHub-Hookshot/044aadd');
}

my $r = github('push', push_event('refs/heads/feature/DEAL-57-checkout'));
is($r->{status}, 200, 'a push to feature/DEAL-57-checkout: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'code_pushed' }, 'forwarded to DEAL_57');

$r = github('push', push_event('refs/heads/deal-58'));
is($r->{json}{target}, 'DEAL_58', 'deal-58');

$r = github('push', push_event('refs/heads/main'));
is_deeply($r->{json}, { result => 'ignored' }, 'main: ignored');

$r = github('push', push_event('refs/tags/deal-59'));
is_deeply($r->{json}, { result => 'ignored' }, 'a tag: ignored');

$r = github('ping', '{"zen":"Design for failure.","hook_id":12345678,'
                    . '"hook":{"type":"Repository","id":12345678,'
                    . '"events":["push"],"active":true}}');
is_deeply($r->{json}, { result => 'ignored' }, 'ping: ignored');

$r = github('pull_request',
            '{"action":"opened","number":2,"pull_request":{"head":'
            . '{"ref":"deal-60"}},"repository":{"id":1296269}}');
is_deeply($r->{json}, { result => 'ignored' }, 'another event: ignored');

# the first push, captured and sent again as another event, re-aimed

$r = github('deployment', push_event('refs/heads/feature/DEAL-57-checkout'),
            undef, '?deal=999');
is($r->{status}, 200, 'the first push replayed as another event: 200');
is_deeply($r->{json}, { result => 'duplicate' }, 'a duplicate');
my $replayed = qr/\[info\].*b24trigger: replay not forwarded: location /
             . qr/"\/hooks\/github" forwarded or queued the same signed /
             . qr/request less than 86400 s ago/;
like($t->error_log, qr/$replayed/, 'the replay, logged at info');

$r = github('push', push_event('refs/heads/deal-61'),
            B24T::random_secret(64));
is($r->{status}, 401, 'signed with another secret: 401');
is_deeply($r->{json}, { error => 'signature_invalid' },
          'signed with another secret: signature_invalid');

my $calls = $t->calls;
is_deeply([ map { $_->{params}{target} } @$calls ], ['DEAL_57', 'DEAL_58'],
          'two calls: DEAL_57 and DEAL_58');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no hook secret anywhere', $secret);

done_testing;
