#!/usr/bin/perl

# b24trigger_verify github: "X-Hub-Signature-256: sha256=<hex>", the
# HMAC-SHA256 of the raw body, JSON or form alike.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex hmac_sha1_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(40);
my $s2 = B24T::random_secret(40);

$t->emulator;
$t->nginx(http_block(
    location(path => '/gh', verify => 'github', secrets => [$s1, $s2]),
    location(path => '/gh-docs', verify => 'github',
             secrets => ["It's a Secret to Everybody"]),
    location(path => '/gh-octokit', verify => 'github',
             secrets => ['mysecret']),
));

sub sig { 'sha256=' . hmac_sha256_hex($_[1], $_[0]) }

my $r;
my $body = '{"action":"opened","issue":{"number":' . int(rand(1000)) . '}}';

# the official vectors: GitHub's documentation and octokit's tests

my $v1 = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b'
       . '043e17';
my $v2 = 'sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484'
       . '236bda3';

is(sig("It's a Secret to Everybody", 'Hello, World!'), $v1,
   'Perl computes the documentation vector');

$r = $t->post('/gh-docs?deal=1', 'Hello, World!',
              'X-Hub-Signature-256' => $v1);
forwarded($t, $r, 1, 'GitHub documentation vector');

$r = $t->post('/gh-docs?deal=1', 'Hello, World?',
              'X-Hub-Signature-256' => $v1);
refused($t, $r, 'signature_invalid', 'documentation vector, tampered');

$r = $t->post('/gh-octokit?deal=2', '{"foo":"bar"}',
              'X-Hub-Signature-256' => $v2);
forwarded($t, $r, 2, 'octokit vector');

$r = $t->post('/gh?deal=2', '{"foo":"bar"}', 'X-Hub-Signature-256' => $v2);
refused($t, $r, 'signature_invalid', 'octokit vector, other secrets');

# valid JSON and form bodies, rotation, upper-case hex

$r = $t->post('/gh?deal=3', $body, 'X-Hub-Signature-256' => sig($s1, $body),
              'Content-Type' => 'application/json');
forwarded($t, $r, 3, 'valid');

my $form = 'payload=' . '%7B%22zen%22%3A%22Keep%20it%20simple.%22%7D';

$r = $t->post('/gh?deal=4', $form, 'X-Hub-Signature-256' => sig($s1, $form),
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 4, 'valid form body');

$r = $t->post('/gh?deal=5', $body, 'X-Hub-Signature-256' => sig($s2, $body));
forwarded($t, $r, 5, 'second secret');

$r = $t->post('/gh?deal=6', $body,
              'X-Hub-Signature-256' => 'sha256=' . uc hmac_sha256_hex($body,
                                                                      $s1));
forwarded($t, $r, 6, 'upper-case hex');

# refused

(my $tampered = $body) =~ s/opened/closed/;

$r = $t->post('/gh?deal=7', $tampered,
              'X-Hub-Signature-256' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/gh?deal=7', $body,
              'X-Hub-Signature-256' => sig('other', $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/gh?deal=7', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = $t->post('/gh?deal=7', $body,
              'X-Hub-Signature' => 'sha1=' . hmac_sha1_hex($body, $s1));
refused($t, $r, 'signature_missing', 'legacy sha1 header only');

$r = $t->post('/gh?deal=7', $body,
              'X-Hub-Signature-256' => hmac_sha256_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'no sha256= prefix');

$r = $t->post('/gh?deal=7', $body,
              'X-Hub-Signature-256' => 'sha1=' . hmac_sha256_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'other prefix');

$r = $t->post('/gh?deal=7', $body,
              'X-Hub-Signature-256' => substr(sig($s1, $body), 0, -2));
refused($t, $r, 'signature_invalid', 'truncated signature');

$r = $t->post('/gh?deal=7', $body,
              'X-Hub-Signature-256' => sig($s1, $body) . '00');
refused($t, $r, 'signature_invalid', 'signature too long');

rejection_logged($t, '/gh', 'signature_missing',
                 'no "X-Hub-Signature-256" header');
rejection_logged($t, '/gh', 'signature_invalid',
                 '1 signature in "X-Hub-Signature-256", none matches');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, "It's a Secret", 'mysecret',
               hmac_sha256_hex($tampered, $s1),
               hmac_sha256_hex($tampered, $s2));

done_testing;
