#!/usr/bin/perl

# b24trigger_verify robokassa: the ResultURL notification's
# "SignatureValue", a digest (MD5 unless alg= says otherwise) of
# "OutSum:InvId:Password#2[:Shp_a=..:Shp_b=..]", the Shp_ fields sorted by
# name, hex compared without regard to case; form POST or GET query.

use strict;
use warnings;

use Test::More;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(20);
my $s2 = B24T::random_secret(20);

$t->emulator;
$t->nginx(http_block(
    location(path => '/rk', verify => 'robokassa', secrets => [$s1, $s2],
             extra => 'b24trigger_methods GET POST;'),
    location(path => '/rk-docs', verify => 'robokassa',
             secrets => ['Пароль#2']),
    location(path => '/rk-md5', verify => 'robokassa',
             secrets => ['password2']),
    location(path => '/rk-sha256', verify => 'robokassa alg=sha256',
             secrets => ['password2']),
));

sub sig {
    my ($f, $password, $hash) = @_;
    $hash ||= \&md5_hex;
    my @shp = sort grep { /^shp_/i } keys %$f;
    return uc $hash->(join ':', $f->{OutSum}, $f->{InvId}, $password,
                      map { "$_=$f->{$_}" } @shp);
}

sub esc {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub form {
    my ($f, @order) = @_;
    @order = sort keys %$f unless @order;
    return join '&', map { esc($_) . '=' . esc($f->{$_}) } @order;
}

my $r;
my $md5 = 'D48572ED7AABD3F676BB17A6E96F1DE1';
my $sha256 = '6846C44B56BB724F82EC3BD1680ACDA5FE06DD4FC1462B45766A61B777CC24C3';

# the documentation's string (docs.robokassa.ru): Shp_ fields sorted

my %doc = (OutSum => '100.000000', InvId => '450009', Shp_oplata => '1',
           Shp_login => 'Vasya');
my $docsig = uc md5_hex('100.000000:450009:Пароль#2:Shp_login=Vasya:'
                        . 'Shp_oplata=1');
is(sig(\%doc, 'Пароль#2'), $docsig, 'Perl builds the documented string');

$r = $t->post('/rk-docs?deal=1',
              form({ %doc, SignatureValue => $docsig },
                   qw(OutSum InvId Shp_oplata Shp_login SignatureValue)),
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 1, 'documented string, Shp_ fields sent unsorted');

# the reference's digests of the same string with "password2"

is(sig(\%doc, 'password2'), $md5,
   'Perl computes the MD5 vector');

$r = $t->post('/rk-md5?deal=2', form({ %doc, SignatureValue => $md5 }));
forwarded($t, $r, 2, 'MD5 vector');

$r = $t->post('/rk-sha256?deal=3',
              form({ %doc, SignatureValue => $sha256 }));
forwarded($t, $r, 3, 'SHA-256 vector, alg=sha256');

$r = $t->post('/rk-sha256?deal=3', form({ %doc, SignatureValue => $md5 }));
refused($t, $r, 'signature_invalid', 'alg=sha256, MD5 signature');

# valid, rotation, lower case, GET, URL-encoded Shp_ values

my %f = (OutSum => '250.000000', InvId => int(rand(1e6)) + 1,
         Fee => '5.000000', EMail => 'buyer@example.com',
         Shp_deal => '57', Shp_name => 'Иван Петров');

$r = $t->post('/rk?deal=4', form({ %f, SignatureValue => sig(\%f, $s1) }));
forwarded($t, $r, 4, 'valid');

$r = $t->post('/rk?deal=5', form({ %f, SignatureValue => sig(\%f, $s2) }));
forwarded($t, $r, 5, 'second secret');

$r = $t->post('/rk?deal=6',
              form({ %f, SignatureValue => lc sig(\%f, $s1) }));
forwarded($t, $r, 6, 'lower-case signature');

$r = $t->request('GET', '/rk?deal=7&'
                 . form({ %f, SignatureValue => sig(\%f, $s1) }));
forwarded($t, $r, 7, 'GET with the fields in the query string');

# refused

$r = $t->post('/rk?deal=8', form({ %f, OutSum => '2.000000',
                                   SignatureValue => sig(\%f, $s1) }));
refused($t, $r, 'signature_invalid', 'tampered OutSum');

$r = $t->post('/rk?deal=8', form({ %f, Shp_deal => '58',
                                   SignatureValue => sig(\%f, $s1) }));
refused($t, $r, 'signature_invalid', 'tampered Shp_ field');

$r = $t->post('/rk?deal=8', form({ %f, Shp_extra => '1',
                                   SignatureValue => sig(\%f, $s1) }));
refused($t, $r, 'signature_invalid', 'added Shp_ field');

$r = $t->post('/rk?deal=8', form({ %f, SignatureValue => sig(\%f, 'x') }));
refused($t, $r, 'signature_invalid', 'wrong password');

$r = $t->post('/rk?deal=8', form(\%f));
refused($t, $r, 'signature_missing', 'no SignatureValue');

rejection_logged($t, '/rk', 'signature_missing', 'no "SignatureValue" field');
rejection_logged($t, '/rk', 'signature_invalid',
                 '"SignatureValue" does not match');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no password, no computed signature in any log',
               $s1, $s2, 'password2',
               sig({ %f, OutSum => '2.000000' }, $s1),
               lc sig({ %f, OutSum => '2.000000' }, $s1));

done_testing;
