#!/usr/bin/perl

# b24trigger_verify typeform: "Typeform-Signature: sha256=<base64>", the
# HMAC-SHA256 of the raw body.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64 hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

$t->emulator;
$t->nginx(http_block(
    location(path => '/tf', verify => 'typeform', secrets => [$s1, $s2]),
    location(path => '/tf-vector', verify => 'typeform',
             secrets => ['tf_secret']),
));

sub sig {
    my $b64 = hmac_sha256_base64($_[1], $_[0]);
    $b64 .= '=' while length($b64) % 4;
    return "sha256=$b64";
}

my $r;
my $body = '{"event_id":"' . B24T::random_secret(12)
         . '","event_type":"form_response"}';

# reference vector (webhook-signatures.md §3, self-computed)

my $vector = 'sha256=ya6M58WlaNRMgudB22n1SUK4azTRjjD7dXBjHRyRELo=';
is(sig('tf_secret', '{"id":1}'), $vector, 'Perl computes the vector');

$r = $t->post('/tf-vector?deal=1', '{"id":1}', 'Typeform-Signature' => $vector);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/tf-vector?deal=1', '{"id":3}', 'Typeform-Signature' => $vector);
refused($t, $r, 'signature_invalid', 'reference vector, tampered');

$r = $t->post('/tf?deal=2', $body, 'Typeform-Signature' => sig($s1, $body));
forwarded($t, $r, 2, 'valid');

$r = $t->post('/tf?deal=3', $body, 'Typeform-Signature' => sig($s2, $body));
forwarded($t, $r, 3, 'second secret');

(my $tampered = $body) =~ s/form_response/form_other/;

$r = $t->post('/tf?deal=4', $tampered, 'Typeform-Signature' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/tf?deal=4', $body, 'Typeform-Signature' => sig('x', $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/tf?deal=4', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = $t->post('/tf?deal=4', $body,
              'Typeform-Signature' => 'sha256=' . hmac_sha256_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'hex instead of base64');

rejection_logged($t, '/tf', 'signature_invalid');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'tf_secret', sig($s1, $tampered));

done_testing;
