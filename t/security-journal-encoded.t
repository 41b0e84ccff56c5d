#!/usr/bin/perl

# "token field=": the sender writes the secret in the body as its format
# escapes it; a secret with "+", "/" or "=" is percent-encoded in a form
# (every form encoder does it) and "/" is "\/" in PHP's json_encode().
# bodies=all must mask those spellings too: the journal file never holds
# the secret, whichever way it was written.

use strict;
use warnings;

use Test::More;
use B24T;

my $token = B24T::random_secret(12) . '+/x=';
(my $form = $token) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
(my $json = $token) =~ s{/}{\\/}g;

my $t = B24T->new;
my $dir = $t->dir;
chmod 0711, $dir;
mkdir "$dir/j";
chmod 0777, "$dir/j";

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF2");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_journal $dir/j/journal.jsonl bodies=all;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token field=auth;
            b24trigger_secret "$token";
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF2

my $file = "$dir/j/journal.jsonl";

my $r = $t->post('/hook?id=1', "auth=$form&amount=4200",
                 'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 200, 'a form with the secret percent-encoded: verified');

$r = $t->post('/hook?id=2', qq({"auth":"$json","amount":"4200"}),
              'Content-Type' => 'application/json');
is($r->{status}, 200, 'JSON with "\/" in the secret: verified');

$r = $t->post('/hook?id=3', "auth=" . lc($form) . "&amount=1",
              'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 200, 'lower-case percent escapes: verified');

is(scalar @{ $t->calls }, 3, 'three calls reached the portal');

ok($t->wait_until(sub {
       -f $file && (() = $t->slurp($file) =~ /\n/g) >= 3 }, 5),
   'three journal lines');

my $text = $t->slurp($file);
my @l = map { $B24T::JSON->decode($_) } grep { /\S/ } split /\n/, $text;

is($l[0]{body}, 'auth=***&amount=4200', 'the form\'s secret masked');
is($l[1]{body}, '{"auth":"***","amount":"4200"}', 'the JSON\'s masked');
is($l[2]{body}, 'auth=***&amount=1', 'lower-case escapes masked');

for my $s ($token, $form, lc $form, $json) {
    ok(index($text, $s) < 0, "the journal holds no \"$s\" spelling")
        or diag $text;
}

$t->finish;

my $log = $t->error_log;
ok(index($log, $token) < 0 && index($log, $form) < 0
   && index($log, $json) < 0, 'nor does the error log');

done_testing;
