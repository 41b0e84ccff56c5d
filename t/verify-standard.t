#!/usr/bin/perl

# b24trigger_verify standard: Standard Webhooks (and Svix, Clerk, Resend
# under the svix-* header names).  "webhook-signature: v1,<b64> v1,<b64>",
# HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>" with the
# key base64-decoded from after "whsec_"; any v1 may match; timestamps
# outside the tolerance, past or future, are refused.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use MIME::Base64 qw(encode_base64 decode_base64);
use B24T;
use B24TV;

my $t = B24T->new;

sub random_key { 'whsec_' . encode_base64(B24T::random_secret(24), '') }

my $s1 = random_key();
my $s2 = random_key();
my $s3 = random_key();

# 100 bytes of any value: longer than SHA-256's block, hashed first
my $s4 = 'whsec_' . encode_base64(join('', map { chr int rand 256 } 1 .. 100),
                                  '');

$t->emulator;
$t->nginx(http_block(
    location(path => '/sw', verify => 'standard', secrets => [$s1, $s2]),
    location(path => '/sw-supabase', verify => 'standard',
             secrets => ["v1,$s3"]),
    location(path => '/sw-long', verify => 'standard',
             secrets => [$s1, $s4]),
    location(path => '/sw-vector', verify => 'standard tolerance=20y',
             secrets => ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']),
));

sub sig {
    my ($secret, $id, $ts, $body) = @_;
    (my $k = $secret) =~ s/^whsec_//;
    my $b64 = hmac_sha256_base64("$id.$ts.$body", decode_base64($k));
    $b64 .= '=' while length($b64) % 4;
    return "v1,$b64";
}

sub headers {
    my ($prefix, $secret, $id, $ts, $body) = @_;
    return ("$prefix-id" => $id, "$prefix-timestamp" => $ts,
            "$prefix-signature" => sig($secret, $id, $ts, $body));
}

my $r;
my $now = time;
my $id = 'msg_' . B24T::random_secret(20);
my $body = '{"type":"invoice.paid","data":{"id":"' . $id . '"}}';

# the official vector (standard-webhooks JavaScript library tests)

my %vector = (
    'webhook-id' => 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp' => '1614265330',
    'webhook-signature' => 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
);
my $vbody = '{"test": 2432232314}';

is(sig('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
       'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, $vbody),
   $vector{'webhook-signature'}, 'Perl computes the official vector');

$r = $t->post('/sw-vector?deal=1', $vbody, %vector);
forwarded($t, $r, 1, 'official vector');

my %svix = map { (my $k = $_) =~ s/^webhook/svix/; ($k => $vector{$_}) }
           keys %vector;

$r = $t->post('/sw-vector?deal=2', $vbody, %svix);
forwarded($t, $r, 2, 'official vector, svix-* headers');

$r = $t->post('/sw-vector?deal=2', '{"test": 2432232315}', %vector);
refused($t, $r, 'signature_invalid', 'official vector, tampered body');

$r = $t->post('/sw?deal=2', $vbody, %vector);
refused($t, $r, 'signature_invalid', 'official vector, other secrets');

# valid, rotation, the Supabase form of the secret

$r = $t->post('/sw?deal=3', $body, headers('webhook', $s1, $id, $now, $body));
forwarded($t, $r, 3, 'valid');

$r = $t->post('/sw?deal=4', $body, headers('svix', $s2, $id, $now, $body));
forwarded($t, $r, 4, 'second secret, svix-* headers');

$r = $t->post('/sw-supabase?deal=5', $body,
              headers('webhook', $s3, $id, $now, $body));
forwarded($t, $r, 5, 'secret written as v1,whsec_...');

$r = $t->post('/sw-long?deal=10', $body,
              headers('webhook', $s4, $id, $now, $body));
forwarded($t, $r, 10, 'second secret, a binary key of 100 bytes');

# tampered, wrong secret, missing headers, id and timestamp are signed

my $tampered = $body;
$tampered =~ s/paid/void/;

$r = $t->post('/sw?deal=6', $tampered,
              headers('webhook', $s1, $id, $now, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/sw?deal=6', $body,
              headers('webhook', random_key(), $id, $now, $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/sw?deal=6', $body, 'webhook-id' => $id,
              'webhook-timestamp' => $now);
refused($t, $r, 'signature_missing', 'no signature header');

my %h = headers('webhook', $s1, $id, $now, $body);

$r = $t->post('/sw?deal=6', $body,
              map { $_ => $h{$_} } grep { $_ ne 'webhook-id' } keys %h);
refused($t, $r, 'signature_missing', 'no webhook-id');

$r = $t->post('/sw?deal=6', $body,
              map { $_ => $h{$_} } grep { $_ ne 'webhook-timestamp' } keys %h);
refused($t, $r, 'signature_missing', 'no webhook-timestamp');

$r = $t->post('/sw?deal=6', $body,
              (map { $_ => $h{$_} } grep { $_ ne 'webhook-id' } keys %h),
              'webhook-id' => "${id}x");
refused($t, $r, 'signature_invalid', 'other webhook-id');

# stale and future timestamps

$r = $t->post('/sw?deal=6', $body,
              headers('webhook', $s1, $id, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

$r = $t->post('/sw?deal=6', $body,
              headers('webhook', $s1, $id, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

# a space-separated list: one valid among invalid ones and other versions

my $good = sig($s1, $id, $now, $body);
my $bad = sig(random_key(), $id, $now, $body);
(my $v1a = $good) =~ s/^v1,/v1a,/;
(my $v2 = $good) =~ s/^v1,/v2,/;

$r = $t->post('/sw?deal=7', $body, 'webhook-id' => $id,
              'webhook-timestamp' => $now,
              'webhook-signature' => "$bad v1,!!notbase64 $v1a $good");
forwarded($t, $r, 7, 'valid v1 last of four');

$r = $t->post('/sw?deal=8', $body, 'webhook-id' => $id,
              'webhook-timestamp' => $now,
              'webhook-signature' => "$good $bad");
forwarded($t, $r, 8, 'valid v1 first of two');

$r = $t->post('/sw?deal=9', $body, 'webhook-id' => $id,
              'webhook-timestamp' => $now,
              'webhook-signature' => "$v1a $v2");
refused($t, $r, 'signature_invalid', 'matching signature of another version');

$r = $t->post('/sw?deal=9', $body, 'webhook-id' => $id,
              'webhook-timestamp' => $now,
              'webhook-signature' => "$bad $bad");
refused($t, $r, 'signature_invalid', 'only invalid signatures');

rejection_logged($t, '/sw', 'signature_missing',
                 'no "webhook-signature" header');
rejection_logged($t, '/sw', 'signature_missing', 'no "webhook-id" header');
rejection_logged($t, '/sw', 'signature_invalid',
                 '2 signatures in "webhook-signature", none matches');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, $s3, $s4, map { substr($_, 3) }
               sig($s1, $id, $now, $tampered),
               sig($s2, $id, $now, $tampered));

done_testing;
