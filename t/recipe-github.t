#!/usr/bin/perl

# Recipe "GitHub: a push to a branch named after a deal": a regex map
# over the ref, the event header, pings acknowledged.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'github', env => { GITHUB_HOOK_KEY => $key });

sub push_event {
    my ($ref) = @_;
    return "{\"ref\":\"$ref\",\"before\":\"6113728f27ae82c7b1a177c8d03f9e96e0adf246\","
         . '"after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",'
         . '"repository":{"id":1296269,"full_name":"octocat/Hello-World"},'
         . '"pusher":{"name":"octocat"},"commits":[{"id":"59b20b8d",'
         . '"message":"Fix all the bugs"}],"head_commit":null}';
}

sub github {
    my ($event, $body) = @_;
    return $t->post("/hooks/github?key=$key", $body,
                    'Content-Type' => 'application/json',
                    'X-GitHub-Event' => $event,
                    'X-GitHub-Delivery' => '72d3162e-cc78-11e3-81ab-4c9367dc0958',
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

$r = github('ping', '{"zen":"Design for failure.","hook_id":12345678}');
is_deeply($r->{json}, { result => 'ignored' }, 'ping: ignored');

$r = github('pull_request', push_event('refs/heads/deal-60'));
is_deeply($r->{json}, { result => 'ignored' }, 'another event: ignored');

my $calls = $t->calls;
is_deeply([ map { $_->{params}{target} } @$calls ], ['DEAL_57', 'DEAL_58'],
          'two calls: DEAL_57 and DEAL_58');

$t->finish;
$t->secret_nowhere;

done_testing;
