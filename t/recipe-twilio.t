#!/usr/bin/perl

# doc/providers/twilio.md, "A Studio flow moves a deal": a request signed
# by Twilio's SDK for the public URL of the recipe's url= moves the deal
# of its deal_id parameter and gets empty TwiML; a changed parameter,
# another Auth Token, a URL nginx's own view of which was signed, and a
# replay reach nothing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);
use B24TParams qw(form twilio_signature);

my $t = B24T->new;
my $token = B24T::random_secret(32);

$t->emulator;
B24TRecipe::run($t, 'twilio', secrets => { twilio => $token });

my %p = (FlowSid => 'FW' . B24T::random_secret(32),
         AccountSid => 'AC' . B24T::random_secret(32), deal_id => '57');
my $url = 'https://hooks.example.com/hooks/twilio';
my $body = form(map { ($_, $p{$_}) } sort keys %p);
my @ct = ('Content-Type' => 'application/x-www-form-urlencoded');

my $r = $t->post('/hooks/twilio', $body, @ct,
                 'X-Twilio-Signature' => twilio_signature($token, $url, \%p));
is($r->{status}, 200, 'signed for the public URL: 200');
is($r->{body}, '<Response/>', 'empty TwiML');
like($r->{headers}{'content-type'}, qr{^text/xml}, 'as text/xml');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'twilio_flow' }, 'DEAL_57 moved');

$r = $t->post('/hooks/twilio', $body =~ s/deal_id=57/deal_id=99/r, @ct,
              'X-Twilio-Signature' => twilio_signature($token, $url, \%p));
is($r->{status}, 401, 'another deal_id under the signature: 401');

$r = $t->post('/hooks/twilio', $body, @ct,
              'X-Twilio-Signature'
              => twilio_signature($token, "http://127.0.0.1:$t->{port}"
                                          . '/hooks/twilio', \%p));
is($r->{status}, 401, 'signed for the address nginx sees: 401');

$r = $t->post('/hooks/twilio', $body, @ct,
              'X-Twilio-Signature'
              => twilio_signature(B24T::random_secret(32), $url, \%p));
is($r->{status}, 401, 'another Auth Token: 401');

$r = $t->post('/hooks/twilio', $body, @ct,
              'X-Twilio-Signature' => twilio_signature($token, $url, \%p));
is($r->{status}, 200, 'the same request again: 200');
like($t->error_log, qr/\[info\].*b24trigger: replay not forwarded/,
     'the same request again: not forwarded, logged');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no Auth Token anywhere', $token);

done_testing;
