#!/usr/bin/perl

# doc/providers/hubspot.md: a deal.propertyChange batch signed by
# HubSpot's own SDK (@hubspot/api-client) for the recipe's URL fires the
# deal's trigger; HubSpot's retry of it (same eventId, new timestamp and
# signature) is a duplicate; signed for another URL or with another
# secret it reaches nothing; a query string added chooses nothing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);
use B24TNode;

my $t = B24T->new;
my $secret = join '-', map { B24T::random_secret($_) } 8, 4, 4, 4, 12;
my $url = 'https://hooks.example.com/hooks/hubspot';

$t->emulator;
B24TRecipe::run($t, 'hubspot', secrets => { hubspot => $secret });

sub sign {
    my ($secret, $url, $body, $ms) = @_;
    return B24TNode::run(q{
        const { Signature } = require('@hubspot/api-client');
        const [clientSecret, url, requestBody, timestamp] =
            process.argv.slice(1);
        console.log(Signature.getSignature('POST', 'v3',
            { clientSecret, url, requestBody, timestamp }));
    }, $secret, $url, $body, $ms);
}

sub hubspot {
    my ($body, %o) = @_;
    my $ms = $o{ms} || time * 1000;
    return $t->post('/hooks/hubspot' . ($o{query} || ''), $body,
                    'Content-Type' => 'application/json',
                    'X-HubSpot-Request-Timestamp' => $ms,
                    'X-HubSpot-Signature-v3' => sign($o{secret} || $secret,
                                                     $o{url} || $url,
                                                     $body, $ms));
}

sub batch {
    my ($event, $attempt, $deal) = @_;
    return '[{"eventId":' . $event . ',"subscriptionId":2881778,'
         . '"portalId":62515,"appId":1160452,"occurredAt":1700000000000,'
         . '"subscriptionType":"deal.propertyChange","attemptNumber":'
         . $attempt . ',"objectId":1246965,"propertyName":"b24_deal",'
         . '"propertyValue":"' . $deal . '","changeSource":"CRM_UI"}]';
}

my $r = hubspot(batch(1001, 0, '57'));
is($r->{status}, 200, 'deal.propertyChange: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'hubspot_event' }, 'forwarded to DEAL_57');

$r = hubspot(batch(1001, 1, '57'), ms => time * 1000 + 1500);
is_deeply($r->{json}, { result => 'duplicate' },
          'HubSpot\'s retry of the event: duplicate');

$r = hubspot(batch(1002, 0, '58'),
             url => 'https://hooks.example.com/hooks/hubspot?x=1');
is($r->{status}, 401, 'signed for another URL: 401');

$r = hubspot(batch(1002, 0, '58'), secret => 'other');
is($r->{status}, 401, 'another secret: 401');

# url= is a literal: what is sent after the path changes nothing signed,
# and chooses nothing

$r = hubspot(batch(1003, 0, '59'), query => '?deal=999');
is($r->{json}{target}, 'DEAL_59', 'a query string added: still DEAL_59');

is_deeply([ map { $_->{params}{target} } @{ $t->calls } ],
          ['DEAL_57', 'DEAL_59'], 'DEAL_57 and DEAL_59 were triggered');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no client secret anywhere', $secret);

done_testing;
