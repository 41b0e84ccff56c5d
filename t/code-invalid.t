#!/usr/bin/perl

# A trigger code that is not UTF-8 (a form field decoded to raw bytes)
# cannot go into Bitrix24's JSON: 422 code_invalid, nothing sent, in both
# delivery modes.  A code with what JSON escapes (quotes, backslashes,
# control bytes) reaches the portal and the sender's reply as it was,
# escaped as nginx escapes JSON.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
chmod 0711, $t->dir;

$t->emulator;
$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_field $form_code code;
    b24trigger_queue %%TESTDIR%%/spool;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;
        b24trigger_code $form_code;

        location /sync  { b24trigger_pass main; }
        location /queue { b24trigger_pass main; b24trigger_delivery queue; }
    }
EOF

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

for my $path ('/sync', '/queue') {
    my $r = $t->post("$path?id=5", 'code=%FF%FEx', @form);
    is($r->{status}, 422, "$path: code not UTF-8: 422");
    is_deeply($r->{json}, { error => 'code_invalid' }, "$path: body");

    $r = $t->post("$path?id=6", 'code=%D0%BA%D0%BE%D0%B4', @form);
    ok($r->{status} == 200 || $r->{status} == 202,
       "$path: a UTF-8 code goes through");
}

$t->wait_until(sub { @{ $t->calls } == 2 }, 10);

is_deeply([sort map { "$_->{target}:$_->{code}" } @{ $t->calls }],
          ["DEAL_6:\xd0\xba\xd0\xbe\xd0\xb4", "DEAL_6:\xd0\xba\xd0\xbe\xd0\xb4"],
          'only the valid codes reached the portal');

like($t->error_log,
     qr/\[error\].*code for target "DEAL_5" is not UTF-8 or longer than 1024 bytes in location "\/sync"; check b24trigger_code/,
     'logged');

# what JSON escapes, in a short code and past the first eight bytes of a
# longer one; DEL and UTF-8 are not escaped

my @codes = (
    [ 'a%22b%5Cc%09d%01e%7Ff', "a\"b\\c\td\x01e\x7ff",
      'a\\"b\\\\c\\td\\u0001e' . "\x7f" . 'f' ],
    [ 'abcdefghij%22klmnopq%5Crstu%0Avwxyz%D0%BA',
      "abcdefghij\"klmnopq\\rstu\nvwxyz\xd0\xba",
      'abcdefghij\\"klmnopq\\\\rstu\\nvwxyz' . "\xd0\xba" ],
    [ 'abcdefgh12345678', 'abcdefgh12345678', 'abcdefgh12345678' ],
);

my $n = 2;

for my $c (@codes) {
    my ($form, $code, $json) = @$c;

    my $r = $t->post('/sync?id=7', "code=$form", @form);
    is($r->{status}, 200, "code \"$form\": forwarded");
    is($r->{body},
       '{"result":"forwarded","target":"DEAL_7","code":"' . $json . '"}',
       "code \"$form\": the reply, escaped as nginx escapes JSON");

    $n++;
    $t->wait_until(sub { @{ $t->calls } == $n }, 10);
    is($t->calls->[-1]{code}, $code, "code \"$form\": the portal's");
}

$t->finish;

done_testing;
