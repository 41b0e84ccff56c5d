#!/usr/bin/perl

# GitHub's form content type: a webhook set to
# application/x-www-form-urlencoded posts "payload=<the JSON, encoded>",
# and X-Hub-Signature-256 signs those form bytes as sent.  The github
# preset verifies the raw form and b24trigger_field reads the JSON it
# carries, from one parse; a form of other fields stays a form.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;
use B24TParams qw(esc);

my $t = B24T->new;
my $secret = B24T::random_secret(40);

$t->emulator;
$t->nginx(<<"EOF2");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_field \$gh_issue  issue.number;
    b24trigger_field \$gh_action action;
    b24trigger_field \$gh_payload payload;

    server {
        listen %%LISTEN%%;

        location = /gh {
            b24trigger_pass    main;
            b24trigger_verify  github;
            b24trigger_secret  "$secret";
            b24trigger_target  DEAL_\$gh_issue;
            b24trigger_code    \$gh_action;
            add_header X-Payload "\$gh_payload" always;
            add_header X-B24-Error \$b24trigger_error always;
        }
    }
EOF2

sub sig { 'sha256=' . hmac_sha256_hex($_[1], $_[0]) }

my @form = ('Content-Type' => 'application/x-www-form-urlencoded',
            'X-GitHub-Event' => 'issues');

my $json = '{"action":"opened","issue":{"number":57,'
         . '"title":"Нужен счёт & акт / срочно"}}';
my $body = 'payload=' . esc($json);

my $r = $t->post('/gh', $body, @form, 'X-Hub-Signature-256' => sig($secret, $body));
is($r->{status}, 200, 'form of one payload: 200') or diag($r->{body});
is_deeply($t->calls->[0] && $t->calls->[0]{params},
          { target => 'DEAL_57', code => 'opened' },
          'read as the JSON it carries: DEAL_57, opened');
ok(!$r->{headers}{'x-payload'}, 'no field "payload" of its own');

# the same JSON, posted as JSON: the same fields

$r = $t->post('/gh', $json =~ s/57/58/r, 'Content-Type' => 'application/json',
              'X-Hub-Signature-256' => sig($secret, $json =~ s/57/58/r));
is($t->calls->[1] && $t->calls->[1]{target}, 'DEAL_58',
   'the JSON content type still read as JSON');

# attacks: the form changed under its signature, a payload added

$r = $t->post('/gh', $body =~ s/57/99/r, @form,
              'X-Hub-Signature-256' => sig($secret, $body));
is($r->{status}, 401, 'payload changed under the signature: 401');

$r = $t->post('/gh', "$body&payload=" . esc('{"issue":{"number":99}}'),
              @form, 'X-Hub-Signature-256' => sig($secret, $body));
is($r->{status}, 401, 'a second payload appended: 401');

$r = $t->post('/gh', $body, @form,
              'X-Hub-Signature-256' => sig(B24T::random_secret(40), $body));
is($r->{status}, 401, 'another secret: 401');

# signed forms that are not GitHub's: read as forms, or refused

my $two = "$body&x=1";
$r = $t->post('/gh', $two, @form, 'X-Hub-Signature-256' => sig($secret, $two));
is($r->{status}, 422, 'payload and another field: a form, no issue.number, 422');

my $bad = 'payload=' . esc('{"issue":');
$r = $t->post('/gh', $bad, @form, 'X-Hub-Signature-256' => sig($secret, $bad));
is($r->{status}, 400, 'a payload that is not JSON: 400');
is($r->{json}{error}, 'body_invalid', 'a payload that is not JSON: body_invalid');

is(scalar @{ $t->calls }, 2, 'two calls in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no GitHub secret anywhere', $secret);

done_testing;
