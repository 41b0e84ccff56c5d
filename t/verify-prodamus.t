#!/usr/bin/perl

# b24trigger_verify prodamus: the "Sign" header, HMAC-SHA256 in hex of
# the form as Prodamus' PHP class signs $_POST (nested names, every value
# a string, keys sorted at every level, json_encode with
# JSON_UNESCAPED_UNICODE).  The signer is t/lib/B24TParams.pm, written
# from Prodamus' documentation, checked against the reference vector.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV;
use B24TParams qw(form prodamus_json prodamus_sign);

my $t = B24T->new;
my $s1 = B24T::random_secret(24);
my $s2 = B24T::random_secret(24);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/pd', verify => 'prodamus', secrets => [$s1, $s2]),
    location(path => '/pd-vector', verify => 'prodamus',
             secrets => ['pd_secret']),
    location(path => '/pd-replay', verify => 'prodamus', secrets => [$s1],
             extra => 'b24trigger_replay replays;'),
));

my @ct = ('Content-Type' => 'application/x-www-form-urlencoded');
my $r;

# the reference vector (webhook-signatures.md §3, Prodamus)

my $vector = form(order_id => '1', sum => '100.00',
                  customer_email => 'a@b.c', domain => 'demo.payform.ru',
                  payment_status => 'success',
                  'products[0][name]' => 'Тест',
                  'products[0][price]' => '100.00',
                  'products[0][quantity]' => '1');

is(prodamus_json($vector),
   '{"customer_email":"a@b.c","domain":"demo.payform.ru","order_id":"1",'
   . '"payment_status":"success","products":[{"name":"Тест",'
   . '"price":"100.00","quantity":"1"}],"sum":"100.00"}',
   'the signer writes the reference canonical JSON');
is(prodamus_sign('pd_secret', $vector),
   '37511f3ecbcdbfe65a7cefc72ee9f2ba0d6e34a5827ca0dc8a065f7b4a2d5be7',
   'the signer gives the reference signature');

$r = $t->post('/pd-vector?deal=1', $vector, @ct,
              Sign => '37511f3ecbcdbfe65a7cefc72ee9f2ba0d6e34a5827ca0dc8a065f7b4a2d5be7');
forwarded($t, $r, 1, 'reference vector');

# a notification as Prodamus sends it: two products, escapes, slashes

my @n = (date => '2026-12-07T12:00:00+03:00', order_id => '4711',
         order_num => 'deal-57', domain => 'shop.payform.ru',
         sum => '1500.00', customer_phone => '+79990001122',
         customer_email => 'buyer@example.com',
         customer_extra => "Комментарий \"в кавычках\" / слеш\nстрока",
         payment_type => 'Оплата картой', commission => '3.5',
         'products[0][name]' => 'Курс', 'products[0][price]' => '1000.00',
         'products[0][quantity]' => '1', 'products[0][sum]' => '1000.00',
         'products[1][name]' => 'Книга', 'products[1][price]' => '500.00',
         'products[1][quantity]' => '1', 'products[1][sum]' => '500.00',
         payment_status => 'success',
         payment_status_description => 'Успешная оплата',
         'link_expired' => '', 'sys' => 'b24');

my $body = form(@n);

$r = $t->post('/pd?deal=2', $body, @ct, Sign => prodamus_sign($s1, $body));
forwarded($t, $r, 2, 'valid');

$r = $t->post('/pd?deal=3', $body, @ct, Sign => prodamus_sign($s2, $body));
forwarded($t, $r, 3, 'second secret');

$r = $t->post('/pd?deal=4', $body, @ct,
              Sign => uc prodamus_sign($s1, $body));
forwarded($t, $r, 4, 'upper-case hex');

# the same fields in another order sign the same

my %h = @n;
my $other = form(map { ($_, $h{$_}) } reverse sort keys %h);
$r = $t->post('/pd?deal=5', $other, @ct, Sign => prodamus_sign($s1, $body));
forwarded($t, $r, 5, 'fields in another order, the same signature');

# the same notification as multipart/form-data (Prodamus may send it so)

my $mb = 'pd' . B24T::random_secret(12);
my $multipart = join('', map {
    "--$mb\r\nContent-Disposition: form-data; name=\"$n[2 * $_]\"\r\n\r\n"
    . $n[2 * $_ + 1] . "\r\n" } 0 .. $#n / 2) . "--$mb--\r\n";

$r = $t->post('/pd?deal=20', $multipart,
              'Content-Type' => "multipart/form-data; boundary=$mb",
              Sign => prodamus_sign($s1, $body));
forwarded($t, $r, 20, 'multipart/form-data, the same signature');

$r = $t->post('/pd?deal=20', $multipart =~ s/1500\.00/15.00/r,
              'Content-Type' => "multipart/form-data; boundary=$mb",
              Sign => prodamus_sign($s1, $body));
refused($t, $r, 'signature_invalid', 'multipart, tampered sum');

# refused

my $tampered = form(@n) =~ s/sum=1500.00/sum=15.00/r;
$r = $t->post('/pd?deal=6', $tampered, @ct, Sign => prodamus_sign($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered sum');

$r = $t->post('/pd?deal=6', "$body&extra=1", @ct,
              Sign => prodamus_sign($s1, $body));
refused($t, $r, 'signature_invalid', 'added field');

$r = $t->post('/pd?deal=6',
              $body =~ s/products%5B1%5D%5Bname%5D=[^&]*&//r, @ct,
              Sign => prodamus_sign($s1, $body));
refused($t, $r, 'signature_invalid', 'removed nested field');

$r = $t->post('/pd?deal=6', $body, @ct,
              Sign => prodamus_sign(B24T::random_secret(24), $body));
refused($t, $r, 'signature_invalid', 'wrong key');

$r = $t->post('/pd?deal=6', $body, @ct);
refused($t, $r, 'signature_missing', 'no Sign header');

$r = $t->post('/pd?deal=6', $body, @ct, Sign => 'zz' x 32);
refused($t, $r, 'signature_invalid', 'Sign not hex');

# forms PHP reads otherwise than b24trigger_field: refused, not guessed

for my $case (['a.b' => 'a dot PHP makes "_"'],
              ['a b' => 'a space PHP makes "_"'],
              ['a[b' => 'an open bracket'],
              ['a[b]c' => 'text after "]"'],
              ['a[]' => 'an appended "[]"'],
              ['a[00]' => 'a key PHP compares as a number'],
              ['a[1.5]' => 'a decimal key'])
{
    my ($name, $what) = @$case;
    my $f = form(@n, $name => 'x');
    my $sig = eval { prodamus_sign($s1, $f) } || ('0' x 64);
    $r = $t->post('/pd?deal=7', $f, @ct, Sign => $sig);
    refused($t, $r, 'signature_invalid', $what);
}

$r = $t->post('/pd?deal=7', form(@n, 'products[0]' => 'x'), @ct,
              Sign => '0' x 64);
refused($t, $r, 'signature_invalid', 'a value and an array of one name');

$r = $t->post('/pd?deal=7', form(@n, 'products[x]' => 'y'), @ct,
              Sign => '0' x 64);
refused($t, $r, 'signature_invalid', 'integer and string keys side by side');

my $unsignable = () = $t->error_log
    =~ /webhook rejected in location "\/pd": signature_invalid \(the form is not one Prodamus signs/g;
is($unsignable, 9, 'each of the nine refused as a form Prodamus does not sign');

# a name given twice: 400 before anything is hashed

$r = $t->post('/pd?deal=7', "$body&sum=1.00", @ct,
              Sign => prodamus_sign($s1, $body));
is($r->{status}, 400, 'a root name twice: 400');
is($r->{json}{error}, 'body_invalid', 'a root name twice: body_invalid');

# the replay shield: the same signed notification forwarded once

$r = $t->post('/pd-replay?deal=8', $body, @ct,
              Sign => prodamus_sign($s1, $body));
forwarded($t, $r, 8, 'shielded');

my $calls = scalar @{ $t->calls };
$r = $t->post('/pd-replay?deal=9', $body, @ct,
              Sign => prodamus_sign($s1, $body));
is($r->{status}, 200, 'replayed: 200');
is($r->{json}{result}, 'duplicate', 'replayed: duplicate');
is(scalar @{ $t->calls }, $calls, 'replayed: nothing forwarded');

rejection_logged($t, '/pd', 'signature_missing', 'no "Sign" header');
rejection_logged($t, '/pd', 'signature_invalid', '"Sign" does not match');
rejection_logged($t, '/pd', 'signature_invalid',
                 'the form is not one Prodamus signs: [^)]+');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no key, no computed signature in any log', $s1, $s2,
               prodamus_sign($s1, $tampered));

done_testing;
