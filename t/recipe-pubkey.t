#!/usr/bin/perl

# The recipes of the public-key senders, run as written
# (doc/providers/sendgrid.md, standard-webhooks-v1a.md,
# paddle-classic.md): a request signed as the sender signs it, with
# node:crypto (t/lib/sign-pubkey.js), reaches the portal with the
# recipe's target and code; the same re-aimed with a query string and
# unsigned headers reaches no other target (nothing at all behind the
# replay shield); an event the recipe ignores is acknowledged and not
# forwarded; the same signed with another key is refused.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV;
use B24TPK;

my $keys = pk_keys(B24T->new);

sub recipe {
    my ($name, $file, $key) = @_;

    my $t = B24T->new;
    my ($http, $server) = B24TRecipe::prepare($t, $name,
                                              keys => { $file => $key });
    $t->emulator;
    $t->nginx("    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;\n"
              . "    b24trigger_dedup_zone replays:1m;\n"
              . "    b24trigger_dedup_zone forms:1m;\n"
              . $http
              . "    server {\n        listen %%LISTEN%%;\n"
              . $server . "    }\n");
    return $t;
}

sub reaim { "$_[0]?deal=999&lead=999" }

my @unsigned = ('X-Forwarded-For' => '192.0.2.9');

sub outcome {
    my ($t, $name, $r, $status, $calls, $params) = @_;

    is($r->{status}, $status, "$name: $status") or diag($r->{body});
    is(scalar @{ $t->calls }, $calls, "$name: $calls portal call(s)");
    is_deeply($t->calls->[-1]{params}, $params, "$name: target and code")
        if $params;
}

# SendGrid

{
    my $t = recipe('sendgrid', 'sendgrid.pem', $keys->{p256}{pub});
    my $ts = time;

    my $sign = sub {
        my ($key, $body) = @_;
        my $s = pk_sign({ op => 'sendgrid', key => $keys->{$key}{priv},
                          pub => $keys->{$key}{der}, ts => "$ts",
                          body => $body });
        ok($s->{verified}, "sendgrid: \@sendgrid/eventwebhook verifies");
        return ('X-Twilio-Email-Event-Webhook-Signature' => $s->{sig},
                'X-Twilio-Email-Event-Webhook-Timestamp' => $ts,
                'Content-Type' => 'application/json');
    };

    my $body = '[{"email":"a@example.com","event":"delivered",'
             . '"deal_id":"71","sg_event_id":"e1"},'
             . '{"email":"b@example.com","event":"delivered",'
             . '"deal_id":"72","sg_event_id":"e2"}]';
    my @h = $sign->('p256', $body);
    my $params = { target => 'DEAL_71', code => 'sendgrid_event' };

    my $r = $t->post('/hooks/sendgrid', $body, @h);
    outcome($t, 'sendgrid', $r, 200, 1, $params);

    $r = $t->post(reaim('/hooks/sendgrid'), $body, @h, @unsigned);
    outcome($t, 'sendgrid re-aimed', $r, 200, 2, $params);

    my $bounce = '[{"email":"a@example.com","event":"bounce",'
               . '"deal_id":"71"}]';
    $r = $t->post('/hooks/sendgrid', $bounce, $sign->('p256', $bounce));
    outcome($t, 'sendgrid bounce, ignored', $r, 200, 2);
    is($r->{json}{result}, 'ignored', 'sendgrid bounce: ignored');

    $r = $t->post('/hooks/sendgrid', $body, $sign->('p256b', $body));
    outcome($t, 'sendgrid, another key', $r, 401, 2);

    $t->finish;
}

# Standard Webhooks v1a

{
    my $t = recipe('standard-v1a', 'standard-webhooks.pub',
                   "$keys->{ed}{whpk}\n");
    my $ts = time;
    my $body = '{"type":"invoice.paid","data":{"deal_id":"73"}}';

    my $sign = sub {
        my ($key) = @_;
        my $s = pk_sign({ op => 'v1a', key => $keys->{$key}{priv},
                          id => 'msg_1', ts => "$ts", body => $body });
        return ('webhook-id' => 'msg_1', 'webhook-timestamp' => $ts,
                'webhook-signature' => $s->{sig},
                'Content-Type' => 'application/json');
    };

    my $params = { target => 'DEAL_73', code => 'sw_event' };

    my $r = $t->post('/hooks/standard-v1a', $body, $sign->('ed'));
    outcome($t, 'standard-v1a', $r, 200, 1, $params);

    $r = $t->post(reaim('/hooks/standard-v1a'), $body, $sign->('ed'),
                  @unsigned);
    outcome($t, 'standard-v1a re-aimed', $r, 200, 2, $params);

    $r = $t->post('/hooks/standard-v1a', $body, $sign->('ed2'));
    outcome($t, 'standard-v1a, another key', $r, 401, 2);

    $t->finish;
}

# Paddle Classic

{
    my $t = recipe('paddle-classic', 'paddle-classic.pem', $keys->{rsa}{pub});

    my $form = sub {
        my ($key, %f) = @_;
        my $s = pk_sign({ op => 'paddle', key => $keys->{$key}{priv},
                          pub => $keys->{$key}{pub}, fields => \%f });
        ok($s->{verified}, "paddle-classic: Paddle's example verifies");
        $f{p_signature} = $s->{sig};
        return join '&', map { uri_escape_utf8($_) . '='
                               . uri_escape_utf8($f{$_}) } sort keys %f;
    };

    my %alert = (alert_name => 'payment_succeeded', alert_id => '1001',
                 passthrough => '74', email => 'buyer@example.com',
                 event_time => '2024-05-01 12:00:00');
    my @h = ('Content-Type' => 'application/x-www-form-urlencoded');
    my $body = $form->('rsa', %alert);
    my $params = { target => 'DEAL_74', code => 'paddle_classic_paid' };

    my $r = $t->post('/hooks/paddle-classic', $body, @h);
    outcome($t, 'paddle-classic', $r, 200, 1, $params);

    $r = $t->post(reaim('/hooks/paddle-classic'), $body, @h, @unsigned);
    outcome($t, 'paddle-classic re-aimed replay, not forwarded', $r, 200, 1);
    is($r->{json}{result}, 'duplicate', 'paddle-classic replay: duplicate');

    my $refund = $form->('rsa', %alert, alert_name => 'payment_refunded',
                         alert_id => '1002');
    $r = $t->post('/hooks/paddle-classic', $refund, @h);
    outcome($t, 'paddle-classic refund, ignored', $r, 200, 1);
    is($r->{json}{result}, 'ignored', 'paddle-classic refund: ignored');

    $r = $t->post('/hooks/paddle-classic',
                  $form->('rsa2', %alert, alert_id => '1003'), @h);
    outcome($t, 'paddle-classic, another key', $r, 401, 1);

    $t->finish;
}

done_testing;
