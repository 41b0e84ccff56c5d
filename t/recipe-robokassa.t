#!/usr/bin/perl

# doc/providers/robokassa.md, "ResultURL moves a deal", answered
# OK<InvId>; the notification signed as Robokassa signs it
# (SignatureValue, SHA-256 as the recipe's alg= says, of
# OutSum:InvId:Password#2:Shp_deal=.., in upper case), a wrong signature
# refused without OK.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked robokassa_signature);

my $t = B24T->new;
my $password = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'robokassa', secrets => { robokassa => $password });

# a ResultURL POST, as Robokassa sends it (the old names out_summ, inv_id
# and crc alongside the new ones)
sub result {
    my ($key, $email) = @_;
    $email ||= 'client%40example.com';
    my %f = (OutSum => '100.000000', InvId => '450009', Shp_deal => '57');
    my $sig = robokassa_signature($key, \%f, \&sha256_hex);
    return 'out_summ=100.000000&OutSum=100.000000&inv_id=450009'
         . "&InvId=450009&crc=$sig&SignatureValue=$sig"
         . '&PaymentMethod=BankCard&IncSum=100.000000&IncCurrLabel=BankCardPSR'
         . "&EMail=$email&Fee=3.900000&Shp_deal=57";
}

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

my $r = $t->post('/hooks/robokassa/result', result($password), @form);
is($r->{status}, 200, 'ResultURL: 200');
is($r->{body}, 'OK450009', 'ResultURL: OK<InvId>');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'robokassa_paid' },
          'the portal got DEAL_57');

$r = $t->post('/hooks/robokassa/result',
              result(B24T::random_secret(24)), @form);
is($r->{status}, 401, 'signed with another password: 401');
is_deeply($r->{json}, { error => 'signature_invalid' },
          'signed with another password: signature_invalid');
unlike($r->{body}, qr/^OK/, 'and no OK');

# the notification captured and sent again: other unsigned fields, a
# Shp_deal in the query string; the same signature, so the same request

$r = $t->post('/hooks/robokassa/result?Shp_deal=999',
              result($password, 'other%40example.com'), @form);
is($r->{status}, 200, 'replayed: 200');
is($r->{body}, 'OK450009', 'replayed: OK<InvId>, Robokassa stops');
like($t->error_log, qr/\[info\].*b24trigger: replay not forwarded/,
     'replayed: not forwarded, logged');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no Password #2 anywhere', $password);

done_testing;
