#!/usr/bin/perl

# Attacker review 7: Standard Webhooks (standard, and standard_v1a)
# sign "<webhook-id>.<webhook-timestamp>.<body>".  The timestamp is
# digits, but the id is a header the sender writes: with a "." in it, the
# same bytes split another way.  A notification signed a week ago whose
# body ends in a string a stranger wrote, "x.<a time>.deal=999&x=", is
# sent again at that time as
#
#   webhook-id:        msg_1.<signed time>.{..."note":"x
#   webhook-timestamp: <a time>
#   body:              deal=999&x="}
#
# Same signed bytes, a fresh timestamp, and a body read as a form by its
# first byte: before the fix it was forwarded, to DEAL_999, long after
# its tolerance; a location with a literal target forwarded the stale
# request again.  Svix, Clerk and Resend ids never hold a "." (msg_ and
# base62): an id with one is now refused.  The signature is computed
# here as the specification writes it (HMAC-SHA256, and Ed25519 by
# node:crypto, checked by nothing of the module's).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use MIME::Base64 qw(encode_base64);
use B24T;
use B24TV qw(nothing_leaked);
use B24TPK;

my $t = B24T->new;
my $k = pk_keys($t);
my $key = B24T::random_secret(24);
my $whsec = 'whsec_' . encode_base64($key, '');

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_field \$deal  deal;

    server {
        listen %%LISTEN%%;

        add_header X-B24-Error \$b24trigger_error always;

        location = /sw {
            b24trigger_pass    crm;
            b24trigger_verify  standard;
            b24trigger_secret  $whsec;
            b24trigger_target  DEAL_\$deal;
            b24trigger_code    paid;
        }

        location = /sw-literal {
            b24trigger_pass    crm;
            b24trigger_verify  standard;
            b24trigger_secret  $whsec;
            b24trigger_target  DEAL_57;
            b24trigger_code    paid;
        }

        location = /v1a {
            b24trigger_pass    crm;
            b24trigger_verify  standard_v1a key=$k->{ed}{whpk};
            b24trigger_target  DEAL_\$deal;
            b24trigger_code    paid;
        }
    }
EOF

my $seen = 0;

sub portal_got {
    my ($name, @targets) = @_;
    my $calls = $t->calls;
    my @new = map { $_->{target} } @$calls[$seen .. $#$calls];
    $seen = @$calls;
    is_deeply(\@new, \@targets,
              "$name: the portal got " . (@targets ? "@targets" : 'nothing'));
}

sub v1 {
    my ($msg) = @_;
    my $b = hmac_sha256_base64($msg, $key);
    $b .= '=' while length($b) % 4;
    return "v1,$b";
}

sub v1a {
    my ($id, $ts, $body) = @_;
    return pk_sign({ op => 'v1a', key => $k->{ed}{priv}, id => $id,
                     ts => "$ts", body => $body })->{sig};
}

my $now = time;
my $then = $now - 7 * 86400;
my $id = 'msg_' . B24T::random_secret(20);
my $body = '{"deal":"57","note":"call me x.' . $now . '.deal=999&x="}';

my $id2 = "$id.$then." . substr($body, 0, index($body, "x.$now.") + 1);
my $body2 = 'deal=999&x="}';
is("$id2.$now.$body2", "$id.$then.$body", 'the same signed bytes');

my $r;

for my $case (['standard', '/sw', v1("$id.$then.$body")],
              ['standard, svix-* headers', '/sw', v1("$id.$then.$body"),
               'svix'],
              ['standard, a literal target', '/sw-literal',
               v1("$id.$then.$body")],
              ['standard_v1a', '/v1a', v1a($id, $then, $body)])
{
    my ($name, $loc, $sig, $family) = @$case;
    $family ||= 'webhook';

    # as signed, a week ago: stale

    $r = $t->post($loc, $body, 'Content-Type' => 'application/json',
                     "$family-id" => $id, "$family-timestamp" => $then,
                     "$family-signature" => $sig);
    is($r->{json} && $r->{json}{error}, 'timestamp_out_of_range',
       "$name, as signed a week ago: stale") or diag($r->{raw});

    # split at the stranger's dots

    $r = $t->post($loc, $body2,
                  'Content-Type' => 'application/x-www-form-urlencoded',
                  "$family-id" => $id2, "$family-timestamp" => $now,
                  "$family-signature" => $sig);
    is($r->{status}, 401, "$name, the id holding the split: 401")
        or diag($r->{raw});
    is($r->{json} && $r->{json}{error}, 'signature_invalid',
       "$name, the id holding the split: signature_invalid");
    portal_got("$name, the id holding the split");
}

like($t->error_log, qr/\[info\] .*webhook rejected in location "\/sw": signature_invalid \("webhook-id" header holds "\."\)/,
     'standard: logged');
like($t->error_log, qr/\[info\] .*webhook rejected in location "\/sw": signature_invalid \("svix-id" header holds "\."\)/,
     'standard, svix-id: logged');
like($t->error_log, qr/\[info\] .*webhook rejected in location "\/v1a": signature_invalid \("webhook-id" header holds "\."\)/,
     'standard_v1a: logged');

# a fresh notification with such a body is still forwarded, as signed

$r = $t->post('/sw', $body, 'Content-Type' => 'application/json',
              'webhook-id' => $id, 'webhook-timestamp' => $now,
              'webhook-signature' => v1("$id.$now.$body"));
is($r->{json} && $r->{json}{target}, 'DEAL_57', 'standard, fresh: DEAL_57')
    or diag($r->{raw});
$r = $t->post('/v1a', $body, 'Content-Type' => 'application/json',
              'webhook-id' => $id, 'webhook-timestamp' => $now,
              'webhook-signature' => v1a($id, $now, $body));
is($r->{json} && $r->{json}{target}, 'DEAL_57', 'standard_v1a, fresh: DEAL_57')
    or diag($r->{raw});
portal_got('fresh', 'DEAL_57', 'DEAL_57');

$t->finish;
nothing_leaked($t, 'the secret nowhere', $whsec, $key);
$t->secret_nowhere;

done_testing;
