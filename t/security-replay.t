#!/usr/bin/perl

# Finding 2, its second half, as the attack was run: GitHub, Shopify,
# WooCommerce, CloudPayments, T-Bank, Robokassa and YooMoney sign no
# timestamp, so one captured request, sent again, was forwarded again,
# today or next year.  Now "b24trigger_replay ZONE" forwards one signed
# request at most once within its window, keyed by the signature that
# matched (its case, a junk signature beside it, other unsigned fields or
# headers make no other request); a repeat is answered as a duplicate;
# the key is remembered only once forwarded or queued, so the retry of a
# failed attempt goes through; nginx -t warns of a scheme without a
# signed timestamp that runs without a shield.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use Digest::MD5 qw(md5_hex);
use B24T;
use B24TV qw(github_signature cloudpayments_hmac stripe_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);
my $whsec = 'whsec_' . B24T::random_secret(24);
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

###############################################################################
# nginx -t: the warning

sub t_conf {
    my ($location) = @_;
    return <<"EOF";
    b24trigger_portal crm http://127.0.0.1:1/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m;

    server {
        listen %%LISTEN%%;

        location = /h {
            b24trigger_pass    crm;
            b24trigger_secret  $secret;
            b24trigger_target  DEAL_57;
$location
        }
    }
EOF
}

my $warning = qr/\[warn\] (?:\d+#\d+: )?"b24trigger_verify github" in /
            . qr/location "\/h" signs no timestamp: a captured request can /
            . qr/be replayed at any time; add "b24trigger_replay ZONE" to /
            . qr/forward each signed request once/;

my ($rc, $out) = $t->nginx_test(t_conf('b24trigger_verify github;'));
is($rc, 0, 'github without a shield: nginx -t passes');
like($out, qr/$warning/, 'github without a shield: the warning') or diag($out);

for my $case (
    [ 'github with a shield',
      "b24trigger_verify github;\n b24trigger_replay replays;", 0 ],
    [ 'a shield with a window',
      "b24trigger_verify github;\n b24trigger_replay replays window=1h;", 0 ],
    [ 'stripe, a signed timestamp', 'b24trigger_verify stripe;', 0 ],
    [ 'robokassa', 'b24trigger_verify robokassa;', 1 ],
    [ 'token', 'b24trigger_verify token header=X-Key;', 1 ],
    [ 'hmac of the body', 'b24trigger_verify hmac header=X-Sig;', 1 ],
    [ 'hmac, a timestamp checked but not signed',
      'b24trigger_verify hmac header=X-Sig timestamp=$http_x_ts;', 1 ],
    [ 'hmac, a signed timestamp',
      'b24trigger_verify hmac header=X-Sig "message=$http_x_ts.{body}" '
      . 'timestamp=$http_x_ts;', 0 ],
    [ 'none', 'b24trigger_verify none;', 0 ])
{
    my ($name, $conf, $warns) = @$case;
    ($rc, $out) = $t->nginx_test(t_conf($conf));
    is($rc, 0, "$name: nginx -t passes") or diag($out);

    if ($warns) {
        like($out, qr/\[warn\].* signs no timestamp: a captured request /,
             "$name: the warning");
    } else {
        unlike($out, qr/\[warn\]/, "$name: no warning");
    }
}

($rc, $out) = $t->nginx_test(t_conf("b24trigger_verify none;\n"
                                    . 'b24trigger_replay replays;'));
isnt($rc, 0, '"none" with a shield: refused');
like($out, qr/\[emerg\] (?:\d+#\d+: )?"b24trigger_replay" in location "\/h" has no signature to key on: "b24trigger_verify none" checks none \(use "b24trigger_dedup" with an event id\)/,
     '"none" with a shield: the message');

($rc, $out) = $t->nginx_test(t_conf("b24trigger_verify github;\n"
                                    . 'b24trigger_replay replays ttl=1h;'));
isnt($rc, 0, 'an unknown parameter: refused');
like($out, qr/invalid parameter "ttl=1h"/, 'an unknown parameter: said');

($rc, $out) = $t->nginx_test(t_conf("b24trigger_verify github;\n"
                                    . 'b24trigger_replay nozone;'));
isnt($rc, 0, 'a zone declared nowhere: refused');

###############################################################################
# live

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_queue $spool;
    b24trigger_dedup_zone replays:1m;

    b24trigger_field \$robokassa_deal  Shp_deal;
    b24trigger_field \$cp_deal         InvoiceId;
    b24trigger_field \$stripe_deal     data.object.metadata.deal_id;
    b24trigger_field \$deal            deal;

    server {
        listen %%LISTEN%%;

        add_header X-B24-Result \$b24trigger_result always;

        location /gh {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_\$deal;

            location = /gh/short {
                b24trigger_pass    crm;
                b24trigger_replay  replays window=2s;
            }

            location = /gh/other {
                b24trigger_pass    crm;
            }

            location = /gh/unshielded {
                b24trigger_pass    crm;
                b24trigger_replay  off;
            }
        }

        location = /robokassa {
            b24trigger_pass    crm;
            b24trigger_verify  robokassa;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_\$robokassa_deal;
        }

        location = /cloudpayments {
            b24trigger_pass     crm;
            b24trigger_verify   cloudpayments;
            b24trigger_secret   $secret;
            b24trigger_replay   replays;
            b24trigger_target   DEAL_\$cp_deal;
            b24trigger_delivery queue;
            b24trigger_reply    '{"code":0}' content_type=application/json;
        }

        location = /stripe {
            b24trigger_pass    crm;
            b24trigger_verify  stripe;
            b24trigger_secret  $whsec;
            b24trigger_replay  replays window=10m;
            b24trigger_target  DEAL_\$stripe_deal;
        }

        location = /stripe/unshielded {
            b24trigger_pass    crm;
            b24trigger_verify  stripe;
            b24trigger_secret  $whsec;
            b24trigger_target  DEAL_\$stripe_deal;
        }
    }
EOF

sub sent { scalar @{ $t->calls } }

sub github {
    my ($path, $body, @extra) = @_;
    return $t->post($path, $body, 'Content-Type' => 'application/json',
                    'X-GitHub-Event' => 'push',
                    'X-Hub-Signature-256' => github_signature($secret, $body),
                    @extra);
}

# one GitHub delivery, captured and sent again

my $push = '{"deal":57,"ref":"refs/heads/main","after":"59b20b8d"}';

my $r = github('/gh', $push);
is($r->{json}{result}, 'forwarded', 'GitHub: the delivery is forwarded');

$r = github('/gh', $push);
is($r->{status}, 200, 'GitHub: the replay: 200');
is_deeply($r->{json}, { result => 'duplicate' }, 'GitHub: a duplicate');
is($r->{headers}{'x-b24-result'}, 'duplicate',
   'GitHub: $b24trigger_result is duplicate');
is(sent(), 1, 'GitHub: the portal saw one call');

like($t->error_log, qr/\[info\] .*b24trigger: replay not forwarded: location "\/gh" forwarded or queued the same signed request less than 86400 s ago/,
     'GitHub: the replay logged at info');

# the same signature, written otherwise: upper-case hex, and beside a junk
# signature of its own header; other unsigned headers and a query string

(my $upper = github_signature($secret, $push)) =~ s/=(.*)$/'=' . uc $1/e;

$r = $t->post('/gh?deal=999', $push, 'Content-Type' => 'application/json',
              'X-GitHub-Event' => 'deployment',
              'X-Hub-Signature-256' => 'sha256=' . ('0' x 64),
              'X-Hub-Signature-256' => $upper);
is_deeply($r->{json}, { result => 'duplicate' },
          'GitHub: the signature in upper case beside a junk one: duplicate');
is(sent(), 1, 'GitHub: still one call');

# the same signed request sent to another location of the zone is the
# same request: the key is what was signed, not the location

$r = github('/gh/other', $push);
is($r->{json}{result}, 'duplicate', 'another location: duplicate');
is(sent(), 1, 'another location: no call');

# without a shield (what the warning is about): forwarded again and again

github('/gh/unshielded', $push) for 1 .. 2;
is(sent(), 3, 'no shield: the replay is forwarded');

# Robokassa: its signature, whatever else the body says

sub robokassa {
    my ($email, $lc) = @_;
    my $sig = md5_hex("100.00:7:$secret:Shp_deal=58");
    $sig = $lc ? lc $sig : uc $sig;
    return $t->post('/robokassa', "OutSum=100.00&InvId=7&Shp_deal=58"
                    . "&EMail=$email&SignatureValue=$sig",
                    'Content-Type' => 'application/x-www-form-urlencoded');
}

$r = robokassa('a%40example.com');
is($r->{json}{result}, 'forwarded', 'Robokassa: forwarded');
$r = robokassa('b%40example.com', 1);
is_deeply($r->{json}, { result => 'duplicate' },
          'Robokassa: replayed with another EMail, a lower-case hash: '
          . 'duplicate');
is(sent(), 4, 'Robokassa: the portal saw one call');

# a portal failure: the first attempt is not remembered, the retry goes

$t->emu_config(faults => ['http500']);

my $push2 = '{"deal":59,"ref":"refs/heads/main","after":"1b2c3d4e"}';

$r = github('/gh', $push2);
is($r->{status}, 502, 'a failed first attempt: 502');
$r = github('/gh', $push2);
is($r->{json}{result}, 'forwarded', 'the retry by the sender: forwarded');
$r = github('/gh', $push2);
is_deeply($r->{json}, { result => 'duplicate' }, 'then: a duplicate');
is(scalar(grep { $_->{target} eq 'DEAL_59' } @{ $t->calls }), 2,
   'the portal saw the failed attempt and the retry');

# in flight: 409 with Retry-After, then a duplicate

$t->emu_config(latency_ms => 1000);

my $push3 = '{"deal":60,"ref":"refs/heads/main","after":"aa"}';

my $pid = fork();
if ($pid == 0) {
    my $r = github('/gh', $push3);
    exit($r->{status} == 200 ? 0 : 1);
}

sleep 0.3;
$r = github('/gh', $push3);
is($r->{status}, 409, 'in flight: 409');
is_deeply($r->{json}, { error => 'duplicate_in_flight' }, 'in flight: body');
like($r->{headers}{'retry-after'}, qr/^\d+$/, 'in flight: Retry-After');
waitpid($pid, 0);
is($? >> 8, 0, 'in flight: the first one forwarded');

$t->emu_config(latency_ms => 0);

# queued: remembered once on disk

my $pay = 'TransactionId=1&Amount=10.00&Currency=RUB&InvoiceId=61';

$r = $t->post('/cloudpayments', $pay,
              'Content-Type' => 'application/x-www-form-urlencoded',
              'Content-HMAC' => cloudpayments_hmac($secret, $pay));
is($r->{status}, 202, 'CloudPayments, queued: 202');
$r = $t->post('/cloudpayments', $pay,
              'Content-Type' => 'application/x-www-form-urlencoded',
              'X-Content-HMAC' => cloudpayments_hmac($secret, $pay));
is($r->{status}, 200, 'CloudPayments, the replay: 200');
is($r->{body}, '{"code":0}', 'CloudPayments, the replay: the reply');
is($r->{headers}{'x-b24-result'}, 'duplicate',
   'CloudPayments, the replay: a duplicate');
ok($t->wait_until(sub { grep { $_->{target} eq 'DEAL_61' } @{ $t->calls } },
                  10), 'CloudPayments: delivered');
is(scalar(grep { $_->{target} eq 'DEAL_61' } @{ $t->calls }), 1,
   'CloudPayments: once');

# a signed timestamp bounds replays to the tolerance; a shield stops them

my $event = '{"id":"evt_1","data":{"object":{"metadata":{"deal_id":"62"}}}}';
my $ss = stripe_signature($whsec, $event);

for my $path ('/stripe', '/stripe', '/stripe/unshielded',
              '/stripe/unshielded')
{
    $t->post($path, $event, 'Stripe-Signature' => $ss,
             'Content-Type' => 'application/json');
}

is(scalar(grep { $_->{target} eq 'DEAL_62' } @{ $t->calls }), 3,
   'Stripe: shielded once, unshielded twice within the tolerance');

# the window

my $push4 = '{"deal":63,"ref":"refs/heads/main","after":"bb"}';

$r = github('/gh/short', $push4);
is($r->{json}{result}, 'forwarded', 'window=2s: forwarded');
$r = github('/gh/short', $push4);
is($r->{json}{result}, 'duplicate', 'window=2s: a duplicate within it');
sleep 2.5;
$r = github('/gh/short', $push4);
is($r->{json}{result}, 'forwarded', 'window=2s: forwarded after it');

$t->finish;
$t->secret_nowhere;

unlike($t->error_log, qr/\Q$secret\E/, 'the hook secret in no log line');

done_testing;
