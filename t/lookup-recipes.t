#!/usr/bin/perl

# The lookup recipes of doc/providers/, run as written (B24TRecipe): a
# T-Bank notification's OrderId, a Robokassa ResultURL's InvId, a YooKassa
# notification's metadata.order_id find the deal with that order number
# in UF_CRM_ORDER_ID, a Tilda form's Phone finds the lead with that
# phone; each is triggered with the recipe's code and answered as the
# provider wants.  An order no deal has: 422 and nothing triggered (no OK,
# the provider tries again); re-aimed with a query string: the signed
# order still.  Signed with another secret: 401, nothing asked.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked tbank_json robokassa_signature);

my @crm = (items => [
               { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => '1001' },
               { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => '450009' },
               { entityTypeId => 2, id => 59,
                 UF_CRM_ORDER_ID => 'ord-2024-77' },
           ],
           comms => [
               { entity_type => 'LEAD', id => 12, type => 'PHONE',
                 value => '+7 (900) 123-45-67' },
               { entity_type => 'CONTACT', id => 3, type => 'PHONE',
                 value => '+7 (900) 123-45-67' },
           ]);

sub triggers {
    my ($t) = @_;
    return [ map { [ $_->{target}, $_->{code} ] }
             @{ $t->calls_of('crm.automation.trigger') } ];
}

my @json = ('Content-Type' => 'application/json');
my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

# T-Bank: OrderId

{
    my $t = B24T->new;
    my $password = B24T::random_secret(20);

    $t->emulator;
    $t->emu_crm(@crm);
    B24TRecipe::run($t, 'tbank-lookup', secrets => { tbank => $password });

    my $note = sub {
        my ($order, $status, $key) = @_;
        return tbank_json($key || $password,
                          [TerminalKey => '"1321054611234DEMO"'],
                          [OrderId => "\"$order\""],
                          [Success => 'true'],
                          [Status => "\"$status\""],
                          [PaymentId => '8742591'],
                          [ErrorCode => '"0"'],
                          [Amount => '9855']);
    };

    my $r = $t->post('/hooks/tbank-orders', $note->('1001', 'AUTHORIZED'),
                     @json);
    is($r->{body}, 'OK', 'tbank: AUTHORIZED: OK');
    is(scalar @{ $t->calls }, 0, 'tbank: AUTHORIZED: nothing asked');

    $r = $t->post('/hooks/tbank-orders?OrderId=450009',
                  $note->('1001', 'CONFIRMED'), @json);
    is($r->{status}, 200, 'tbank: CONFIRMED: 200');
    is($r->{body}, 'OK', 'tbank: CONFIRMED: OK');
    is_deeply(triggers($t), [ ['DEAL_57', 'tbank_paid'] ],
              'tbank: order 1001 is DEAL_57, re-aimed or not');

    $r = $t->post('/hooks/tbank-orders', $note->('9999', 'CONFIRMED'),
                  @json);
    is($r->{status}, 422, 'tbank: an order of no deal: 422');
    isnt($r->{body}, 'OK', 'tbank: and no OK, T-Bank sends it again');

    my $asked = scalar @{ $t->calls };
    $r = $t->post('/hooks/tbank-orders',
                  $note->('1001', 'CONFIRMED', B24T::random_secret(20)),
                  @json);
    is($r->{status}, 401, 'tbank: another password: 401');
    is(scalar @{ $t->calls }, $asked, 'tbank: another password: nothing');

    $t->finish;
    $t->secret_nowhere('tbank: no portal secret anywhere');
    nothing_leaked($t, 'tbank: no password anywhere', $password);
}

# Robokassa: InvId

{
    my $t = B24T->new;
    my $password = B24T::random_secret(24);

    $t->emulator;
    $t->emu_crm(@crm);
    B24TRecipe::run($t, 'robokassa-lookup',
                    secrets => { robokassa => $password });

    my $result = sub {
        my ($inv, $key) = @_;
        my %f = (OutSum => '100.000000', InvId => $inv);
        my $sig = robokassa_signature($key || $password, \%f, \&sha256_hex);
        return "OutSum=100.000000&InvId=$inv&SignatureValue=$sig"
             . '&PaymentMethod=BankCard&EMail=client%40example.com';
    };

    my $r = $t->post('/hooks/robokassa/orders?InvId=1001',
                     $result->('450009'), @form);
    is($r->{status}, 200, 'robokassa: 200');
    is($r->{body}, 'OK450009', 'robokassa: OK<InvId>');
    is_deeply(triggers($t), [ ['DEAL_58', 'robokassa_paid'] ],
              'robokassa: invoice 450009 is DEAL_58');

    $r = $t->post('/hooks/robokassa/orders', $result->('777'), @form);
    is($r->{status}, 422, 'robokassa: an invoice of no deal: 422');
    unlike($r->{body}, qr/^OK/, 'robokassa: and no OK');

    $r = $t->post('/hooks/robokassa/orders',
                  $result->('450009', B24T::random_secret(24)), @form);
    is($r->{status}, 401, 'robokassa: another password: 401');

    $t->finish;
    $t->secret_nowhere('robokassa: no portal secret anywhere');
    nothing_leaked($t, 'robokassa: no password anywhere', $password);
}

# YooKassa: metadata.order_id

{
    my $t = B24T->new;

    $t->emulator;
    $t->emu_crm(@crm);
    B24TRecipe::run($t, 'yookassa-lookup');

    my $note = sub {
        my ($event, $order) = @_;
        return '{"type":"notification",'
             . "\"event\":\"$event\",\"object\":{"
             . '"id":"22e12f66-000f-5000-8000-18db351245c7",'
             . '"status":"succeeded","paid":true,'
             . '"amount":{"value":"2.00","currency":"RUB"},'
             . "\"metadata\":{\"order_id\":\"$order\"},\"test\":false}}";
    };

    my $r = $t->post('/hooks/yookassa-orders',
                     $note->('payment.waiting_for_capture', 'ord-2024-77'),
                     @json);
    is($r->{json}{result}, 'ignored', 'yookassa: not paid yet: ignored');

    $r = $t->post('/hooks/yookassa-orders',
                  $note->('payment.succeeded', 'ord-2024-77'), @json);
    is($r->{status}, 200, 'yookassa: 200');
    is_deeply(triggers($t), [ ['DEAL_59', 'yookassa_paid'] ],
              'yookassa: order ord-2024-77 is DEAL_59');

    $r = $t->post('/hooks/yookassa-orders',
                  $note->('payment.succeeded', 'ord-none'), @json);
    is($r->{status}, 422, 'yookassa: an order of no deal: 422');
    is($r->{json}{error}, 'target_not_found', 'yookassa: target_not_found');

    $t->finish;
    $t->secret_nowhere('yookassa: no portal secret anywhere');
}

# Tilda: Phone

{
    my $t = B24T->new;
    my $key = B24T::random_secret(24);

    $t->emulator;
    $t->emu_crm(@crm);
    B24TRecipe::run($t, 'tilda-lookup', secrets => { tilda => $key });

    my $r = $t->post("/hooks/tilda-leads?key=$key", 'test=test', @form);
    is($r->{json}{result}, 'ignored', 'tilda: test=test ignored');

    $r = $t->post("/hooks/tilda-leads?key=$key",
                  'Name=Ann&Phone=%2B7+900+123+45+67&formid=form1', @form);
    is($r->{status}, 200, 'tilda: 200') or diag($r->{body});
    is_deeply(triggers($t), [ ['LEAD_12', 'site_form'] ],
              'tilda: the phone is LEAD_12, not the contact');
    is_deeply($t->calls_of('crm.duplicate.findbycomm')->[0]{params},
              { entity_type => 'LEAD', type => 'PHONE',
                values => ['+7 900 123 45 67'] },
              'tilda: asked by the phone as the form sent it');

    $r = $t->post("/hooks/tilda-leads?key=$key",
                  'Name=Bob&Phone=%2B7+999+000+00+00', @form);
    is($r->{status}, 422, 'tilda: a phone of no lead: 422');

    $r = $t->post('/hooks/tilda-leads?key=' . B24T::random_secret(24),
                  'Name=Ann&Phone=%2B7+900+123+45+67', @form);
    is($r->{status}, 401, 'tilda: another key: 401');

    $t->finish;
    $t->secret_nowhere('tilda: no portal secret anywhere');
}

done_testing;
