#!/usr/bin/perl

# The replay shield against one who captured a signed request and wants
# it forwarded a second time within the window (found by an attacker
# review; every case asserts the safe outcome: the replay is a duplicate
# and nothing more reaches the portal):
#
#   - forged requests do not fill the zone (only verified ones are keyed);
#   - a reload keeps what the shield remembers;
#   - shopify's base64 written URL-safe, unpadded, in the other header
#     name is the same request;
#   - a full zone: whoever can get requests verified in another location
#     of the zone (a public form behind a token) cannot push the captured
#     request's key out: replay keys never give way within their window,
#     and a zone full of them answers 503 replay_shield_full;
#   - a secret being rotated: a request signed with both secrets (Stripe,
#     Standard Webhooks during a roll) is the same request whichever of
#     its signatures a replay keeps (the key is what was signed);
#   - another location of the zone with the same secret: the same request
#     (the key is what was signed, not the location).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex hmac_sha256_base64);
use MIME::Base64 qw(encode_base64);
use B24T;
use B24TV qw(github_signature stripe_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);
my $old = 'whsec_' . B24T::random_secret(24);
my $new = 'whsec_' . B24T::random_secret(24);
my $token = B24T::random_secret(24);

my $conf = <<"EOF";
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=10000;

    # the smallest zone nginx allows (8 pages): a few hundred keys
    b24trigger_dedup_zone replays:32k;

    b24trigger_field \$form_lead  lead_id;

    server {
        listen %%LISTEN%%;

        location = /hooks/github {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_57;
            b24trigger_code    pushed;
        }

        # the same sender, the same target and code, another path
        location = /github {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_57;
            b24trigger_code    pushed;
        }

        location = /hooks/shopify {
            b24trigger_pass    crm;
            b24trigger_verify  shopify;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_58;
            b24trigger_code    ordered;
        }

        # rolling Stripe's secret, as doc/providers/stripe.md says: both
        # listed
        location = /hooks/stripe {
            b24trigger_pass    crm;
            b24trigger_verify  stripe;
            b24trigger_secret  $old $new;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_59;
            b24trigger_code    paid;
        }

        # a website form behind a token (doc/providers/tilda.md): whoever
        # fills the form has a request verified here
        location = /hooks/form {
            b24trigger_pass    crm;
            b24trigger_verify  token header=X-Api-Key;
            b24trigger_secret  $token;
            b24trigger_replay  replays;
            b24trigger_target  LEAD_\$form_lead;
            b24trigger_code    form_filled;
        }
    }
EOF

$t->emulator(args => ["--bucket", "0"]);
$t->nginx($conf);

my @json = ('Content-Type' => 'application/json');
my $sent = 0;

# what reached the portal since the last call
sub reached {
    my $calls = $t->calls;
    my $n = @$calls - $sent;
    $sent = @$calls;
    return $n;
}

sub duplicate {
    my ($r, $name) = @_;
    is_deeply($r->{json}, { result => 'duplicate' }, "$name: a duplicate")
        or diag("$r->{status} $r->{body}");
    is(reached(), 0, "$name: nothing reached the portal");
}

my $push = '{"ref":"refs/heads/main","after":"' . B24T::random_secret(40)
           . '"}';
my @gh = ('X-Hub-Signature-256' => github_signature($secret, $push));

my $r = $t->post('/hooks/github', $push, @json, @gh);
is($r->{status}, 200, 'github: the delivery is forwarded');
is(reached(), 1, 'github: once');

###############################################################################
# held: forged requests are answered before the shield; then the replay

for my $i (1 .. 300) {
    my $body = '{"ref":"refs/heads/x' . $i . '"}';
    $t->post('/hooks/github', $body, @json,
             'X-Hub-Signature-256' => 'sha256=' . ('0' x 64));
}

$r = $t->post('/hooks/github', $push, @json, @gh);
duplicate($r, '300 forged requests later, the replay');

###############################################################################
# held: a reload keeps the zone

$t->reload;

$r = $t->post('/hooks/github', $push, @json, @gh);
duplicate($r, 'after a reload, the replay');

###############################################################################
# held: shopify's signature written otherwise

my $order = '{"id":' . int(rand(1e9)) . ',"note_attributes":[]}';
my $b64 = hmac_sha256_base64($order, $secret);
(my $urlsafe = $b64) =~ tr{+/}{-_};

$r = $t->post('/hooks/shopify', $order, @json,
              'X-Shopify-Hmac-Sha256' => "$b64=");
is($r->{status}, 200, 'shopify: forwarded');
is(reached(), 1, 'shopify: once');

$r = $t->post('/hooks/shopify', $order, @json,
              'X-Shopify-Hmac-Sha256' => $b64);
duplicate($r, 'shopify, unpadded');

$r = $t->post('/hooks/shopify', $order, @json,
              'shopify-hmac-sha256' => $urlsafe);
duplicate($r, 'shopify, URL-safe, the other header name');

###############################################################################
# rotation: a request signed with both secrets, then with one of them

my $event = '{"id":"evt_' . B24T::random_secret(12) . '"}';
my $ts = time;

sub whsec_sig {
    my ($key, $body) = @_;
    return 'v1=' . hmac_sha256_hex("$ts.$body", $key);
}

$r = $t->post('/hooks/stripe', $event, @json, 'Stripe-Signature' =>
              "t=$ts," . whsec_sig($old, $event) . ','
              . whsec_sig($new, $event));
is($r->{status}, 200, 'stripe, signed with both secrets: forwarded');
is(reached(), 1, 'stripe: once');

$r = $t->post('/hooks/stripe', $event, @json,
              'Stripe-Signature' => "t=$ts," . whsec_sig($new, $event));
duplicate($r, 'stripe, the same request with the old signature left out');

$r = $t->post('/hooks/stripe', $event, @json,
              'Stripe-Signature' => "t=$ts," . whsec_sig($old, $event));
duplicate($r, 'stripe, the same request with the new signature left out');

###############################################################################
# another location, the same sender, the same target and code

$r = $t->post('/github', $push, @json, @gh);
duplicate($r, 'github, replayed at /github (same DEAL_57, same code)');

###############################################################################
# a full zone: public form submissions cannot push the captured key out.
# A replay key never gives way before its window ends; once every key in
# the zone is one, the shield fails closed: 503 replay_shield_full, with
# Retry-After, and an error-log line that says what to do

my $push2 = '{"ref":"refs/heads/main","after":"' . B24T::random_secret(40)
            . '"}';
my @gh2 = ('X-Hub-Signature-256' => github_signature($secret, $push2));

$r = $t->post('/hooks/github', $push2, @json, @gh2);
is($r->{status}, 200, 'github, a second delivery: forwarded');
reached();

my ($forwarded, $full) = (0, 0);

for my $i (1 .. 600) {
    $r = $t->post('/hooks/form', "lead_id=1&name=visitor$i",
                  'Content-Type' => 'application/x-www-form-urlencoded',
                  'X-Api-Key' => $token);
    $forwarded++ if $r->{status} == 200;
    $full++ if $r->{status} == 503
               && ($r->{json}{error} || '') eq 'replay_shield_full'
               && ($r->{headers}{'retry-after'} || '') eq '60';
}

cmp_ok($forwarded, '>', 0, "form submissions forwarded until the zone "
       . "is full ($forwarded)");
is($forwarded + $full, 600, 'the rest answered 503 replay_shield_full');
cmp_ok($full, '>', 0, 'the zone did fill');
like($t->error_log, qr/\[error\] .*b24trigger: no room in b24trigger_dedup_zone "replays" for the replay shield of location "\/hooks\/form", answered 503/,
     'the full zone is logged');

is(reached(), $forwarded, 'the portal saw the forwarded ones');

$r = $t->post('/hooks/github', $push2, @json, @gh2);
duplicate($r, 'github, replayed after 600 form submissions');

$t->finish;
$t->secret_nowhere('no portal secret anywhere');

done_testing;
