#!/usr/bin/perl

# Attacker review of "one view of the body" (issue 13, finding 1): a captured,
# correctly signed notification, and the spellings of a second "label" /
# "OrderId" / "Shp_deal" that t/security-reaim.t does not try.  The SAFE
# outcome for each: DEAL_999 never reaches the portal (the request is
# refused, or forwarded to the signed DEAL_57).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha1_hex);
use B24T;
use B24TV qw(tbank_json robokassa_signature);

my $t = B24T->new;
my $ym_secret = B24T::random_secret(28);
my $rk_secret = B24T::random_secret(20);
my $tb_secret = B24T::random_secret(20);

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;

    b24trigger_field \$ym_label  label;
    b24trigger_field \$rk_deal   Shp_deal;
    b24trigger_field \$tb_order  OrderId;

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
    }
EOF

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my @json = ('Content-Type' => 'application/json');

my $seen = 0;

sub safe {
    my ($r, $name) = @_;
    my $calls = $t->calls;
    my @new = map { $_->{params}{target} } @$calls[$seen .. $#$calls];
    $seen = @$calls;
    ok(!grep({ $_ ne 'DEAL_57' } @new), "$name: no other deal than 57")
        or diag("$r->{status} $r->{body}; portal got @new");
}

# YooMoney
my @ym_signed = qw(notification_type operation_id amount currency datetime
                   sender codepro);
my %ym = (notification_type => 'p2p-incoming', operation_id => 1234567,
          amount => '300.00', currency => '643',
          datetime => '2026-01-02T03:04:05Z', sender => '41001000000001',
          codepro => 'false', label => '57');
$ym{sha1_hash} = sha1_hex(join '&', (map { $ym{$_} } @ym_signed),
                          $ym_secret, $ym{label});
my $ym = join '&', map { "$_=$ym{$_}" } @ym_signed, 'label', 'sha1_hash';

# controls: the captures themselves are forwarded, so a refusal below is
# the body's doing, not a bad signature
sub forwarded {
    my ($r, $name) = @_;
    is($r->{json} && $r->{json}{target}, 'DEAL_57', "$name: DEAL_57")
        or diag("$r->{status} $r->{body}");
    $seen = @{ $t->calls };
}

forwarded($t->post('/ym', $ym, @form), 'yoomoney, as signed');

for my $extra ('label%00=999', 'label%20=999', '+label=999', 'label+=999',
               '%EF%BB%BFlabel=999', 'label[]=999', 'label[0]=999',
               'label]=999', 'label[=999', 'label%5B%5D=999',
               ';label=999', 'label;=999', 'lab%C5%82el=999',
               'label%3D999', 'label=999%00')
{
    safe($t->post('/ym', "$ym&$extra", @form), "yoomoney, &$extra");
    safe($t->post('/ym', "$extra&$ym", @form), "yoomoney, $extra& first");
}

safe($t->post('/ym', "$ym&", @form), 'yoomoney, a trailing &');
safe($t->post('/ym', "$ym;label=999", @form), 'yoomoney, ;label=999');
safe($t->post('/ym', "\xEF\xBB\xBF$ym&label=999", @form),
     'yoomoney, a BOM first');
safe($t->post('/ym', "$ym&label=999",
              'Content-Type' => 'multipart/form-data; boundary=x'),
     'yoomoney, multipart');
safe($t->post('/ym', "$ym&label=999"), 'yoomoney, no Content-Type');

# Robokassa: POST body and a query string both there
my %rk = (OutSum => '100.000000', InvId => '57', Shp_deal => '57');
my $rk = 'OutSum=100.000000&InvId=57&Shp_deal=57&SignatureValue='
         . robokassa_signature($rk_secret, \%rk);

forwarded($t->post('/rk', $rk, @form), 'robokassa, as signed');
forwarded($t->request('GET', "/rk?$rk"), 'robokassa GET, as signed');

safe($t->post('/rk?Shp_deal=999', $rk, @form),
     'robokassa, POST with ?Shp_deal=999');
safe($t->request('GET', "/rk?$rk&Shp_deal%00=999"),
     'robokassa GET, &Shp_deal%00=999');
safe($t->request('GET', "/rk?$rk&Shp_deal[]=999"),
     'robokassa GET, &Shp_deal[]=999');
safe($t->post('/rk', '', @form, 'X-Original' => $rk),
     'robokassa, empty POST');
safe($t->request('POST', "/rk?Shp_deal=999&$rk",
                 body => '', headers => \@form),
     'robokassa, empty POST, the query re-aimed in front');

# T-Bank
my $tb = tbank_json($tb_secret, [TerminalKey => '"T"'], [OrderId => '"57"'],
                    [Status => '"CONFIRMED"'], [Amount => 9855]);

forwarded($t->post('/tb', $tb, @json), 'tbank, as signed');

for my $key ('OrderId\u0000', '\ufeffOrderId', 'orderid', 'ORDERID',
             'OrderId ', ' OrderId')
{
    (my $b = $tb) =~ s/^\{/{"$key":"999",/;
    safe($t->post('/tb', $b, @json), "tbank, \"$key\":\"999\"");
}

(my $overlong = $tb) =~ s/^\{/{"Order\xC1\x89d":"999",/;
safe($t->post('/tb', $overlong, @json), 'tbank, an overlong "I"');

(my $nested = $tb) =~ s/^\{/{"DATA":{"OrderId":"999","OrderId":"998"},/;
safe($t->post('/tb', $nested, @json), 'tbank, nested OrderId twice');

for my $num ('57.0', '5.7e1', '057', '-0', '57e0')
{
    (my $b = $tb) =~ s/"OrderId":"57"/"OrderId":$num/;
    safe($t->post('/tb', $b, @json), "tbank, OrderId $num");
}

safe($t->post('/tb', "\xEF\xBB\xBF$tb", @json), 'tbank, a BOM first');
safe($t->post('/tb', "[$tb]", @json), 'tbank, in an array');

$t->finish;

done_testing;
