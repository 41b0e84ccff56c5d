#!/usr/bin/perl

# b24trigger_verify woocommerce: "X-WC-Webhook-Signature", base64 of the
# HMAC-SHA256 of the raw body, keyed with the secret HTML-entity-decoded
# as WordPress does; the unsigned creation ping "webhook_id=N" is answered
# 200 and forwarded nowhere.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64 hmac_sha512_base64);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

$t->emulator;
$t->nginx(http_block(
    location(path => '/woo', verify => 'woocommerce', secrets => [$s1, $s2]),
    location(path => '/woo-vector', verify => 'woocommerce',
             secrets => ['woo_secret']),
    location(path => '/woo-html', verify => 'woocommerce',
             secrets => ['a&amp;b&lt;c&gt;d&quot;e&#039;f&#x27;g']),
    location(path => '/woo-512', verify => 'woocommerce alg=sha512',
             secrets => [$s1]),
));

sub pad { my $b = shift; $b .= '=' while length($b) % 4; $b }
sub sig { pad(hmac_sha256_base64($_[1], $_[0])) }

my $r;
my $body = '{"id":' . int(rand(1e6)) . ',"status":"processing"}';

# reference vector (webhook-signatures.md §3, self-computed)

my $vector = 'WyBH8a9xS3AfEC1IoarpcVkoInLGQSgn7IpOt75rui8=';
is(sig('woo_secret', '{"id":1}'), $vector, 'Perl computes the vector');

$r = $t->post('/woo-vector?deal=1', '{"id":1}',
              'X-WC-Webhook-Signature' => $vector);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/woo?deal=2', $body,
              'X-WC-Webhook-Signature' => sig($s1, $body));
forwarded($t, $r, 2, 'valid');

$r = $t->post('/woo?deal=3', $body,
              'X-WC-Webhook-Signature' => sig($s2, $body));
forwarded($t, $r, 3, 'second secret');

$r = $t->post('/woo-html?deal=4', $body,
              'X-WC-Webhook-Signature' => sig(q{a&b<c>d"e'f'g}, $body));
forwarded($t, $r, 4, 'secret stored with HTML entities');

$r = $t->post('/woo-512?deal=5', $body,
              'X-WC-Webhook-Signature' => pad(hmac_sha512_base64($body, $s1)));
forwarded($t, $r, 5, 'alg=sha512');

$r = $t->post('/woo-512?deal=6', $body,
              'X-WC-Webhook-Signature' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'alg=sha512, SHA-256 signature');

(my $tampered = $body) =~ s/processing/completed/;

$r = $t->post('/woo?deal=6', $tampered,
              'X-WC-Webhook-Signature' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/woo?deal=6', $body,
              'X-WC-Webhook-Signature' => sig('x', $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/woo?deal=6', $body);
refused($t, $r, 'signature_missing', 'no header');

# the creation ping: unsigned, answered here, nothing forwarded

$r = $t->post('/woo?deal=6', 'webhook_id=17',
              'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 200, 'ping: 200');
is_deeply($r->{json}, { result => 'ignored' }, 'ping: ignored');
is(scalar @{ $t->calls }, 5, 'ping: nothing forwarded');

$r = $t->post('/woo?deal=6', 'webhook_id=17&x=1');
refused($t, $r, 'signature_missing', 'not quite a ping');

$r = $t->post('/woo?deal=6', 'webhook_id=');
refused($t, $r, 'signature_missing', 'ping without an id');

$r = $t->post('/woo?deal=6', 'webhook_id=17',
              'X-WC-Webhook-Signature' => sig('x', 'webhook_id=17'));
refused($t, $r, 'signature_invalid', 'ping with a wrong signature');

like($t->error_log, qr/\[info\] .*b24trigger: woocommerce ping answered/,
     'ping logged');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'woo_secret', sig($s1, $tampered));

done_testing;
