#!/usr/bin/perl

# b24trigger_verify tbank: T-Bank (Tinkoff) acquiring notifications, JSON
# with a "Token": SHA-256 hex of the values of the root scalar fields
# except Token, plus Password (the terminal password), sorted by name and
# concatenated; booleans as true/false, numbers as their digits; nested
# objects and arrays (Receipt, DATA) left out.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(16);
my $s2 = B24T::random_secret(16);

$t->emulator;
$t->nginx(http_block(
    location(path => '/tb', verify => 'tbank', secrets => [$s1, $s2]),
    location(path => '/tb-v9', verify => 'tbank',
             secrets => ['11111111111111']),
    location(path => '/tb-v10', verify => 'tbank',
             secrets => ['Dfsfh56dgKl']),
));

# [name, JSON text, the value as T-Bank hashes it]; a Token of its own
sub body {
    my ($password, @f) = @_;

    my @scalar = grep { defined $_->[2] } @f;
    my $token = sha256_hex(join '', map { $_->[2] }
                           sort { $a->[0] cmp $b->[0] }
                           @scalar, ['Password', '', $password]);

    return ('{' . join(',', map { "\"$_->[0]\":$_->[1]" } @f,
                       ['Token', "\"$token\""]) . '}', $token);
}

my ($body, $token, $r);

# V9: the token example of developer.tbank.ru (an Init request's fields)

my @v9 = (['TerminalKey', '"MerchantTerminalKey"', 'MerchantTerminalKey'],
          ['Amount', '19200', '19200'],
          ['OrderId', '"00000"', '00000'],
          ['Description', '"Подарочная карта на 1000 рублей"',
           'Подарочная карта на 1000 рублей']);

($body, $token) = body('11111111111111', @v9);
is($token, '72dd466f8ace0a37a1f740ce5fb78101712bc0665d91a8108c7c8a0ccd426db2',
   'Perl computes the official token V9');

$r = $t->post('/tb-v9?deal=1', $body, 'Content-Type' => 'application/json');
forwarded($t, $r, 1, 'official vector V9');

# V10: the notification example of the acquiring API documentation

my @v10 = (['TerminalKey', '"1321054611234DEMO"', '1321054611234DEMO'],
           ['OrderId', '"201709"', '201709'],
           ['Success', 'true', 'true'],
           ['Status', '"AUTHORIZED"', 'AUTHORIZED'],
           ['PaymentId', '8742591', '8742591'],
           ['ErrorCode', '"0"', '0'],
           ['Amount', '9855', '9855'],
           ['RebillId', '101709', '101709'],
           ['CardId', '322264', '322264'],
           ['Pan', '"430000******0777"', '430000******0777'],
           ['ExpDate', '"1122"', '1122']);

($body, $token) = body('Dfsfh56dgKl', @v10);
is($token, 'b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b',
   'Perl computes the official token V10');

$r = $t->post('/tb-v10?deal=2', $body);
forwarded($t, $r, 2, 'official vector V10');

(my $v10b = $body) =~ s/"Amount":9855/"Amount":98550/;
$r = $t->post('/tb-v10?deal=2', $v10b);
refused($t, $r, 'signature_invalid', 'V10 with another amount');

# nested objects, arrays and nulls are not hashed; rotation

my @f = (['TerminalKey', '"TinkoffBankTest"', 'TinkoffBankTest'],
         ['OrderId', '"' . int(rand(1e6)) . '"', undef],
         ['Success', 'false', 'false'],
         ['Status', '"CONFIRMED"', 'CONFIRMED'],
         ['Amount', '100000', '100000'],
         ['DATA', '{"Phone":"+7000"}', undef],
         ['Receipt', '{"Items":[{"Name":"x"}]}', undef],
         ['Items', '[1,2]', undef],
         ['Note', 'null', undef]);
$f[1][2] = substr($f[1][1], 1, -1);

($body, $token) = body($s1, @f);
$r = $t->post('/tb?deal=3', $body);
forwarded($t, $r, 3, 'valid, with nested fields');

my ($body2) = body($s2, @f);
$r = $t->post('/tb?deal=4', $body2);
forwarded($t, $r, 4, 'second secret');

(my $upper = $body) =~ s/"Token":"(\w+)"/'"Token":"' . uc($1) . '"'/e;
$r = $t->post('/tb?deal=5', $upper);
forwarded($t, $r, 5, 'upper-case token');

# refused

(my $tampered = $body) =~ s/CONFIRMED/REFUNDED/;
$r = $t->post('/tb?deal=6', $tampered);
refused($t, $r, 'signature_invalid', 'tampered body');

(my $nested = $body) =~ s/"Phone":"\+7000"/"Phone":"+7999"/;
$r = $t->post('/tb?deal=7', $nested);
forwarded($t, $r, 7, 'nested fields are not signed (as T-Bank does)');

my ($wrong) = body('other', @f);
$r = $t->post('/tb?deal=8', $wrong);
refused($t, $r, 'signature_invalid', 'wrong password');

(my $notoken = $body) =~ s/,"Token":"\w+"//;
$r = $t->post('/tb?deal=8', $notoken);
refused($t, $r, 'signature_missing', 'no Token');

# a body whose fields cannot be read: 400, as where mapping needs them

sub body_invalid {
    my ($r, $reason, $name) = @_;
    is($r->{status}, 400, "$name: 400") or diag($r->{body});
    is_deeply($r->{json}, { error => 'body_invalid', reason => $reason },
              "$name: body_invalid");
    is($r->{headers}{'x-b24-error'}, 'body_invalid',
       "$name: \$b24trigger_error is body_invalid");
}

$r = $t->post('/tb?deal=8', 'TerminalKey=x&Token=y',
              'Content-Type' => 'application/x-www-form-urlencoded');
body_invalid($r, 'JSON: unexpected character at byte 0',
             'not JSON, whatever the Content-Type');

$r = $t->post('/tb?deal=8', '[1,2]');
refused($t, $r, 'signature_missing', 'JSON, not an object');

(my $dup = $body) =~ s/^\{/{"Status":"REJECTED",/;
$r = $t->post('/tb?deal=8', $dup);
body_invalid($r, 'field "Status" appears twice', 'a field given twice');

rejection_logged($t, '/tb', 'signature_invalid', '"Token" does not match');
rejection_logged($t, '/tb', 'signature_missing', 'no "Token" field');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no password, no computed token in any log',
               $s1, $s2, '11111111111111', 'Dfsfh56dgKl',
               (body($s1, map { [@$_] } @f))[1] =~ s/./x/r);

done_testing;
