#!/usr/bin/perl

# b24trigger_verify shopify: "X-Shopify-Hmac-Sha256" (Events deliveries:
# also "shopify-hmac-sha256"), base64 of the HMAC-SHA256 of the raw body.
# Shopify may take an hour to sign with a new secret: rotation.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = 'shpss_' . B24T::random_secret(32);
my $s2 = 'shpss_' . B24T::random_secret(32);

$t->emulator;
$t->nginx(http_block(
    location(path => '/shop', verify => 'shopify', secrets => [$s1, $s2]),
    location(path => '/shop-vector', verify => 'shopify',
             secrets => ['shpss_test']),
));

sub sig {
    my $b64 = hmac_sha256_base64($_[1], $_[0]);
    $b64 .= '=' while length($b64) % 4;
    return $b64;
}

my $r;
my $body = '{"id":' . int(rand(1e9)) . ',"financial_status":"paid"}';

# reference vector (webhook-signatures.md §3, self-computed: Shopify
# publishes none)

my $vector = '1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4=';
is(sig('shpss_test', '{"id":1}'), $vector, 'Perl computes the vector');

$r = $t->post('/shop-vector?deal=1', '{"id":1}',
              'X-Shopify-Hmac-Sha256' => $vector);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/shop-vector?deal=1', '{"id":2}',
              'X-Shopify-Hmac-Sha256' => $vector);
refused($t, $r, 'signature_invalid', 'reference vector, tampered');

$r = $t->post('/shop?deal=2', $body,
              'X-Shopify-Hmac-Sha256' => sig($s1, $body));
forwarded($t, $r, 2, 'valid');

$r = $t->post('/shop?deal=3', $body,
              'X-Shopify-Hmac-Sha256' => sig($s2, $body));
forwarded($t, $r, 3, 'second secret');

$r = $t->post('/shop?deal=4', $body, 'shopify-hmac-sha256' => sig($s1, $body));
forwarded($t, $r, 4, 'Events header name');

(my $nopad = sig($s1, $body)) =~ s/=+$//;
$r = $t->post('/shop?deal=5', $body, 'X-Shopify-Hmac-Sha256' => $nopad);
forwarded($t, $r, 5, 'base64 without padding');

# both headers, one of them wrong: either may carry the valid one

$r = $t->post('/shop?deal=6', $body,
              'X-Shopify-Hmac-Sha256' => sig('other', $body),
              'shopify-hmac-sha256' => sig($s1, $body));
forwarded($t, $r, 6, 'valid signature in the second header');

(my $tampered = $body) =~ s/paid/refunded/;

$r = $t->post('/shop?deal=7', $tampered,
              'X-Shopify-Hmac-Sha256' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/shop?deal=7', $body,
              'X-Shopify-Hmac-Sha256' => sig('shpss_other', $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/shop?deal=7', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = $t->post('/shop?deal=7', $body, 'X-Shopify-Hmac-Sha256' => '%%%%');
refused($t, $r, 'signature_invalid', 'not base64');

rejection_logged($t, '/shop', 'signature_missing',
                 'no "X-Shopify-Hmac-Sha256" header');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'shpss_test', sig($s1, $tampered),
               sig($s2, $tampered));

done_testing;
