#!/usr/bin/perl

# b24trigger_verify cloudpayments: "Content-HMAC" and "X-Content-HMAC",
# base64 of the HMAC-SHA256 of the raw body with the API secret; a match
# on either header passes.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

$t->emulator;
$t->nginx(http_block(
    location(path => '/cp', verify => 'cloudpayments', secrets => [$s1, $s2]),
    location(path => '/cp-vector', verify => 'cloudpayments',
             secrets => ['cp_api_secret']),
));

sub sig {
    my $b64 = hmac_sha256_base64($_[1], $_[0]);
    $b64 .= '=' while length($b64) % 4;
    return $b64;
}

my $r;
my $vbody = 'TransactionId=1&Amount=100.00&Currency=RUB&InvoiceId=42';
my $body = 'TransactionId=' . int(rand(1e9))
         . '&Amount=10.00&Currency=RUB&Status=Completed&Email=a%40b.c';

# reference vector (cloudpayments 6.0.1 signString, webhook-signatures.md §3)

my $vector = 'IBKF9FGFWHmyBLGH6ZRD3Jl989tSkzUyDnZiD3yVgW8=';
is(sig('cp_api_secret', $vbody), $vector, 'Perl computes the vector');

$r = $t->post('/cp-vector?deal=1', $vbody, 'Content-HMAC' => $vector);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/cp-vector?deal=2', $vbody, 'X-Content-HMAC' => $vector);
forwarded($t, $r, 2, 'reference vector in X-Content-HMAC');

$r = $t->post('/cp?deal=3', $body, 'Content-HMAC' => sig($s1, $body),
              'X-Content-HMAC' => sig($s1, $body));
forwarded($t, $r, 3, 'valid, both headers');

$r = $t->post('/cp?deal=4', $body, 'Content-HMAC' => sig($s2, $body));
forwarded($t, $r, 4, 'second secret');

$r = $t->post('/cp?deal=5', $body, 'Content-HMAC' => sig('x', $body),
              'X-Content-HMAC' => sig($s1, $body));
forwarded($t, $r, 5, 'one header wrong, the other valid');

(my $tampered = $body) =~ s/10\.00/1000.00/;

$r = $t->post('/cp?deal=6', $tampered, 'Content-HMAC' => sig($s1, $body),
              'X-Content-HMAC' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/cp?deal=6', $body, 'Content-HMAC' => sig('x', $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/cp?deal=6', $body);
refused($t, $r, 'signature_missing', 'no header');

rejection_logged($t, '/cp', 'signature_missing', 'no "Content-HMAC" header');
rejection_logged($t, '/cp', 'signature_invalid',
                 '2 signatures in "Content-HMAC", none matches');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'cp_api_secret', sig($s1, $tampered));

done_testing;
