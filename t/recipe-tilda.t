#!/usr/bin/perl

# doc/providers/tilda.md, "Tilda: a filled form moves a lead"; the
# same form sent twice is forwarded once (a token signs nothing: the
# replay shield keys on the body, the target and the code).

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'tilda', secrets => { tilda => $key });

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

my $r = $t->post("/hooks/tilda?key=$key", 'test=test', @form);
is($r->{status}, 200, 'the connection test: 200');
is_deeply($r->{json}, { result => 'ignored' }, 'the connection test: ignored');
is(scalar @{ $t->calls }, 0, 'the test reached no portal');

my $filled = 'Name=%D0%98%D0%B2%D0%B0%D0%BD&Phone=%2B7+900+000-00-00'
           . '&Email=ivan%40example.com&lead_id=12'
           . '&tranid=5312345%3A2345678&formid=form123456';

$r = $t->post("/hooks/tilda?key=$key", $filled, @form);
is($r->{status}, 200, 'a filled form: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'LEAD_12',
                        code => 'site_form' }, 'a filled form: forwarded');
is_deeply($t->calls->[0]{params}, { target => 'LEAD_12', code => 'site_form' },
          'the portal got LEAD_12');

$r = $t->post("/hooks/tilda?key=$key", $filled, @form);
is_deeply($r->{json}, { result => 'duplicate' }, 'the same form again');

$r = $t->post("/hooks/tilda?key=$key", 'Name=x', @form);
is($r->{status}, 422, 'a form without lead_id: 422');

$r = $t->post('/hooks/tilda', 'test=test', @form);
is($r->{status}, 401, 'no key: 401');

$r = $t->post('/hooks/tilda?key=' . B24T::random_secret(24),
              'Name=x&lead_id=13', @form);
is($r->{status}, 401, 'another key: 401');
is_deeply($r->{json}, { error => 'token_invalid' },
          'another key: token_invalid');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;

done_testing;
