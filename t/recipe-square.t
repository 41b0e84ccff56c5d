#!/usr/bin/perl

# doc/providers/square.md: a completed payment.updated fires the trigger
# of the deal in its reference_id, signed as Square signs it for the
# recipe's URL (checked by Square's own SDK first); one not completed is
# ignored; the same event redelivered or re-aimed is a duplicate; signed
# for another URL or with another key it reaches nothing.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);
use B24TNode;

my $t = B24T->new;
my $key = B24T::random_secret(22);
my $url = 'https://hooks.example.com/hooks/square';

$t->emulator;
B24TRecipe::run($t, 'square', secrets => { square => $key });

sub sig {
    my ($key, $url, $body) = @_;
    my $b64 = hmac_sha256_base64($url . $body, $key);
    $b64 .= '=' while length($b64) % 4;
    return $b64;
}

sub square {
    my ($body, %o) = @_;
    return $t->post('/hooks/square' . ($o{query} || ''), $body,
                    'Content-Type' => 'application/json',
                    'x-square-hmacsha256-signature'
                        => sig($o{key} || $key, $o{url} || $url, $body));
}

sub payment {
    my ($id, $status, $deal) = @_;
    return '{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated",'
         . '"event_id":"' . $id . '","created_at":"2026-12-07T10:00:00Z",'
         . '"data":{"type":"payment","id":"KkAkhdMs","object":{"payment":{'
         . '"amount_money":{"amount":100,"currency":"USD"},"id":"KkAkhdMs",'
         . '"reference_id":"' . $deal . '","status":"' . $status . '",'
         . '"version":2}}}}';
}

my $paid = payment('e1-' . B24T::random_secret(8), 'COMPLETED', '71');

my $ok = B24TNode::run(q{
    const { WebhooksHelper } = require('square');
    const [requestBody, signatureHeader, signatureKey, notificationUrl] =
        process.argv.slice(1);
    WebhooksHelper.verifySignature({ requestBody, signatureHeader,
        signatureKey, notificationUrl }).then(console.log);
}, $paid, sig($key, $url, $paid), $key, $url);
is($ok, 'true', 'Square\'s SDK accepts the test\'s signature');

my $r = square($paid);
is($r->{status}, 200, 'payment.updated, COMPLETED: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_71',
                        code => 'square_paid' }, 'forwarded to DEAL_71');

$r = square($paid =~ s/"version":2/"version":3/r);
is_deeply($r->{json}, { result => 'duplicate' },
          'the same event_id redelivered: duplicate');

$r = square($paid, query => '?deal=999');
is_deeply($r->{json}, { result => 'duplicate' }, 're-aimed: duplicate');

$r = square(payment('e2-' . B24T::random_secret(8), 'APPROVED', '72'));
is_deeply($r->{json}, { result => 'ignored' }, 'APPROVED: ignored');

$r = square(payment('e3-' . B24T::random_secret(8), 'COMPLETED', '73'),
            url => 'https://hooks.example.com/hooks/square/');
is($r->{status}, 401, 'signed for another URL: 401');

$r = square(payment('e4-' . B24T::random_secret(8), 'COMPLETED', '74'),
            key => 'other');
is($r->{status}, 401, 'another key: 401');

is_deeply([ map { $_->{params}{target} } @{ $t->calls } ],
          ['DEAL_71'], 'DEAL_71 was triggered once');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no signature key anywhere', $key);

done_testing;
