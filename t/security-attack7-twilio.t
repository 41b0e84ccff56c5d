#!/usr/bin/perl

# Attacker review 7: Twilio signs the URL then every POST parameter,
# sorted by name, as NAME then VALUE with nothing between them.  A
# parameter sorted just before the one the target comes from, whose text a
# stranger wrote (an SMS body, a Studio flow's "comment" taken from one),
# ending in "deal_id999", lets whoever holds the signed request split the
# same bytes another way: comment="... ", deal_id="999", deal_id5="7".
# Same string, same signature, no name given twice, and the value is all
# digits, so the anchored map that SECURITY.md advised does not stop it.
# The signer is Twilio's own SDK.  The SAFE outcome: DEAL_999 never
# reaches the portal (nginx -t refuses a location that would let it, the
# replay shield answers the moved copy as a duplicate).

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(nothing_leaked);
use B24TParams qw(form twilio_signature);

my $t = B24T->new;
my $token = B24T::random_secret(32);

$t->emulator;

my $url = 'https://hooks.example.com';
my @ct = ('Content-Type' => 'application/x-www-form-urlencoded');

my $http = <<"EOF";
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m;

    b24trigger_field \$twilio_deal  deal_id;

    map \$twilio_deal \$deal_ok {
        ~^([0-9]+)\$  \$1;
    }

    server {
        listen %%LISTEN%%;

        location = /hooks/twilio {
            b24trigger_pass    crm;
            b24trigger_verify  twilio "url=$url\$request_uri";
            b24trigger_secret  $token;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_\$deal_ok;
            b24trigger_code    twilio_flow;
        }
EOF

# without the shield: what nginx -t says of it

my $bare = $http . <<"EOF";

        location = /hooks/twilio-bare {
            b24trigger_pass    crm;
            b24trigger_verify  twilio "url=$url\$request_uri";
            b24trigger_secret  $token;
            b24trigger_target  DEAL_\$deal_ok;
            b24trigger_code    twilio_flow;
        }
    }
EOF

my ($rc, $out) = $t->nginx_test($bare);
isnt($rc, 0, 'nginx -t: twilio fields deciding without a shield refused');
like($out, qr/\[emerg\].*"b24trigger_target" in location "\/hooks\/twilio-bare".*twilio/,
     'nginx -t: says which directive and scheme') or diag($out);

# the same with the variable accepted as unsigned: the operator's choice

($rc, $out) = $t->nginx_test($bare =~ s/(b24trigger_code    twilio_flow;\n        \}\n    \}\n)$/b24trigger_code    twilio_flow;\n            b24trigger_unsigned \$twilio_deal;\n        }\n    }\n/r);
is($rc, 0, 'nginx -t: accepted with b24trigger_unsigned') or diag($out);

$t->nginx($http . "    }\n");

# what Twilio signs: the comment is the stranger's

my %p = (AccountSid => 'AC' . B24T::random_secret(32),
         comment => 'call me back deal_id999', deal_id => '57');
my $sig = twilio_signature($token, "$url/hooks/twilio", \%p);

# the moved copy, before the original: the signature holds for it

my $moved = form(AccountSid => $p{AccountSid}, comment => 'call me back ',
                 deal_id => '999', deal_id5 => '7');

my $r = $t->post('/hooks/twilio', form(map { ($_, $p{$_}) } sort keys %p),
                 @ct, 'X-Twilio-Signature' => $sig);
is($r->{status}, 200, 'as signed: 200') or diag($r->{body});
is($t->calls->[0]{target}, 'DEAL_57', 'as signed: DEAL_57');

$r = $t->post('/hooks/twilio', $moved, @ct, 'X-Twilio-Signature' => $sig);
is_deeply($r->{json}, { result => 'duplicate' },
          'the moved copy: a duplicate of the signed request');
is(scalar @{ $t->calls }, 1, 'the moved copy: nothing more reached the portal');
ok(!grep({ $_->{target} eq 'DEAL_999' } @{ $t->calls }), 'DEAL_999 never');

$t->finish;
nothing_leaked($t, 'the Auth Token nowhere', $token);
$t->secret_nowhere;

done_testing;
