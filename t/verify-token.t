#!/usr/bin/perl

# b24trigger_verify token: a shared secret compared in constant time, from
# a header, a query argument, a body field, a bearer token or basic
# credentials ("user:password" is the secret); several secrets rotate.

use strict;
use warnings;

use Test::More;
use MIME::Base64 qw(encode_base64);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(24);
my $s2 = B24T::random_secret(24);
my $q = B24T::random_secret(24);
my $f = B24T::random_secret(24);

$t->emulator;
$t->nginx(http_block(
    location(path => '/header', verify => 'token header=X-Api-Key',
             secrets => [$s1, $s2]),
    location(path => '/query', verify => 'token query=key', secrets => [$q]),
    location(path => '/bearer', verify => 'token bearer', secrets => [$s1]),
    location(path => '/basic', verify => 'token basic',
             secrets => ["tilda:$s1"]),
    location(path => '/field', verify => 'token field=auth.token',
             secrets => [$f]),
));

my $r;
my $body = '{"tranid":"' . B24T::random_secret(10) . '"}';

# header=

$r = $t->post('/header?deal=1', $body, 'X-Api-Key' => $s1);
forwarded($t, $r, 1, 'header');

$r = $t->post('/header?deal=2', $body, 'x-api-key' => $s2);
forwarded($t, $r, 2, 'header, second secret, any case of the name');

$r = $t->post('/header?deal=3', $body, 'X-Api-Key' => "${s1}x");
refused($t, $r, 'token_invalid', 'header, longer token');

$r = $t->post('/header?deal=3', $body, 'X-Api-Key' => substr($s1, 0, -1));
refused($t, $r, 'token_invalid', 'header, prefix of the token');

$r = $t->post('/header?deal=3', $body, 'X-Other' => $s1);
refused($t, $r, 'signature_missing', 'header, missing');

# query=

$r = $t->post("/query?deal=3&key=$q", $body);
forwarded($t, $r, 3, 'query');

$r = $t->post("/query?deal=4&key=${q}1", $body);
refused($t, $r, 'token_invalid', 'query, wrong');

$r = $t->post('/query?deal=4', $body);
refused($t, $r, 'signature_missing', 'query, missing');

# bearer

$r = $t->post('/bearer?deal=4', $body, 'Authorization' => "Bearer $s1");
forwarded($t, $r, 4, 'bearer');

$r = $t->post('/bearer?deal=5', $body, 'Authorization' => "Bearer $s2");
refused($t, $r, 'token_invalid', 'bearer, wrong');

$r = $t->post('/bearer?deal=5', $body, 'Authorization' => "Basic $s1");
refused($t, $r, 'signature_missing', 'bearer, other scheme');

$r = $t->post('/bearer?deal=5', $body);
refused($t, $r, 'signature_missing', 'bearer, no Authorization');

# basic

$r = $t->post('/basic?deal=5', $body,
              'Authorization' => 'Basic ' . encode_base64("tilda:$s1", ''));
forwarded($t, $r, 5, 'basic');

$r = $t->post('/basic?deal=6', $body,
              'Authorization' => 'Basic ' . encode_base64("other:$s1", ''));
refused($t, $r, 'token_invalid', 'basic, other user');

$r = $t->post('/basic?deal=6', $body, 'Authorization' => 'Basic %%%');
refused($t, $r, 'token_invalid', 'basic, not base64');

$r = $t->post('/basic?deal=6', $body);
refused($t, $r, 'signature_missing', 'basic, no Authorization');

# field=: a JSON dot path or a form field of the body

my $fb = '{"auth":{"token":"' . $f . '"},"tranid":"1"}';

$r = $t->post('/field?deal=6', $fb, 'Content-Type' => 'application/json');
forwarded($t, $r, 6, 'field, JSON');

$r = $t->post('/field?deal=7', 'auth%5Btoken%5D=' . $f . '&tranid=2',
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 7, 'field, form auth[token]');

(my $wrong = $fb) =~ s/"token":"/"token":"x/;
$r = $t->post('/field?deal=8', $wrong, 'Content-Type' => 'application/json');
refused($t, $r, 'token_invalid', 'field, wrong token');

$r = $t->post('/field?deal=8', '{"tranid":"1"}',
              'Content-Type' => 'application/json');
refused($t, $r, 'signature_missing', 'field, missing');

rejection_logged($t, '/header', 'token_invalid', 'token does not match');
rejection_logged($t, '/header', 'signature_missing',
                 'no token in the request');

$t->finish;
$t->secret_nowhere;

# a query token is in the request line, hence in access logs and in
# nginx's own debug echo of the URI: none of the module's lines has it
my @ours = map { s/, request: ".*$//r } grep { /b24trigger/ }
           split /\n/, $t->error_log;
ok(!grep({ index($_, $q) >= 0 } @ours), 'query token in no line of ours');
nothing_leaked($t, 'no token in replies or logs', $s1, $s2, $f);

done_testing;
