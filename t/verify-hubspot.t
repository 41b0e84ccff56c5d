#!/usr/bin/perl

# b24trigger_verify hubspot: HubSpot's v3 signature,
# "X-HubSpot-Signature-v3" = base64 HMAC-SHA256 with the app's client
# secret of method + URL + raw body + "X-HubSpot-Request-Timestamp" (in
# milliseconds), the URL being "url=" (a complex value: the public URL,
# which nginx behind a proxy does not see).  Signed by HubSpot's own SDK
# (@hubspot/api-client, Signature.getSignature); older than 5 minutes or
# as far in the future refused; signed for another URL, another method or
# another timestamp refused.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use B24T;
use B24TV;
use B24TNode;
use JSON::PP ();

my $t = B24T->new;
my $s1 = join '-', map { B24T::random_secret($_) } 8, 4, 4, 4, 12;
my $s2 = join '-', map { B24T::random_secret($_) } 8, 4, 4, 4, 12;

my $url = 'https://hooks.example.com/hooks/hubspot';

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/hubspot', secrets => [$s1, $s2],
             verify => "hubspot url=$url",
             extra => 'b24trigger_replay replays;'),
    location(path => '/hubspot-vector', secrets => ['secret'],
             verify => 'hubspot url=https://example.com/hook '
                       . 'tolerance=20y'),
    location(path => '/hubspot-here', secrets => [$s1],
             verify => 'hubspot "url=http://$http_host$request_uri"'),
));

# the SDK's signature for each [method, url, body, timestamp]
sub sdk {
    my ($secret, @requests) = @_;
    my $out = B24TNode::run(q{
        const { Signature } = require('@hubspot/api-client');
        const [secret, json] = process.argv.slice(1);
        for (const [method, url, requestBody, timestamp]
             of JSON.parse(json)) {
            console.log(Signature.getSignature(method, 'v3', {
                clientSecret: secret, requestBody, url, timestamp }));
        }
    }, $secret, JSON::PP->new->encode(\@requests));
    return split /\n/, $out;
}

sub headers {
    my ($sig, $ms) = @_;
    return ('X-HubSpot-Signature-v3' => $sig,
            'X-HubSpot-Request-Timestamp' => $ms,
            'Content-Type' => 'application/json');
}

my $r;
my $ms = time * 1000 + 123;
my $body = '[{"eventId":' . int(rand(1e9)) . ',"subscriptionId":1,'
         . '"portalId":62515,"occurredAt":' . $ms . ',"subscriptionType":'
         . '"deal.propertyChange","attemptNumber":0,"objectId":1246965,'
         . '"propertyName":"b24_deal","propertyValue":"57"}]';

# the reference vector (webhook-signatures.md, section 3), and the SDK

my $vsig = 'hqBIlfEV33VJdmaT5HywrynIn3NURN7MPP8XagCfa14=';
my @v = sdk('secret', ['POST', 'https://example.com/hook', '{"a":1}',
                       '1700000000000']);
is($v[0], $vsig, 'the SDK computes the reference vector');

$r = $t->post('/hubspot-vector?deal=1', '{"a":1}',
              headers($vsig, '1700000000000'));
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/hubspot-vector?deal=1', '{"a":2}',
              headers($vsig, '1700000000000'));
refused($t, $r, 'signature_invalid', 'reference vector, another body');

# signed by the SDK: valid, rotation; then every way to change it

my ($good, $second, $other_url, $other_method, $other_ts, $other_key,
    $stale, $future) = (
    sdk($s1, ['POST', $url, $body, $ms]),
    sdk($s2, ['POST', $url, $body, $ms]),
    sdk($s1, ['POST', 'https://hooks.example.com/hooks/hubspot2', $body,
              $ms]),
    sdk($s1, ['PUT', $url, $body, $ms]),
    sdk($s1, ['POST', $url, $body, $ms + 1]),
    sdk('other', ['POST', $url, $body, $ms]),
    sdk($s1, ['POST', $url, $body, $ms - 301_000]),
    sdk($s1, ['POST', $url, $body, $ms + 400_000]),
);

$r = $t->post('/hubspot?deal=2', $body, headers($good, $ms));
forwarded($t, $r, 2, 'signed by the SDK');

(my $body3 = $body) =~ s/"57"/"58"/;
my ($good3) = sdk($s2, ['POST', $url, $body3, $ms]);
$r = $t->post('/hubspot?deal=3', $body3, headers($good3, $ms));
forwarded($t, $r, 3, 'second secret');

(my $tampered = $body) =~ s/"57"/"999"/;

$r = $t->post('/hubspot?deal=4', $tampered, headers($good, $ms));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/hubspot?deal=4', $body, headers($other_url, $ms));
refused($t, $r, 'signature_invalid', 'signed for another URL');

$r = $t->post('/hubspot?deal=4', $body, headers($other_method, $ms));
refused($t, $r, 'signature_invalid', 'signed for another method');

$r = $t->post('/hubspot?deal=4', $body, headers($good, $ms + 1));
refused($t, $r, 'signature_invalid', 'another timestamp');

$r = $t->post('/hubspot?deal=4', $body, headers($other_key, $ms));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/hubspot?deal=4', $body);
refused($t, $r, 'signature_missing', 'no headers');

$r = $t->post('/hubspot?deal=4', $body, 'X-HubSpot-Signature-v3' => $good);
refused($t, $r, 'signature_missing', 'no timestamp header');

$r = $t->post('/hubspot?deal=4', $body,
              headers($stale, $ms - 301_000));
refused($t, $r, 'timestamp_out_of_range', 'older than 5 minutes');

$r = $t->post('/hubspot?deal=4', $body,
              headers($future, $ms + 400_000));
refused($t, $r, 'timestamp_out_of_range', 'in the future');

my ($secs) = sdk($s1, ['POST', $url, $body, int($ms / 1000)]);
$r = $t->post('/hubspot?deal=4', $body, headers($secs, int($ms / 1000)));
refused($t, $r, 'timestamp_out_of_range', 'a timestamp in seconds');

my ($zero) = sdk($s1, ['POST', $url, $body, "0$ms"]);
$r = $t->post('/hubspot?deal=4', $body, headers($zero, "0$ms"));
refused($t, $r, 'signature_invalid', 'a timestamp with a leading zero');

# a digit of the timestamp moved into the body (the two are not fenced)

my ($moved) = sdk($s1, ['POST', $url, "${body}1", substr($ms, 1)]);
$r = $t->post('/hubspot?deal=4', "${body}1",
              headers($moved, substr($ms, 1)));
refused($t, $r, 'timestamp_out_of_range', 'a digit moved into the body');

# replayed within the window, re-aimed: a duplicate

$r = $t->post('/hubspot?deal=999', $body, headers($good, $ms));
is_deeply($r->{json}, { result => 'duplicate' }, 'replay: duplicate');
is(scalar @{ $t->calls }, 3, 'replay: nothing forwarded');

# url= as a complex value: the URL the request came to

my $here = "http://127.0.0.1:$t->{port}/hubspot-here?deal=5";
my ($h) = sdk($s1, ['POST', $here, $body, $ms]);
$r = $t->post('/hubspot-here?deal=5', $body, headers($h, $ms));
forwarded($t, $r, 5, 'url= from variables');

$r = $t->post('/hubspot-here?deal=6', $body, headers($h, $ms));
refused($t, $r, 'signature_invalid', 'url= from variables, another URI');

# nginx -t: no url=; HubSpot signs a timestamp, so no warning of replays

my ($rc, $out) = $t->nginx_test(http_block(
    location(path => '/h', verify => 'hubspot', secrets => ['k'])));
like($out, qr/\[emerg\] .*scheme "hubspot" needs "url=URL"/,
     'no url=: nginx -t fails');

($rc, $out) = $t->nginx_test("    b24trigger_field \$hs 0.propertyValue;\n"
    . http_block("        location /h {\n"
                 . "            b24trigger_pass main;\n"
                 . "            b24trigger_verify hubspot url=$url;\n"
                 . "            b24trigger_secret k;\n"
                 . "            b24trigger_target DEAL_\$hs;\n"
                 . "        }\n"));
is($rc, 0, 'a target from the body: nginx -t passes');
unlike($out, qr/\[warn\]/, 'no warning: the timestamp is signed');

rejection_logged($t, '/hubspot', 'signature_missing',
                 'no "X-HubSpot-Request-Timestamp" header');
rejection_logged($t, '/hubspot', 'timestamp_out_of_range',
                 qr/timestamp is 30\d s in the past, tolerance 300 s/);

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no client secret, no computed signature in any log',
               $s1, $s2, sdk($s1, ['POST', $url, $tampered, $ms]));

done_testing;
