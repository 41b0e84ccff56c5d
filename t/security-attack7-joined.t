#!/usr/bin/perl

# Attacker review 7: Robokassa signs "...:Shp_a=x:Shp_b=y" and Sber
# "a;x;b;y;", the separators being bytes a value may hold.  Where a
# stranger wrote the value sorted before the mapped field (a Shp_comment,
# a description), a captured notification splits another way under the
# same signature: the stranger's text ends in ":Shp_deal=999" (";orderNumber;
# deal-999"), and the real field and the one after it are folded into a
# new name, "Shp_deal=57:Shp_item" ("orderNumber;deal-57"), so that no
# name is given twice and the mapped value is clean.  Before the fix
# DEAL_999 reached the portal through an anchored map, with no shield.
# Real names never hold the scheme's separators: such a name is now
# refused, and what is left to move (the stranger's value taking the rest)
# is refused by the anchored map or the target check.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use B24T;
use B24TV qw(nothing_leaked robokassa_signature);
use B24TParams qw(form sber_checksum);

my $t = B24T->new;
my $rk_pw = B24T::random_secret(16);
my $sb_key = B24T::random_secret(16);

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field \$rk_deal  Shp_deal;
    b24trigger_field \$sb_order orderNumber;

    map \$rk_deal \$rk_ok {
        ~^([0-9]+)\$  \$1;
    }

    map \$sb_order \$sb_deal {
        ~^deal-([0-9]+)\$  \$1;
    }

    server {
        listen %%LISTEN%%;

        add_header X-B24-Error \$b24trigger_error always;

        location = /rk {
            b24trigger_pass    crm;
            b24trigger_verify  robokassa alg=sha256;
            b24trigger_secret  $rk_pw;
            b24trigger_target  DEAL_\$rk_ok;
            b24trigger_code    paid;
        }

        location = /rk-raw {
            b24trigger_pass    crm;
            b24trigger_verify  robokassa alg=sha256;
            b24trigger_secret  $rk_pw;
            b24trigger_target  DEAL_\$rk_deal;
            b24trigger_code    paid;
        }

        location = /sber {
            b24trigger_pass    crm;
            b24trigger_verify  sber;
            b24trigger_secret  $sb_key;
            b24trigger_target  DEAL_\$sb_deal;
            b24trigger_code    sber_paid;
        }
    }
EOF

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my $seen = 0;

sub portal_got {
    my ($name, @targets) = @_;
    my $calls = $t->calls;
    my @new = map { $_->{target} } @$calls[$seen .. $#$calls];
    $seen = @$calls;
    is_deeply(\@new, \@targets,
              "$name: the portal got " . (@targets ? "@targets" : 'nothing'));
}

###############################################################################
# Robokassa

my %rk = (OutSum => '100.00', InvId => '5',
          Shp_comment => 'call me:Shp_deal=999', Shp_deal => '57',
          Shp_item => 'book');
my $rsig = robokassa_signature($rk_pw, \%rk, \&sha256_hex);

for my $loc ('/rk', '/rk-raw') {
    my $r = $t->post($loc, form(%rk, SignatureValue => $rsig), @form);
    is($r->{json} && $r->{json}{target}, 'DEAL_57', "robokassa $loc: signed")
        or diag($r->{raw});
    portal_got("robokassa $loc, as signed", 'DEAL_57');

    # the real Shp_deal and Shp_item folded into one name

    $r = $t->post($loc, form(OutSum => '100.00', InvId => '5',
                             Shp_comment => 'call me', Shp_deal => '999',
                             'Shp_deal=57:Shp_item' => 'book',
                             SignatureValue => $rsig), @form);
    is($r->{status}, 401, "robokassa $loc, folded into a name: 401")
        or diag($r->{raw});
    is($r->{json} && $r->{json}{error}, 'signature_invalid',
       "robokassa $loc, folded into a name: signature_invalid");
    portal_got("robokassa $loc, folded into a name");

    # what is left: the stranger's Shp_deal takes the rest as its value

    $r = $t->post($loc, form(OutSum => '100.00', InvId => '5',
                             Shp_comment => 'call me',
                             Shp_deal => '999:Shp_deal=57:Shp_item=book',
                             SignatureValue => $rsig), @form);
    isnt($r->{status}, 200, "robokassa $loc, folded into the value: refused")
        or diag($r->{raw});
    portal_got("robokassa $loc, folded into the value");
}

like($t->error_log, qr/\[info\] .*webhook rejected in location "\/rk": signature_invalid \(a Shp_ field name holds ":" or "="\)/,
     'robokassa: the refusal logged');

###############################################################################
# Sber

my %sb = (mdOrder => 'a1b2', description => 'call me;orderNumber;deal-999',
          operation => 'deposited', orderNumber => 'deal-57', status => '1');
my $ssig = sber_checksum($sb_key, \%sb);

my $r = $t->post('/sber', form(%sb, checksum => $ssig), @form);
is($r->{json} && $r->{json}{target}, 'DEAL_57', 'sber: signed')
    or diag($r->{raw});
portal_got('sber, as signed', 'DEAL_57');

# sorted: description, mdOrder, operation, orderNumber, status; the
# stranger's text must come just before orderNumber, so here it is in a
# parameter named so that it sorts there

%sb = (mdOrder => 'a1b2', operation => 'deposited',
       orderDescription => 'hi;orderNumber;deal-999',
       orderNumber => 'deal-57', status => '1');
$ssig = sber_checksum($sb_key, \%sb);

$r = $t->post('/sber', form(%sb, checksum => $ssig), @form);
is($r->{json} && $r->{json}{target}, 'DEAL_57', 'sber, a description: signed')
    or diag($r->{raw});
portal_got('sber, a description, as signed', 'DEAL_57');

$r = $t->post('/sber', form(mdOrder => 'a1b2', operation => 'deposited',
                            orderDescription => 'hi',
                            orderNumber => 'deal-999',
                            'orderNumber;deal-57' => 'status;1',
                            checksum => $ssig), @form);
is($r->{status}, 401, 'sber, folded into a name: 401') or diag($r->{raw});
portal_got('sber, folded into a name');

$r = $t->post('/sber', form(mdOrder => 'a1b2', operation => 'deposited',
                            orderDescription => 'hi',
                            orderNumber => 'deal-999;orderNumber;deal-57',
                            status => '1', checksum => $ssig), @form);
isnt($r->{status}, 200, 'sber, folded into the value: refused')
    or diag($r->{raw});
portal_got('sber, folded into the value');

like($t->error_log, qr/\[info\] .*webhook rejected in location "\/sber": signature_invalid \(a parameter name holds ";"\)/,
     'sber: the refusal logged');

$t->finish;
nothing_leaked($t, 'no secret anywhere', $rk_pw, $sb_key);
$t->secret_nowhere;

done_testing;
