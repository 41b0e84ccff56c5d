#!/usr/bin/perl

# Secrets in the error log, written as the sender may write them: the
# redaction replaces every configured secret by "***", byte for byte.
# But a "token" location compares what the sender sent after decoding
# it: "query=" unescapes the argument, "basic" decodes base64.  Before
# the fix the secret reached the error log in the form the sender wrote
# it: nginx's debug line of the Authorization header, and the "request:"
# context that nginx adds to every line of the request, at any level
# (here the [error] of an invalid target).  Now the value of a "token
# query=NAME" argument is masked in every line, and the base64 forms of
# a "basic" secret are redacted like the secret itself.

use strict;
use warnings;

use MIME::Base64;
use Test::More;
use B24T;

my $t = B24T->new;

my $token = B24T::random_secret(24);
my $user = 'hook';
my $password = B24T::random_secret(24);

$t->emulator;

$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /query {
            b24trigger_pass main;
            b24trigger_verify token query=token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
        }

        location /basic {
            b24trigger_pass main;
            b24trigger_verify token basic;
            b24trigger_secret $user:$password;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

# every byte of the token percent-encoded: what the sender signs with is
# the decoded token; the target is invalid, so the request is logged at
# [error] with its request line

my $encoded = join '', map { sprintf '%%%02X', ord } split //, $token;

my $r = $t->post("/query?id=x&token=$encoded", '');
is($r->{status}, 422, 'an encoded token verifies, the target is invalid');

$r = $t->post("/query?id=1&token=$encoded", '');
is($r->{status}, 200, 'an encoded token is accepted');

# the argument's name as nginx finds it: whatever its case

$r = $t->post("/query?id=3&TOKEN=$encoded", '');
is($r->{status}, 200, 'an encoded token under another case is accepted');

my $basic = encode_base64("$user:$password", '');
(my $unpadded = $basic) =~ s/=+$//;

$r = $t->post('/basic?id=2', '', 'Authorization' => "Basic $basic");
is($r->{status}, 200, 'basic credentials are accepted');

$r = $t->post('/basic?id=4', '', 'Authorization' => "Basic $unpadded");
is($r->{status}, 200, 'unpadded basic credentials are accepted');

$t->finish;

my $log = $t->error_log;
my @above = grep { !/\[debug\]/ } split /\n/, $log;

ok(index(join("\n", @above), $encoded) < 0,
   'the percent-encoded token is in no [info] to [error] line')
    or diag(grep { index($_, $encoded) >= 0 } @above);
ok(index($log, $encoded) < 0,
   'the percent-encoded token is in no error-log line');
ok(index($log, $basic) < 0 && index($log, $unpadded) < 0,
   'the base64 of user:password is in no error-log line');
like($log, qr/request: "POST \/query\?id=x&token=\*\*\* HTTP/,
     'the [error] line shows the request with the token masked');
like($log, qr/&TOKEN=\*\*\*/, 'so is the token under another case');
like($log, qr/Authorization: Basic \*\*\*"/,
     'the debug line of the Authorization header is redacted');
ok(index($log, $token) < 0 && index($log, $password) < 0,
   'the plain secrets are in no error-log line');

done_testing;
