#!/usr/bin/perl

# b24trigger_verify standard_v1a: Standard Webhooks' asymmetric
# signatures.  "webhook-signature: v1a,<base64>" (space-separated, any
# may match, "v1" entries skipped) is an Ed25519 signature of
# "<webhook-id>.<webhook-timestamp>.<raw body>"; the public key is
# "whpk_<base64>" or a PEM file, given with key=.  Signed here with
# node:crypto.  Tampered, stale, future, re-aimed id, wrong key and
# malformed signatures are refused, nothing reaches the portal.

use strict;
use warnings;

use Test::More;
use MIME::Base64 qw(encode_base64);
use B24T;
use B24TV;
use B24TPK;

my $t = B24T->new;
my $k = pk_keys($t);
my $dir = $k->{dir};

$t->emulator;
$t->nginx(http_block(
    location(path => '/v1a', verify => "standard_v1a key=$k->{ed}{whpk}"),
    location(path => '/v1a-pem',
             verify => "standard_v1a key=file:$dir/ed.pub.pem"),
    location(path => '/v1a-two',
             verify => "standard_v1a key=$k->{ed2}{whpk} "
                     . "key=file:$dir/ed.pub.pem"),
));

my $id = 'msg_' . B24T::random_secret(20);
my $body = '{"type":"invoice.paid","data":{"deal":"57"}}';

sub v1a {
    my ($key, $msgid, $ts, $b) = @_;
    return pk_sign({ op => 'v1a', key => $k->{$key}{priv}, id => $msgid,
                     ts => "$ts", body => $b })->{sig};
}

sub headers {
    my ($sig, $msgid, $ts) = @_;
    return ('webhook-id' => $msgid, 'webhook-timestamp' => $ts,
            'webhook-signature' => $sig);
}

my $now = time;
my $sig = v1a('ed', $id, $now, $body);
my $r;

like($sig, qr/^v1a,[A-Za-z0-9+\/]{86}==$/, 'v1a,<base64 of 64 bytes>');

# valid: whpk_, a PEM file, the second key, among other signatures

$r = $t->post('/v1a?deal=1', $body, headers($sig, $id, $now));
forwarded($t, $r, 1, 'valid, whpk_ key');

$r = $t->post('/v1a-pem?deal=2', $body, headers($sig, $id, $now));
forwarded($t, $r, 2, 'valid, PEM key file');

$r = $t->post('/v1a-two?deal=3', $body, headers($sig, $id, $now));
forwarded($t, $r, 3, 'valid, second of two keys');

my $other = v1a('ed2', $id, $now, $body);
my $v1 = 'v1,' . encode_base64('x' x 32, '');

$r = $t->post('/v1a?deal=4', $body,
              headers("$v1 $other $sig", $id, $now));
forwarded($t, $r, 4, 'one valid v1a among a v1 and another key\'s v1a');

# tampered body, id and timestamp are signed

(my $tampered = $body) =~ s/paid/void/;
$r = $t->post('/v1a?deal=5', $tampered, headers($sig, $id, $now));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/v1a?deal=5', $body, headers($sig, "${id}x", $now));
refused($t, $r, 'signature_invalid', 'other webhook-id');

$r = $t->post('/v1a?deal=5', $body, headers($sig, $id, $now - 1));
refused($t, $r, 'signature_invalid', 'other webhook-timestamp');

# stale and future, correctly signed

my $old = $now - 400;
$r = $t->post('/v1a?deal=5', $body,
              headers(v1a('ed', $id, $old, $body), $id, $old));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

my $future = $now + 400;
$r = $t->post('/v1a?deal=5', $body,
              headers(v1a('ed', $id, $future, $body), $id, $future));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

# wrong key; a v1 (HMAC) signature only

$r = $t->post('/v1a?deal=5', $body, headers($other, $id, $now));
refused($t, $r, 'signature_invalid', 'signed with another key');

$r = $t->post('/v1a?deal=5', $body, headers($v1, $id, $now));
refused($t, $r, 'signature_invalid', 'only a v1 signature');

# malformed signatures and missing headers

$r = $t->post('/v1a?deal=5', $body, headers('v1a,not-base64!', $id, $now));
refused($t, $r, 'signature_invalid', 'v1a not base64');

$r = $t->post('/v1a?deal=5', $body,
              headers('v1a,' . encode_base64('x' x 63, ''), $id, $now));
refused($t, $r, 'signature_invalid', 'v1a of 63 bytes');

$r = $t->post('/v1a?deal=5', $body,
              headers(join(' ', ($other) x 9, $sig), $id, $now));
refused($t, $r, 'signature_invalid', 'ten v1a signatures');

$r = $t->post('/v1a?deal=5', $body, headers($sig, $id, "${now}x"));
refused($t, $r, 'signature_invalid', 'malformed timestamp');

$r = $t->post('/v1a?deal=5', $body, 'webhook-id' => $id,
              'webhook-timestamp' => $now);
refused($t, $r, 'signature_missing', 'no webhook-signature');

$r = $t->post('/v1a?deal=5', $body, 'webhook-timestamp' => $now,
              'webhook-signature' => $sig);
refused($t, $r, 'signature_missing', 'no webhook-id');

$r = $t->post('/v1a?deal=5', $body, 'webhook-id' => $id,
              'webhook-signature' => $sig);
refused($t, $r, 'signature_missing', 'no webhook-timestamp');

rejection_logged($t, '/v1a', 'signature_invalid',
                 '1 "v1a" signature, none matches');
rejection_logged($t, '/v1a', 'signature_invalid',
                 'more than 8 "v1a" signatures');
rejection_logged($t, '/v1a', 'signature_invalid',
                 'no "v1a" signature in "webhook-signature" header');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no key material in any log', $k->{ed}{whpk},
               substr($k->{ed}{whpk}, 5));

done_testing;
