#!/usr/bin/perl

# b24trigger_verify square: "x-square-hmacsha256-signature" = base64
# HMAC-SHA256 with the subscription's signature key of the notification
# URL ("url=", exactly as registered with Square) followed by the raw
# body.  Square's published example is forwarded; every signature the
# test makes is first checked by Square's own SDK (square,
# WebhooksHelper.verifySignature).  Square signs no timestamp: behind
# b24trigger_replay an event is forwarded once, known by its signed
# "event_id".

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use B24T;
use B24TV;
use B24TNode;
use JSON::PP ();

my $t = B24T->new;
my $s1 = B24T::random_secret(22);
my $s2 = B24T::random_secret(22);

my $url = 'https://hooks.example.com/hooks/square';

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/square', secrets => [$s1, $s2],
             verify => "square url=$url",
             extra => 'b24trigger_replay replays;'),
    location(path => '/square-vector', secrets => ['asdf1234'],
             verify => 'square url=https://example.com/webhook'),
    location(path => '/square-here', secrets => [$s1],
             verify => 'square "url=http://$http_host$request_uri"'),
));

sub sig {
    my ($key, $url, $body) = @_;
    my $b64 = hmac_sha256_base64($url . $body, $key);
    $b64 .= '=' while length($b64) % 4;
    return $b64;
}

# Square's SDK: does each [signature, key, url, body] verify?
sub sdk_verifies {
    my (@cases) = @_;
    my $out = B24TNode::run(q{
        const { WebhooksHelper } = require('square');
        (async () => {
            for (const [signatureHeader, signatureKey, notificationUrl,
                        requestBody] of JSON.parse(process.argv[1])) {
                console.log(await WebhooksHelper.verifySignature({
                    requestBody, signatureHeader, signatureKey,
                    notificationUrl }));
            }
        })();
    }, JSON::PP->new->encode(\@cases));
    return split /\n/, $out;
}

sub event {
    my ($id, $deal) = @_;
    return '{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated",'
         . '"event_id":"' . $id . '","created_at":"2026-12-07T10:00:00Z",'
         . '"data":{"type":"payment","id":"KkAkhdMs","object":{"payment":'
         . '{"id":"KkAkhdMs","reference_id":"' . $deal . '",'
         . '"status":"COMPLETED"}}}}';
}

sub post {
    my ($path, $body, $sig) = @_;
    return $t->post($path, $body, 'Content-Type' => 'application/json',
                    defined $sig ? ('x-square-hmacsha256-signature' => $sig)
                                 : ());
}

my $r;
my $id = B24T::random_secret(8) . '-1f3b-4a7e-9c11-' . B24T::random_secret(12);
my $body = event($id, '57');

# Square's published example (webhook-signatures.md, section 3, V6)

my $vsig = '2kRE5qRU2tR+tBGlDwMEw2avJ7QM4ikPYD/PJ3bd9Og=';
is(sig('asdf1234', 'https://example.com/webhook', '{"hello":"world"}'),
   $vsig, 'Perl computes the published example');

$r = post('/square-vector?deal=1', '{"hello":"world"}', $vsig);
forwarded($t, $r, 1, 'published example');

$r = post('/square-vector?deal=1', '{"hello":"World"}', $vsig);
refused($t, $r, 'signature_invalid', 'published example, another body');

# the test's signatures, and the SDK's opinion of them

(my $tampered = $body) =~ s/"57"/"999"/;
my $id3 = B24T::random_secret(8) . '-0000-4000-8000-' . B24T::random_secret(12);
my $body3 = event($id3, '58');

my %s = (
    good      => [ sig($s1, $url, $body), $s1, $url, $body ],
    second    => [ sig($s2, $url, $body3), $s2, $url, $body3 ],
    tampered  => [ sig($s1, $url, $body), $s1, $url, $tampered ],
    other_url => [ sig($s1, "$url/", $body), $s1, $url, $body ],
    other_key => [ sig('other', $url, $body), $s1, $url, $body ],
    vector    => [ $vsig, 'asdf1234', 'https://example.com/webhook',
                   '{"hello":"world"}' ],
);
my @names = sort keys %s;
my %sdk;
@sdk{@names} = sdk_verifies(map { $s{$_} } @names);

is_deeply(\%sdk, { good => 'true', second => 'true', vector => 'true',
                   tampered => 'false', other_url => 'false',
                   other_key => 'false' },
          'Square\'s SDK agrees with each of the test\'s signatures');

$r = post('/square?deal=2', $body, $s{good}[0]);
forwarded($t, $r, 2, 'valid');

$r = post('/square?deal=3', $body3, $s{second}[0]);
forwarded($t, $r, 3, 'second key');

$r = post('/square?deal=4', $tampered, $s{tampered}[0]);
refused($t, $r, 'signature_invalid', 'tampered body');

$r = post('/square?deal=4', $body, $s{other_url}[0]);
refused($t, $r, 'signature_invalid', 'signed for another URL');

$r = post('/square?deal=4', $body, $s{other_key}[0]);
refused($t, $r, 'signature_invalid', 'wrong key');

$r = post('/square?deal=4', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = post('/square?deal=4', $body, 'x' . $s{good}[0]);
refused($t, $r, 'signature_invalid', 'not base64');

# replays: the same bytes, and the same event re-signed

$r = post('/square?deal=999', $body, $s{good}[0]);
is_deeply($r->{json}, { result => 'duplicate' },
          'the same request again, re-aimed: duplicate');

(my $again = $body) =~ s/COMPLETED"/COMPLETED","retry":1/;
$r = post('/square?deal=998', $again, sig($s2, $url, $again));
is_deeply($r->{json}, { result => 'duplicate' },
          'the same event_id in other signed bytes: duplicate');

is(scalar @{ $t->calls }, 3, 'replays: nothing forwarded');

# url= as a complex value

my $here = "http://127.0.0.1:$t->{port}/square-here?deal=5";
$r = post('/square-here?deal=5', $body, sig($s1, $here, $body));
forwarded($t, $r, 5, 'url= from variables');

$r = post('/square-here?deal=6', $body, sig($s1, $here, $body));
refused($t, $r, 'signature_invalid', 'url= from variables, another URI');

# nginx -t: no url=, a parameter the preset does not take; no shield

my ($rc, $out) = $t->nginx_test(http_block(
    location(path => '/s', verify => 'square', secrets => ['k'])));
isnt($rc, 0, 'no url=: nginx -t fails');
my $msg = 'scheme "square" needs "url=URL", the notification URL exactly '
        . 'as registered with the sender';
like($out, qr/\[emerg\] .*\Q$msg\E/,
     'no url=: the message');

($rc, $out) = $t->nginx_test(http_block(
    location(path => '/s', verify => "square url=$url tolerance=5m",
             secrets => ['k'])));
like($out, qr/\[emerg\] .*invalid parameter "tolerance=5m" of scheme "square"/,
     'tolerance=: Square signs no timestamp');

($rc, $out) = $t->nginx_test("    b24trigger_field \$sq data.object.id;\n"
    . http_block("        location /s {\n"
                 . "            b24trigger_pass main;\n"
                 . "            b24trigger_verify square url=$url;\n"
                 . "            b24trigger_secret k;\n"
                 . "            b24trigger_target DEAL_\$sq;\n"
                 . "        }\n"));
is($rc, 0, 'a target from the body: nginx -t passes');
$msg = '"b24trigger_verify square" in location "/s" signs no timestamp: '
     . 'a captured request can be replayed';
like($out, qr/\[warn\] .*\Q$msg\E/,
     'without b24trigger_replay: the warning');

rejection_logged($t, '/square', 'signature_missing',
                 'no "x-square-hmacsha256-signature" header');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no signature key, no computed signature in any log',
               $s1, $s2, sig($s1, $url, $tampered),
               sig($s2, $url, $tampered));

done_testing;
