#!/usr/bin/perl

# Every recipe of doc/providers/*.md, run as written: a request signed as the
# provider signs it reaches the portal with the recipe's target and code
# (and gets the reply the provider wants); the same request captured and
# sent again, re-aimed with a query string (?deal=999) and other unsigned
# headers, reaches no other target, and where the recipe has a replay
# shield, nothing at all; the same request signed with another secret is
# refused and reaches nothing.  Only two things are changed for the test
# (by B24TRecipe): "file:/etc/nginx/secrets/NAME" points into the test's
# directory, and 127.0.0.1 is allowed before a recipe's "deny all".
# The scenarios of the recipes (events ignored, replies) are in
# t/recipe-*.t.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha1_hex hmac_sha256_hex hmac_sha256_base64
                   sha1_hex sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use B24T;
use B24TRecipe;
use B24TV;

sub pad { my $b = shift; $b .= '=' while length($b) % 4; $b }

# nginx with the recipe; returns the test object and the secret
sub recipe {
    my ($name, %o) = @_;

    my $t = B24T->new;
    my $secret = $o{secret} || B24T::random_secret(32);
    my ($http, $server) = B24TRecipe::prepare($t, $name, secret => $secret,
                                              as_written => $o{as_written});

    $t->emulator;
    $t->nginx("    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;\n"
              . "    b24trigger_dedup_zone replays:1m;\n"
              . "    b24trigger_dedup_zone forms:1m;\n"
              . $http
              . "    server {\n        listen %%LISTEN%%;\n"
              . $server . "    }\n");

    return ($t, $secret, $server =~ /b24trigger_replay/);
}

# the path re-aimed at another object, whatever the recipe's argument
sub reaim {
    my ($path) = @_;
    return $path . ($path =~ /\?/ ? '&' : '?')
           . 'deal=999&lead=999&contact=999&InvId=999&label=999';
}

# what an attacker may change in a captured request without its secret
my @unsigned = ('X-GitHub-Event' => 'deployment',
                'X-Forwarded-For' => '192.0.2.9');

# the signed request, the same re-aimed, the same signed with another
# secret
sub check {
    my (%o) = @_;

    my ($t, $secret, $shield) = recipe($o{recipe}, %o);
    my $name = $o{recipe};
    my @signed = $o{sign}->($secret, $o{body});

    my $r = $t->request('POST', $o{path}, body => $o{body},
                        headers => [ @signed, @{ $o{headers} || [] } ]);

    is($r->{status}, 200, "$name: 200") or diag($r->{body});
    is($r->{body}, $o{reply}, "$name: the reply $o{reply}") if $o{reply};

    my $calls = $t->calls;
    is(scalar @$calls, 1, "$name: one portal call");
    is_deeply($calls->[0] && $calls->[0]{params}, $o{params},
              "$name: target and code");

    unless ($o{token}) {
        $r = $t->request('POST', reaim($o{path}), body => $o{body},
                         headers => [ @signed, @unsigned,
                                      @{ $o{headers} || [] } ]);
        is($r->{status}, 200, "$name: re-aimed replay: 200");
        is_deeply([ grep { $_->{target} ne $o{params}{target}
                           || $_->{code} ne $o{params}{code} } @{ $t->calls } ],
                  [], "$name: re-aimed replay: no other target or code");

        if ($shield) {
            is(scalar @{ $t->calls }, 1,
               "$name: re-aimed replay: not forwarded (replay shield)");
        }
    }

    my $sent = scalar @{ $t->calls };

    $r = $t->request('POST', $o{path}, body => $o{body},
                     headers => [ $o{sign}->('other' . $secret, $o{body}),
                                  @{ $o{headers} || [] } ]);
    is($r->{status}, 401, "$name: other secret, 401");
    is(scalar @{ $t->calls }, $sent, "$name: other secret, nothing forwarded");

    $t->finish;
    $t->secret_nowhere("$name: no portal secret anywhere");
    nothing_leaked($t, "$name: no webhook secret anywhere", $secret);
}

my @json = ('Content-Type' => 'application/json');
my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

check(recipe => 'stripe', path => '/hooks/stripe',
      secret => 'whsec_' . B24T::random_secret(32), headers => \@json,
      body => '{"id":"evt_1","type":"checkout.session.completed",'
              . '"data":{"object":{"payment_status":"paid",'
              . '"metadata":{"deal_id":"57"}}}}',
      sign => sub {
          my $t = time;
          ('Stripe-Signature' => "t=$t,v1=" . hmac_sha256_hex("$t.$_[1]",
                                                              $_[0]));
      },
      params => { target => 'DEAL_57', code => 'stripe_paid' });

check(recipe => 'verify-standard', path => '/hooks/clerk',
      secret => 'whsec_' . encode_base64(B24T::random_secret(24), ''),
      headers => \@json,
      body => '{"type":"user.created","data":{"id":"user_1",'
              . '"public_metadata":{"deal_id":"58"}}}',
      sign => sub {
          my ($secret, $body) = @_;
          my $t = time;
          (my $k = $secret) =~ s/^whsec_//;
          my $key = decode_base64($k);
          $key = 'x' if $secret =~ /^other/;
          ('svix-id' => 'msg_1', 'svix-timestamp' => $t,
           'svix-signature' => 'v1,'
               . pad(hmac_sha256_base64("msg_1.$t.$body", $key)));
      },
      params => { target => 'DEAL_58', code => 'clerk_user' });

check(recipe => 'verify-github', path => '/hooks/github',
      headers => [ @json, 'X-GitHub-Event' => 'push' ],
      body => '{"ref":"refs/heads/main","repository":{"id":1296269,'
              . '"full_name":"octocat/Hello-World"},'
              . '"pusher":{"name":"octocat"}}',
      sign => sub {
          ('X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($_[1],
                                                                $_[0]));
      },
      params => { target => 'DEAL_57', code => 'github_push' });

check(recipe => 'verify-shopify', path => '/hooks/shopify',
      headers => \@json,
      body => '{"id":1,"note_attributes":[{"name":"deal","value":"60"}]}',
      sign => sub {
          ('X-Shopify-Hmac-Sha256' => pad(hmac_sha256_base64($_[1],
                                                             $_[0])));
      },
      params => { target => 'DEAL_60', code => 'shopify_order' });

check(recipe => 'verify-slack', path => '/hooks/slack',
      headers => \@form,
      body => 'token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001'
              . '&channel_id=C2147483705&user_id=U2147483697'
              . '&command=%2Flead&text=61&trigger_id=13345224609.7380',
      sign => sub {
          my $t = time;
          ('X-Slack-Request-Timestamp' => $t,
           'X-Slack-Signature' => 'v0=' . hmac_sha256_hex("v0:$t:$_[1]",
                                                          $_[0]));
      },
      params => { target => 'LEAD_61', code => 'slack_command' });

check(recipe => 'verify-paddle', path => '/hooks/paddle',
      headers => \@json,
      body => '{"event_type":"transaction.completed",'
              . '"data":{"custom_data":{"deal_id":"62"}}}',
      sign => sub {
          my $t = time;
          ('Paddle-Signature' => "ts=$t;h1=" . hmac_sha256_hex("$t:$_[1]",
                                                               $_[0]));
      },
      params => { target => 'DEAL_62', code => 'paddle_paid' });

check(recipe => 'verify-typeform', path => '/hooks/typeform',
      headers => \@json,
      body => '{"event_type":"form_response",'
              . '"form_response":{"hidden":{"deal_id":"63"}}}',
      sign => sub {
          ('Typeform-Signature' => 'sha256='
               . pad(hmac_sha256_base64($_[1], $_[0])));
      },
      params => { target => 'DEAL_63', code => 'typeform_answer' });

check(recipe => 'verify-woocommerce', path => '/hooks/woo',
      headers => \@json,
      body => '{"id":1,"meta_data":[{"id":5,"key":"deal","value":"64"}]}',
      sign => sub {
          ('X-WC-Webhook-Signature' => pad(hmac_sha256_base64($_[1],
                                                              $_[0])));
      },
      params => { target => 'DEAL_64', code => 'woo_order' });

check(recipe => 'cloudpayments', path => '/hooks/cloudpayments/pay',
      headers => \@form, reply => '{"code":0}',
      body => 'TransactionId=1&Amount=10.00&Currency=RUB&InvoiceId=65',
      sign => sub {
          ('Content-HMAC' => pad(hmac_sha256_base64($_[1], $_[0])));
      },
      params => { target => 'DEAL_65', code => 'cloudpayments_paid' });

# T-Bank, Robokassa and YooMoney sign inside the body: the body is made
# per secret

my ($t, $secret, $r);

# the signed body again, re-aimed: not forwarded (replay shield)
sub replayed {
    my ($t, $name, $path, $body, @headers) = @_;

    my $r = $t->post(reaim($path), $body, @headers, @unsigned);
    is($r->{status}, 200, "$name: re-aimed replay: 200");
    is(scalar @{ $t->calls }, 1, "$name: re-aimed replay: not forwarded");
}

sub tbank_body {
    my ($password) = @_;
    my %f = (TerminalKey => 'DEMO', OrderId => '66', Success => 'true',
             Status => 'CONFIRMED', Amount => '9855');
    my $token = sha256_hex(join '', map { $_ eq 'Password' ? $password
                                                           : $f{$_} }
                           sort(keys %f, 'Password'));
    return '{"TerminalKey":"DEMO","OrderId":"66","Success":true,'
         . '"Status":"CONFIRMED","Amount":9855,"Token":"' . $token . '"}';
}

($t, $secret) = recipe('tbank');
$r = $t->post('/hooks/tbank', tbank_body($secret), @json);
is($r->{status}, 200, 'tbank: 200');
is($r->{body}, 'OK', 'tbank: the reply OK');
is(scalar @{ $t->calls }, 1, 'tbank: one portal call');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_66', code => 'tbank_paid' },
          'tbank: target and code');
replayed($t, 'tbank', '/hooks/tbank', tbank_body($secret), @json);
$r = $t->post('/hooks/tbank', tbank_body("other$secret"), @json);
is($r->{status}, 401, 'tbank: other password, 401');
is(scalar @{ $t->calls }, 1, 'tbank: nothing forwarded');
$t->finish;
nothing_leaked($t, 'tbank: no password anywhere', $secret);

sub robokassa_body {
    my ($password) = @_;
    my $sig = uc sha256_hex(
                  "100.000000:7:$password:Shp_deal=67");
    return "OutSum=100.000000&InvId=7&Shp_deal=67&SignatureValue=$sig";
}

($t, $secret) = recipe('robokassa');
$r = $t->post('/hooks/robokassa/result', robokassa_body($secret), @form);
is($r->{status}, 200, 'robokassa: 200');
is($r->{body}, 'OK7', 'robokassa: the reply OK7');
is(scalar @{ $t->calls }, 1, 'robokassa: one portal call');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_67', code => 'robokassa_paid' },
          'robokassa: target and code');
replayed($t, 'robokassa', '/hooks/robokassa/result',
         robokassa_body($secret) . '&EMail=x%40example.com', @form);
$r = $t->post('/hooks/robokassa/result', robokassa_body("other$secret"),
              @form);
is($r->{status}, 401, 'robokassa: other password, 401');
is(scalar @{ $t->calls }, 1, 'robokassa: nothing forwarded');
$t->finish;
nothing_leaked($t, 'robokassa: no password anywhere', $secret);

sub yoomoney_body {
    my ($secret) = @_;
    my @v = ('p2p-incoming', '42', '10.00', '643', '2026-01-01T00:00:00Z',
             '41001000000000', 'false');
    my $hash = sha1_hex(join '&', @v, $secret, '68');
    return 'notification_type=p2p-incoming&operation_id=42&amount=10.00'
         . '&currency=643&datetime=2026-01-01T00%3A00%3A00Z'
         . '&sender=41001000000000&codepro=false&label=68'
         . "&sha1_hash=$hash";
}

($t, $secret) = recipe('verify-yoomoney');
$r = $t->post('/hooks/yoomoney', yoomoney_body($secret), @form);
is($r->{status}, 200, 'verify-yoomoney: 200');
is_deeply($t->calls->[0] && $t->calls->[0]{params},
          { target => 'DEAL_68', code => 'yoomoney_paid' },
          'verify-yoomoney: target and code');
replayed($t, 'verify-yoomoney', '/hooks/yoomoney',
         yoomoney_body($secret) . '&withdraw_amount=9.80', @form);
$r = $t->post('/hooks/yoomoney', yoomoney_body("other$secret"), @form);
is($r->{status}, 401, 'verify-yoomoney: other secret, 401');
is(scalar @{ $t->calls }, 1, 'verify-yoomoney: nothing forwarded');
$t->finish;
nothing_leaked($t, 'verify-yoomoney: no secret anywhere', $secret);

# the generic hmac

check(recipe => 'verify-intercom', path => '/hooks/intercom',
      headers => \@json,
      body => '{"type":"notification_event","topic":"contact.user.created",'
              . '"data":{"item":{"type":"contact","id":"63a0",'
              . '"custom_attributes":{"b24_contact":"69"}}}}',
      sign => sub {
          ('X-Hub-Signature' => 'sha1=' . hmac_sha1_hex($_[1], $_[0]));
      },
      params => { target => 'CONTACT_69', code => 'intercom_event' });

check(recipe => 'verify-zoom', path => '/hooks/zoom',
      headers => \@json,
      body => '{"event":"meeting.started","payload":{"object":'
              . '{"id":"85","topic":"Deal 70: kick-off"}}}',
      sign => sub {
          my $t = time;
          ('x-zm-request-timestamp' => $t,
           'x-zm-signature' => 'v0=' . hmac_sha256_hex("v0:$t:$_[1]",
                                                       $_[0]));
      },
      params => { target => 'DEAL_70', code => 'zoom_meeting' });

check(recipe => 'verify-square', path => '/hooks/square',
      headers => \@json,
      body => '{"type":"payment.updated","data":{"type":"payment",'
              . '"object":{"payment":{"id":"KkAk","reference_id":"71"}}}}',
      sign => sub {
          ('X-Square-Hmacsha256-Signature' => pad(hmac_sha256_base64(
               "https://hooks.example.com/hooks/square$_[1]", $_[0])));
      },
      params => { target => 'DEAL_71', code => 'square_payment' });

check(recipe => 'verify-hubspot', path => '/hooks/hubspot',
      headers => \@json,
      body => '[{"eventId":1,"subscriptionType":"deal.propertyChange",'
              . '"objectId":1246965,"propertyName":"b24_deal",'
              . '"propertyValue":"72"}]',
      sign => sub {
          my $ms = time * 1000;
          ('X-HubSpot-Request-Timestamp' => $ms,
           'X-HubSpot-Signature-v3' => pad(hmac_sha256_base64(
               "POSThttps://hooks.example.com/hooks/hubspot$_[1]$ms",
               $_[0])));
      },
      params => { target => 'DEAL_72', code => 'hubspot_event' });

check(recipe => 'verify-token', path => '/hooks/forms?lead=73', token => 1,
      headers => \@form, body => 'name=Ann&phone=%2B7000',
      sign => sub { ('X-Api-Key' => $_[0]) },
      params => { target => 'LEAD_73', code => 'form_filled' });

# YooKassa signs nothing: as written, 127.0.0.1 is not YooKassa

my $yk = '{"type":"notification","event":"payment.succeeded",'
       . '"object":{"id":"2a","metadata":{"deal_id":"74"}}}';

($t) = recipe('yookassa', as_written => 1);
$r = $t->post('/hooks/yookassa', $yk, @json);
is($r->{status}, 403, 'yookassa as written: 403 for 127.0.0.1');
is(scalar @{ $t->calls }, 0, 'yookassa as written: nothing sent');
$t->finish;

($t) = recipe('yookassa');
$r = $t->post('/hooks/yookassa', $yk, @json);
is($r->{status}, 200, 'yookassa from an allowed address: 200');
is_deeply($t->calls->[0] && $t->calls->[0]{params},
          { target => 'DEAL_74', code => 'yookassa_paid' },
          'yookassa: target and code');
$t->finish;

done_testing;
