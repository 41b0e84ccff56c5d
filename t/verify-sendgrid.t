#!/usr/bin/perl

# b24trigger_verify sendgrid: SendGrid's signed Event Webhook.
# X-Twilio-Email-Event-Webhook-Signature is the base64 of a DER ECDSA
# P-256 signature, SHA-256, of the X-Twilio-Email-Event-Webhook-Timestamp
# value followed by the raw body; the public key (the dashboard's
# "Verification Key", base64 DER, or a PEM file) is given with key=.
# Signed here with node:crypto, each signature checked first with
# SendGrid's own @sendgrid/eventwebhook.  Tampered, stale, future, wrong
# key and malformed signatures are refused, nothing reaches the portal.

use strict;
use warnings;

use Test::More;
use Math::BigInt;
use MIME::Base64 qw(encode_base64 decode_base64);
use B24T;
use B24TV;
use B24TPK;

my $t = B24T->new;
my $k = pk_keys($t);
my $dir = $k->{dir};

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/sg',
             verify => "sendgrid key=file:$dir/p256.pub.pem"),
    location(path => '/sg-inline',
             verify => "sendgrid key=$k->{p256}{der}"),
    location(path => '/sg-replay',
             verify => "sendgrid key=file:$dir/p256.pub.pem",
             extra => 'b24trigger_replay replays;'),
    location(path => '/sg-two',
             verify => "sendgrid key=file:$dir/p256b.pub.pem "
                     . "key=file:$dir/p256.pub.pem tolerance=10m"),
));

my $id = B24T::random_secret(16);
my $body = '[{"email":"a@example.com","event":"delivered",'
         . '"sg_event_id":"' . $id . '","deal_id":"57",'
         . '"timestamp":1700000000}]' . "\r\n";

sub sg {
    my ($key, $ts, $b) = @_;

    my $r = pk_sign({ op => 'sendgrid', key => $k->{$key}{priv},
                      pub => $k->{$key}{der}, ts => "$ts", body => $b });
    ok($r->{verified}, "\@sendgrid/eventwebhook verifies the $key signature")
        or diag(explain $r);

    return $r->{sig};
}

sub headers {
    my ($sig, $ts) = @_;
    return ('X-Twilio-Email-Event-Webhook-Signature' => $sig,
            'X-Twilio-Email-Event-Webhook-Timestamp' => $ts);
}

my $now = time;
my $sig = sg('p256', $now, $body);
my $r;

# valid: a PEM file, the dashboard's base64, the second of two keys

$r = $t->post('/sg?deal=1', $body, headers($sig, $now));
forwarded($t, $r, 1, 'valid, PEM key file');

$r = $t->post('/sg-inline?deal=2', $body, headers($sig, $now));
forwarded($t, $r, 2, 'valid, the key as SendGrid shows it');

$r = $t->post('/sg-two?deal=3', $body, headers($sig, $now));
forwarded($t, $r, 3, 'valid, second of two keys');

my $old = $now - 500;
$r = $t->post('/sg-two?deal=4', $body, headers(sg('p256', $old, $body),
                                               $old));
forwarded($t, $r, 4, '500 s old within tolerance=10m');

# tampered body, tampered timestamp

(my $tampered = $body) =~ s/delivered/bounce/;
$r = $t->post('/sg?deal=5', $tampered, headers($sig, $now));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/sg?deal=5', $body, headers($sig, $now + 1));
refused($t, $r, 'signature_invalid', 'other timestamp, same signature');

# stale and future timestamps, correctly signed

$r = $t->post('/sg?deal=5', $body, headers(sg('p256', $old, $body), $old));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

my $future = $now + 400;
$r = $t->post('/sg?deal=5', $body, headers(sg('p256', $future, $body),
                                           $future));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

# wrong key: another P-256 key, and a secp256k1 one (starkbank's default)

$r = $t->post('/sg?deal=5', $body, headers(sg('p256b', $now, $body), $now));
refused($t, $r, 'signature_invalid', 'signed with another key');

$r = $t->post('/sg?deal=5', $body, headers(sg('k256', $now, $body), $now));
refused($t, $r, 'signature_invalid', 'signed on secp256k1');

# malformed signatures, missing and repeated headers

$r = $t->post('/sg?deal=5', $body, headers('not base64!', $now));
refused($t, $r, 'signature_invalid', 'signature not base64');

$r = $t->post('/sg?deal=5', $body, headers('AAAA', $now));
refused($t, $r, 'signature_invalid', 'signature not DER');

$r = $t->post('/sg?deal=5', $body, headers('A' x 200, $now));
refused($t, $r, 'signature_invalid', 'signature too long');

$r = $t->post('/sg?deal=5', $body, headers(substr($sig, 0, 40), $now));
refused($t, $r, 'signature_invalid', 'truncated signature');

$r = $t->post('/sg?deal=5', $body, headers($sig, "${now}x"));
refused($t, $r, 'signature_invalid', 'malformed timestamp');

$r = $t->post('/sg?deal=5', $body,
              'X-Twilio-Email-Event-Webhook-Timestamp' => $now);
refused($t, $r, 'signature_missing', 'no signature header');

$r = $t->post('/sg?deal=5', $body,
              'X-Twilio-Email-Event-Webhook-Signature' => $sig);
refused($t, $r, 'signature_missing', 'no timestamp header');

$r = $t->post('/sg?deal=5', $body,
              headers($sig, $now),
              'X-Twilio-Email-Event-Webhook-Signature' => 'AAAA');
refused($t, $r, 'signature_invalid', 'signature header given twice');

# ECDSA is malleable: (r, n - s) is a valid signature of the same
# message.  The replay shield keys on what was signed, so the rewritten
# signature is the same request

sub der_int {
    my ($n) = @_;
    my $h = substr($n->as_hex, 2);
    $h = "0$h" if length($h) % 2;
    $h = "00$h" if hex(substr($h, 0, 2)) >= 0x80;
    my $b = pack 'H*', $h;
    return "\x02" . chr(length $b) . $b;
}

sub malleate {
    my ($b64) = @_;
    my $der = decode_base64($b64);
    my ($rlen) = unpack 'C', substr($der, 3, 1);
    my $r = substr($der, 4, $rlen);
    my ($slen) = unpack 'C', substr($der, 5 + $rlen, 1);
    my $s = Math::BigInt->from_hex(unpack 'H*',
                                   substr($der, 6 + $rlen, $slen));
    my $n = Math::BigInt->from_hex('FFFFFFFF00000000FFFFFFFFFFFFFFFF'
                                   . 'BCE6FAADA7179E84F3B9CAC2FC632551');
    my $body = der_int(Math::BigInt->from_hex(unpack 'H*', $r))
             . der_int($n - $s);
    return encode_base64("\x30" . chr(length $body) . $body, '');
}

my $other = malleate($sig);
isnt($other, $sig, 'the rewritten signature differs');

$r = $t->post('/sg?deal=7', $body, headers($other, $now));
forwarded($t, $r, 7, 'the rewritten signature verifies');

$r = $t->post('/sg-replay?deal=8', $body, headers($sig, $now));
forwarded($t, $r, 8, 'behind the replay shield');

$r = $t->post('/sg-replay?deal=9', $body, headers($other, $now));
is($r->{status}, 200, 'rewritten signature, replayed: 200');
is($r->{json}{result}, 'duplicate', 'rewritten signature: a duplicate');
is(scalar @{ $t->calls }, $t->{b24tv_calls},
   'rewritten signature: nothing forwarded');

rejection_logged($t, '/sg', 'signature_invalid',
                 'the ECDSA signature does not match');
rejection_logged($t, '/sg', 'signature_invalid',
                 'a SendGrid header given twice');
rejection_logged($t, '/sg', 'timestamp_out_of_range',
                 qr/timestamp is \d+ s in the past, tolerance 300 s/);

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no key material in any log', $k->{p256}{der},
               substr($k->{p256}{der}, 30, 40));

done_testing;
