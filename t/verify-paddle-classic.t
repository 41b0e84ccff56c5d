#!/usr/bin/perl

# b24trigger_verify paddle_classic: Paddle Classic's (Billing v1) alerts,
# form POSTs whose "p_signature" field is the base64 of an RSA signature,
# SHA-1, of PHP's serialize() of the other fields sorted by name, every
# value a string; the public key is the PEM of Paddle's dashboard, given
# with key=file:.  Signed here with node:crypto and the php-serialize
# package as Paddle's Node.js example serializes, and checked with that
# example's own code first.  Tampered, added and removed fields, wrong
# key, malformed signatures and names PHP would rewrite are refused,
# nothing reaches the portal; no timestamp is signed, so the replay
# shield forwards a signed alert once.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV;
use B24TPK;

my $t = B24T->new;
my $k = pk_keys($t);
my $dir = $k->{dir};

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/pc',
             verify => "paddle_classic key=file:$dir/rsa.pub.pem"),
    location(path => '/pc-two',
             verify => "paddle_classic key=file:$dir/rsa2.pub.pem "
                     . "key=file:$dir/rsa.pub.pem"),
    location(path => '/pc-replay',
             verify => "paddle_classic key=file:$dir/rsa.pub.pem",
             extra => 'b24trigger_replay replays;'),
));

my %fields = (
    alert_name => 'payment_succeeded',
    alert_id => '' . (1000000 + int rand 1000000),
    email => 'buyer+test@example.com',
    event_time => '2024-05-01 12:00:00',
    passthrough => '{"deal_id":57,"note":"a & b = c"}',
    customer_name => "Jos\x{e9} \x{421}\x{435}\x{440}\x{433}\x{435}\x{439}",
    balance_gross => '10.00',
    quantity => '1',
    coupon => '',
    'p-dash' => 'x',
    Zeta => 'upper case sorts first',
);

sub sign {
    my ($key, $f) = @_;

    my $r = pk_sign({ op => 'paddle', key => $k->{$key}{priv},
                      pub => $k->{$key}{pub}, fields => $f });
    ok($r->{verified}, "Paddle's example verifies the $key signature")
        or diag(explain $r);

    return $r->{sig};
}

# a form body, fields in the order given (not sorted), UTF-8, + for blanks
sub form {
    my (@pairs) = @_;
    my @out;
    while (my ($n, $v) = splice @pairs, 0, 2) {
        (my $e = uri_escape_utf8($v)) =~ s/%20/+/g;
        push @out, uri_escape_utf8($n) . "=$e";
    }
    return join '&', @out;
}

sub body {
    my ($sig, %f) = @_;
    return form((map { $_ => $f{$_} } reverse sort keys %f),
                p_signature => $sig);
}

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my $sig = sign('rsa', \%fields);
my $body = body($sig, %fields);
my $r;

$r = $t->post('/pc?deal=1', $body, @form);
forwarded($t, $r, 1, 'valid');

$r = $t->post('/pc-two?deal=2', $body, @form);
forwarded($t, $r, 2, 'valid, second of two keys');

$r = $t->post('/pc?deal=3', form(p_signature => $sig,
                                 map { $_ => $fields{$_} } sort keys %fields),
              'Content-Type' => 'text/plain');
forwarded($t, $r, 3, 'valid, signature first, read as a form whatever '
                     . 'the Content-Type');

# tampered, added, removed fields

$r = $t->post('/pc?deal=4', body($sig, %fields, quantity => '2'), @form);
refused($t, $r, 'signature_invalid', 'tampered value');

$r = $t->post('/pc?deal=4', body($sig, %fields, deal_id => '13'), @form);
refused($t, $r, 'signature_invalid', 'an unsigned field added');

my %less = %fields;
delete $less{coupon};
$r = $t->post('/pc?deal=4', body($sig, %less), @form);
refused($t, $r, 'signature_invalid', 'an empty field removed');

# wrong key, malformed and missing signatures

$r = $t->post('/pc?deal=4', body(sign('rsa2', \%fields), %fields), @form);
refused($t, $r, 'signature_invalid', 'signed with another key');

$r = $t->post('/pc?deal=4', body('not base64!', %fields), @form);
refused($t, $r, 'signature_invalid', 'p_signature not base64');

$r = $t->post('/pc?deal=4', body('A' x 1000, %fields), @form);
refused($t, $r, 'signature_invalid', 'p_signature too long');

$r = $t->post('/pc?deal=4', body(substr($sig, 0, 100), %fields), @form);
refused($t, $r, 'signature_invalid', 'p_signature truncated');

$r = $t->post('/pc?deal=4', form(map { $_ => $fields{$_} } keys %fields),
              @form);
refused($t, $r, 'signature_missing', 'no p_signature');

$r = $t->post('/pc?deal=4', body('', %fields), @form);
refused($t, $r, 'signature_missing', 'empty p_signature');

# names PHP rewrites: signed as sent, refused all the same

for my $name ('a.b', 'a b', 'a[b]', '12', ' lead', "caf\x{e9}") {
    my %odd = (%fields, $name => 'v');
    $r = $t->post('/pc?deal=4', body(sign('rsa', \%odd), %odd), @form);
    refused($t, $r, 'signature_invalid', "field name \"$name\"");
}

# a field given twice: the body is invalid (one view of the body)

$r = $t->post('/pc?deal=4', "$body&quantity=2", @form);
is($r->{status}, 400, 'a field given twice: 400') or diag($r->{body});
is($r->{json}{error}, 'body_invalid', 'a field given twice: body_invalid');

# the replay shield: the same signed alert forwarded once

$r = $t->post('/pc-replay?deal=5', $body, @form);
forwarded($t, $r, 5, 'first delivery behind the shield');

$r = $t->post('/pc-replay?deal=6', $body . '', @form);
is($r->{status}, 200, 'replayed: 200');
is($r->{json}{result}, 'duplicate', 'replayed: duplicate');
is(scalar @{ $t->calls }, 4, 'replayed: nothing forwarded');

rejection_logged($t, '/pc', 'signature_invalid',
                 '"p_signature" does not match');
rejection_logged($t, '/pc', 'signature_invalid',
                 'a field name PHP would rewrite');
rejection_logged($t, '/pc', 'signature_missing', 'no "p_signature" field');

$t->finish;
$t->secret_nowhere;

done_testing;
