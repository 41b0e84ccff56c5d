#!/usr/bin/perl

# Security review, finding 1: a captured, correctly signed notification
# re-aimed at another deal.  The presets that sign field values rather
# than the raw body (yoomoney, robokassa, tbank) must read the body
# exactly as the mapping reads it: one parse, one kind of body whatever
# the Content-Type says, names matched exactly, and a name given twice
# refused.  Each attack starts from one notification signed as the
# provider signs it (secrets random per run) and is run as doc/providers'
# recipes map: the target from the label, InvId or OrderId field.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha1_hex);
use B24T;
use B24TV qw(nothing_leaked tbank_json robokassa_signature
             github_signature);

my $t = B24T->new;
my $ym_secret = B24T::random_secret(28);
my $rk_secret = B24T::random_secret(20);
my $tb_secret = B24T::random_secret(20);
my $gh_secret = B24T::random_secret(20);

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=1000;

    b24trigger_field \$ym_label  label;
    b24trigger_field \$rk_inv    InvId;
    b24trigger_field \$rk_deal   Shp_deal;
    b24trigger_field \$tb_order  OrderId;
    b24trigger_field \$gh_issue  issue.number;

    server {
        listen %%LISTEN%%;

        location = /ym {
            b24trigger_pass    main;
            b24trigger_verify  yoomoney;
            b24trigger_secret  "$ym_secret";
            b24trigger_target  DEAL_\$ym_label;
            b24trigger_code    yoomoney_paid;
        }

        location = /rk {
            b24trigger_pass    main;
            b24trigger_verify  robokassa;
            b24trigger_secret  "$rk_secret";
            b24trigger_methods GET POST;
            b24trigger_target  DEAL_\$rk_inv;
            b24trigger_code    robokassa_paid;
        }

        location = /rk-shp {
            b24trigger_pass    main;
            b24trigger_verify  robokassa;
            b24trigger_secret  "$rk_secret";
            b24trigger_methods GET POST;
            b24trigger_target  DEAL_\$rk_deal;
            b24trigger_code    robokassa_paid;
        }

        location = /tb {
            b24trigger_pass    main;
            b24trigger_verify  tbank;
            b24trigger_secret  "$tb_secret";
            b24trigger_target  DEAL_\$tb_order;
            b24trigger_code    tbank_paid;
        }

        location = /gh {
            b24trigger_pass    main;
            b24trigger_verify  github;
            b24trigger_secret  "$gh_secret";
            b24trigger_target  DEAL_\$gh_issue;
            b24trigger_code    github_issue;
        }
    }
EOF

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my @json = ('Content-Type' => 'application/json');

sub esc {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# the portal's calls so far, and what the latest request added
my $seen = 0;

sub new_targets {
    my $calls = $t->calls;
    my @new = map { $_->{params}{target} } @$calls[$seen .. $#$calls];
    $seen = @$calls;
    return join ',', @new;
}

sub forwarded_to {
    my ($r, $target, $name) = @_;
    is($r->{status}, 200, "$name: 200") or diag($r->{body} || $r->{error});
    is(new_targets(), $target, "$name: the portal got $target only");
}

sub body_invalid {
    my ($r, $reason, $name) = @_;
    is($r->{status}, 400, "$name: 400") or diag($r->{body} || $r->{error});
    is_deeply($r->{json}, { error => 'body_invalid', reason => $reason },
              "$name: body_invalid, $reason");
    is(new_targets(), '', "$name: nothing forwarded");
}

sub refused {
    my ($r, $error, $name) = @_;
    is($r->{status}, 401, "$name: 401") or diag($r->{body} || $r->{error});
    is_deeply($r->{json}, { error => $error }, "$name: $error");
    is(new_targets(), '', "$name: nothing forwarded");
}

###############################################################################
# YooMoney: label signed, the target from label

my @ym_signed = qw(notification_type operation_id amount currency datetime
                   sender codepro);

my %ym = (notification_type => 'p2p-incoming',
          operation_id => int(rand(1e9)) + 1, amount => '300.00',
          currency => '643', datetime => '2026-01-02T03:04:05Z',
          sender => '41001000000001', codepro => 'false', label => '57');
$ym{sha1_hash} = sha1_hex(join '&', (map { $ym{$_} } @ym_signed),
                          $ym_secret, $ym{label});

my @ym_order = (@ym_signed, 'label', 'sha1_hash');
my $ym = join '&', map { "$_=" . esc($ym{$_}) } @ym_order;

my $r = $t->post('/ym', $ym, @form);
forwarded_to($r, 'DEAL_57', 'yoomoney, as signed');

$r = $t->post('/ym', "$ym&label=999", @form);
body_invalid($r, 'field "label" appears twice',
             'yoomoney, &label=999 appended');

$r = $t->post('/ym', "label=999&$ym", @form);
body_invalid($r, 'field "label" appears twice',
             'yoomoney, label=999& prepended');

$r = $t->post('/ym', "$ym&lab%65l=999", @form);
body_invalid($r, 'field "label" appears twice',
             'yoomoney, &lab%65l=999 (the same name, encoded)');

for my $name (qw(LABEL Label)) {
    (my $renamed = $ym) =~ s/(^|&)label=/$1$name=/;
    $r = $t->post('/ym', "$renamed&label=999", @form);
    refused($r, 'signature_invalid',
            "yoomoney, signed label renamed $name, &label=999 appended");
}

$r = $t->post('/ym', "$ym&LABEL=999", @form);
forwarded_to($r, 'DEAL_57', 'yoomoney, &LABEL=999 is another field');

$r = $t->post('/ym', "$ym&operation_id=1", @form);
body_invalid($r, 'field "operation_id" appears twice',
             'yoomoney, a signed name repeated');

$r = $t->post('/ym', "$ym&sha1_hash=0", @form);
body_invalid($r, 'field "sha1_hash" appears twice',
             'yoomoney, the signature repeated');

$r = $t->post('/ym', $ym, 'Content-Type' => 'application/json');
forwarded_to($r, 'DEAL_57', 'yoomoney, a form whatever the Content-Type');

###############################################################################
# Robokassa: InvId signed, the target from InvId (and from Shp_deal)

my %rk = (OutSum => '100.000000', InvId => '57', Shp_deal => '57');
my $rk_sig = robokassa_signature($rk_secret, \%rk);
my $rk = "OutSum=100.000000&InvId=57&Shp_deal=57&SignatureValue=$rk_sig"
       . '&Fee=3.900000&EMail=client%40example.com';

$r = $t->post('/rk', $rk, @form);
forwarded_to($r, 'DEAL_57', 'robokassa, as signed');

$r = $t->post('/rk', "$rk&InvId=999", @form);
body_invalid($r, 'field "InvId" appears twice',
             'robokassa, &InvId=999 appended');

for my $name (qw(invid INVID InvID)) {
    (my $renamed = $rk) =~ s/(^|&)InvId=/$1$name=/;
    $r = $t->post('/rk', "$renamed&InvId=999", @form);
    refused($r, 'signature_invalid',
            "robokassa, signed InvId renamed $name, &InvId=999 appended");
}

$r = $t->post('/rk-shp', "$rk&Shp_deal=999", @form);
body_invalid($r, 'field "Shp_deal" appears twice',
             'robokassa, &Shp_deal=999 appended');

$r = $t->post('/rk-shp', "$rk&shp_deal=999", @form);
refused($r, 'signature_invalid',
        'robokassa, &shp_deal=999 is a Shp_ field too, and signed');

$r = $t->request('GET', "/rk?$rk");
forwarded_to($r, 'DEAL_57', 'robokassa GET, the fields of the query');

$r = $t->request('GET', "/rk?$rk&InvId=999");
body_invalid($r, 'field "InvId" appears twice',
             'robokassa GET, &InvId=999 appended');

###############################################################################
# T-Bank: every root scalar signed, the target from OrderId

my @tb = ([TerminalKey => '"1321054611234DEMO"'],
          [OrderId => '"57"'],
          [Success => 'true'],
          [Status => '"CONFIRMED"'],
          [PaymentId => int(rand(1e9)) + 1],
          [ErrorCode => '"0"'],
          [Amount => '9855'],
          [Pan => '"430000******0777"'],
          [ExpDate => '"1122"']);

my $tb = tbank_json($tb_secret, @tb);

$r = $t->post('/tb', $tb, @json);
forwarded_to($r, 'DEAL_57', 'tbank, as signed');

# an empty value adds nothing to the concatenation: the Token still fits
(my $tb_form = $tb) =~ s/^\{/{"&OrderId=999&x":"",/;

$r = $t->post('/tb', $tb_form, @json);
forwarded_to($r, 'DEAL_57', 'tbank, root key "&OrderId=999&x", JSON');

$r = $t->post('/tb', $tb_form, @form);
forwarded_to($r, 'DEAL_57',
             'tbank, root key "&OrderId=999&x" sent as a form: read as JSON');

$r = $t->post('/tb', $tb, 'Content-Type' => 'text/plain');
forwarded_to($r, 'DEAL_57', 'tbank, JSON whatever the Content-Type');

(my $tb_dup = $tb) =~ s/\}$/,"OrderId":"999"}/;
$r = $t->post('/tb', $tb_dup, @json);
body_invalid($r, 'field "OrderId" appears twice',
             'tbank, "OrderId" repeated');

(my $tb_esc = $tb) =~ s/^\{/{"Order\\u0049d":"999",/;
$r = $t->post('/tb', $tb_esc, @json);
body_invalid($r, 'field "OrderId" appears twice',
             'tbank, "Order\\u0049d" (the same name, escaped)');

$r = $t->post('/tb', 'TerminalKey=x&OrderId=999&Token=y', @form);
is($r->{status}, 400, 'tbank, a form body: 400');
is($r->{json} && $r->{json}{error}, 'body_invalid',
   'tbank, a form body: body_invalid');
is(new_targets(), '', 'tbank, a form body: nothing forwarded');

# T-Bank's own limit: values are concatenated without a separator, so a
# digit moved from OrderId into the field sorted next to it (ExpDate)
# leaves the Token as it was.  Nothing in the body tells the two apart;
# doc/verification.md says so, and the Token is the same, so a replay
# shield keyed by the signature would answer it as a repeat.

(my $tb_moved = $tb) =~ s/"OrderId":"57"/"OrderId":"7"/;
$tb_moved =~ s/"ExpDate":"1122"/"ExpDate":"11225"/;

$r = $t->post('/tb', $tb_moved, @json);
forwarded_to($r, 'DEAL_7',
             'tbank limitation: a digit moved from OrderId to ExpDate '
             . 'still verifies');

###############################################################################
# GitHub: the raw body signed, the Content-Type not.  A JSON body whose
# text a stranger wrote in part (an issue title) must not become a form
# whose fields that stranger chose.

my $gh = '{"issue":{"number":57,"title":"x&issue[number]=999&y"}}';
my @gh_sig = ('X-Hub-Signature-256' => github_signature($gh_secret, $gh));

$r = $t->post('/gh', $gh, @json, @gh_sig);
forwarded_to($r, 'DEAL_57', 'github, as signed');

$r = $t->post('/gh', $gh, @form, @gh_sig);
forwarded_to($r, 'DEAL_57',
             'github, the signed JSON sent as a form: read as JSON');

like($t->error_log,
     qr/\[info\] .*b24trigger: invalid body, fields needed in location "\/ym": field "label" appears twice/,
     'a repeated name is logged at info');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no provider secret anywhere',
               $ym_secret, $rk_secret, $tb_secret, $gh_secret);

done_testing;
