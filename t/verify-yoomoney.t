#!/usr/bin/perl

# b24trigger_verify yoomoney: YooMoney wallet HTTP notifications,
# "sha1_hash" = SHA-1 hex of "notification_type&operation_id&amount&
# currency&datetime&sender&codepro&notification_secret&label".

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha1_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(28);
my $s2 = B24T::random_secret(28);

$t->emulator;
$t->nginx(http_block(
    location(path => '/ym', verify => 'yoomoney', secrets => [$s1, $s2]),
    location(path => '/ym-docs', verify => 'yoomoney',
             secrets => ['01234567890ABCDEF01234567890']),
));

my @signed = qw(notification_type operation_id amount currency datetime
                sender codepro);

sub sig {
    my ($f, $secret) = @_;
    return sha1_hex(join '&', (map { defined $f->{$_} ? $f->{$_} : '' }
                               @signed), $secret,
                    defined $f->{label} ? $f->{label} : '');
}

sub esc {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub form {
    my ($f) = @_;
    return join '&', map { esc($_) . '=' . esc($f->{$_}) } sort keys %$f;
}

my $r;

# the documentation's example (notification-p2p-incoming)

my %doc = (notification_type => 'p2p-incoming', operation_id => '1234567',
           amount => '300.00', currency => '643',
           datetime => '2011-07-01T09:00:00.000+04:00',
           sender => '41001XXXXXXXX', codepro => 'false',
           label => 'YM.label.12345');

is(sig(\%doc, '01234567890ABCDEF01234567890'),
   'a2ee4a9195f4a90e893cff4f62eeba0b662321f9',
   'Perl computes the official example');

my $docsig = 'a2ee4a9195f4a90e893cff4f62eeba0b662321f9';

$r = $t->post('/ym-docs?deal=1',
              form({ %doc, withdraw_amount => '301.50',
                     sha1_hash => $docsig }),
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 1, 'official example');

$r = $t->post('/ym-docs?deal=1',
              form({ %doc, amount => '3000.00', sha1_hash => $docsig }));
refused($t, $r, 'signature_invalid', 'official example, other amount');

my %f = (%doc, operation_id => int(rand(1e9)),
         datetime => '2026-01-02T03:04:05Z', label => 'deal-42');

$r = $t->post('/ym?deal=2', form({ %f, sha1_hash => sig(\%f, $s1) }));
forwarded($t, $r, 2, 'valid');

$r = $t->post('/ym?deal=3', form({ %f, sha1_hash => sig(\%f, $s2) }));
forwarded($t, $r, 3, 'second secret');

my %nolabel = %f;
delete $nolabel{label};
$r = $t->post('/ym?deal=4',
              form({ %nolabel, sha1_hash => sig(\%nolabel, $s1) }));
forwarded($t, $r, 4, 'no label: signed as empty');

$r = $t->post('/ym?deal=5', form({ %f, sender => '41001000000000',
                                   sha1_hash => sig(\%f, $s1) }));
refused($t, $r, 'signature_invalid', 'tampered sender');

$r = $t->post('/ym?deal=5', form({ %f, sha1_hash => sig(\%f, 'other') }));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/ym?deal=5', form(\%f));
refused($t, $r, 'signature_missing', 'no sha1_hash');

rejection_logged($t, '/ym', 'signature_missing', 'no "sha1_hash" field');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no secret, no computed hash in any log',
               $s1, $s2, '01234567890ABCDEF01234567890',
               sig({ %f, sender => '41001000000000' }, $s1));

done_testing;
