#!/usr/bin/perl

# doc/providers/tbank.md, "A confirmed payment moves a deal", answered OK for
# every status; notifications carry a Token made as T-Bank makes it (SHA-256
# of the root values and the terminal password, sorted by name), a wrong Token
# refused without OK.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked tbank_json);

my $t = B24T->new;
my $password = B24T::random_secret(20);

$t->emulator;
B24TRecipe::run($t, 'tbank', secrets => { tbank => $password });

sub notification {
    my ($status, $key) = @_;
    return tbank_json($key || $password,
                      [TerminalKey => '"1321054611234DEMO"'],
                      [OrderId => '"57"'],
                      [Success => 'true'],
                      [Status => "\"$status\""],
                      [PaymentId => '8742591'],
                      [ErrorCode => '"0"'],
                      [Amount => '9855'],
                      [CardId => '322264'],
                      [Pan => '"430000******0777"'],
                      [ExpDate => '"1122"']);
}

my @json = ('Content-Type' => 'application/json');

my $r = $t->post('/hooks/tbank', notification('AUTHORIZED'), @json);
is($r->{status}, 200, 'AUTHORIZED: 200');
is($r->{body}, 'OK', 'AUTHORIZED: OK');
is(scalar @{ $t->calls }, 0, 'AUTHORIZED reached no portal');

$r = $t->post('/hooks/tbank', notification('CONFIRMED'), @json);
is($r->{status}, 200, 'CONFIRMED: 200');
is($r->{body}, 'OK', 'CONFIRMED: OK');
is_deeply($t->calls->[0]{params}, { target => 'DEAL_57', code => 'tbank_paid' },
          'the portal got DEAL_57');

$r = $t->post('/hooks/tbank',
              notification('CONFIRMED', B24T::random_secret(20)), @json);
is($r->{status}, 401, 'a Token made with another password: 401');
is_deeply($r->{json}, { error => 'signature_invalid' },
          'a Token made with another password: signature_invalid');
isnt($r->{body}, 'OK', 'and no OK');

# T-Bank repeats a notification until it gets OK; a captured one is the
# same: once forwarded, the repeat is acknowledged and not forwarded

$r = $t->post('/hooks/tbank?OrderId=999', notification('CONFIRMED'), @json);
is($r->{status}, 200, 'CONFIRMED again: 200');
is($r->{body}, 'OK', 'CONFIRMED again: OK');
like($t->error_log, qr/\[info\].*b24trigger: replay not forwarded/,
     'CONFIRMED again: not forwarded, logged');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no terminal password anywhere', $password);

done_testing;
