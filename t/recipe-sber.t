#!/usr/bin/perl

# doc/providers/sber.md, "A deposited order moves a deal": Sber's
# callback with a checksum, as a GET (Sber's default) and as a form POST;
# other operations and failures acknowledged, not forwarded; a tampered
# one, another key and a replay reach nothing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);
use B24TParams qw(form sber_checksum);

my $t = B24T->new;
my $key = B24T::random_secret(32);

$t->emulator;
B24TRecipe::run($t, 'sber', secrets => { sber => $key });

sub callback {
    my ($k, %o) = @_;
    my %p = (mdOrder => $o{md} || '3ff6962a-7dcc-4283-ab50-a6d7dd3386fe',
             orderNumber => $o{order} || 'deal-57',
             operation => $o{operation} || 'deposited',
             status => defined $o{status} ? $o{status} : '1');
    return form((map { ($_, $p{$_}) } sort keys %p),
                checksum => sber_checksum($k, \%p));
}

my $r = $t->request('GET', '/hooks/sber?' . callback($key));
is($r->{status}, 200, 'GET deposited: 200');
is_deeply($t->calls->[0]{params}, { target => 'DEAL_57', code => 'sber_paid' },
          'GET deposited: DEAL_57 moved');

$r = $t->post('/hooks/sber', callback($key, order => 'deal-58', md => 'b'),
              'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 200, 'POST deposited: 200');
is($t->calls->[1]{target}, 'DEAL_58', 'POST deposited: DEAL_58 moved');

$r = $t->request('GET', '/hooks/sber?'
                 . callback($key, operation => 'approved', md => 'c'));
is($r->{json}{result}, 'ignored', 'approved (not deposited): ignored');

$r = $t->request('GET', '/hooks/sber?'
                 . callback($key, status => '0', md => 'd'));
is($r->{json}{result}, 'ignored', 'a failed deposit: ignored');

$r = $t->request('GET', '/hooks/sber?'
                 . (callback($key, md => 'e') =~ s/deal-57/deal-99/r));
is($r->{status}, 401, 'another order under the checksum: 401');

$r = $t->request('GET', '/hooks/sber?'
                 . callback(B24T::random_secret(32), md => 'e'));
is($r->{status}, 401, 'another key: 401');

$r = $t->request('GET', '/hooks/sber?' . callback($key));
is($r->{json}{result}, 'duplicate', 'the first callback again: duplicate');

# ";" in a value: status merged into orderNumber signs the same string;
# the anchored map and the ignore on a missing status refuse to act

my $merged = callback($key, md => 'f');
$merged =~ s/orderNumber=deal-57&status=1&/orderNumber=deal-57%3Bstatus%3B1&/
    or die "no merge";
$r = $t->request('GET', "/hooks/sber?$merged");
is($r->{status}, 200, 'status merged into orderNumber: 200, the same checksum');
is($r->{json}{result}, 'ignored', 'status merged into orderNumber: ignored');

is(scalar @{ $t->calls }, 2, 'two calls in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no Sber key anywhere', $key);

done_testing;
