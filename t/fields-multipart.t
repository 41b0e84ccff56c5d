#!/usr/bin/perl

# multipart/form-data bodies: b24trigger_field reads their parts by name
# as it reads a form's fields (a token-verified form builder posts
# them); bounded (1000 parts, 2048 bytes and 16 lines of headers a
# part), and anything malformed is 400 body_invalid with nothing
# forwarded.  One body comes from curl -F, an encoder of its own.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $token = B24T::random_secret(32);

$t->emulator;
$t->nginx(<<"EOF2");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_field \$mp_deal  deal;
    b24trigger_field \$mp_code  form.code;
    b24trigger_field \$mp_note  note;

    server {
        listen %%LISTEN%%;

        location = /mp {
            b24trigger_pass    main;
            b24trigger_verify  token header=X-Token;
            b24trigger_secret  "$token";
            b24trigger_target  DEAL_\$mp_deal;
            b24trigger_code    \$mp_code;
            add_header X-Note "\$mp_note" always;
        }
    }
EOF2

my $b = 'b24t' . B24T::random_secret(16);

sub part {
    my ($name, $value, @h) = @_;
    return "--$b\r\nContent-Disposition: form-data; name=\"$name\"\r\n"
         . join('', map { "$_\r\n" } @h) . "\r\n$value\r\n";
}

sub mp {
    my ($body, %o) = @_;
    return $t->post('/mp', $body, 'X-Token' => $token,
                    'Content-Type' => $o{type}
                                      || "multipart/form-data; boundary=$b");
}

my $calls = 0;

sub forwarded_ok {
    my ($r, $deal, $name) = @_;
    is($r->{status}, 200, "$name: 200") or diag($r->{body});
    $calls++;
    is(scalar @{ $t->calls }, $calls, "$name: one call");
    is($t->calls->[-1]{target}, "DEAL_$deal", "$name: DEAL_$deal");
}

sub invalid {
    my ($r, $reason, $name) = @_;
    is($r->{status}, 400, "$name: 400") or diag($r->{body});
    is($r->{json}{error}, 'body_invalid', "$name: body_invalid");
    like($r->{json}{reason} || '', qr/^multipart: \Q$reason\E/,
         "$name: $reason");
    is(scalar @{ $t->calls }, $calls, "$name: nothing forwarded");
}

# curl -F, as a form builder would send it

my $out = `curl -s -o /dev/null -w '%{http_code}' -H 'X-Token: $token' -F deal=57 -F 'form[code]=mp_code' -F 'note=a;b "c"' http://127.0.0.1:$t->{port}/mp`;
is($out, '200', 'curl -F: 200');
$calls++;
is_deeply($t->calls->[-1]{params}, { target => 'DEAL_57', code => 'mp_code' },
          'curl -F: the parts read as fields');

# by hand: a preamble, blanks after a boundary, a file, an empty part,
# CRLF inside a value, a quoted boundary, upper-case header names

my $body = "preamble\r\n" . part('deal', '58')
         . part('form[code]', "c2")
         . "--$b  \r\nCONTENT-DISPOSITION: form-data; name=note; "
         . "filename=\"n.txt\"\r\nContent-Type: text/plain\r\n\r\n"
         . "line 1\r\nline 2\r\n"
         . part('empty', '')
         . "--$b--\r\nepilogue";

my $r = mp($body, type => "Multipart/Form-Data; charset=utf-8; boundary=\"$b\"");
forwarded_ok($r, 58, 'preamble, file, padding, quoted boundary');
is($t->calls->[-1]{code}, 'c2', 'nested name form[code] read as form.code');

# malformed: refused with 400, nothing forwarded

invalid(mp(part('deal', '59') . part('form[code]', 'c')),
        'no closing boundary', 'no closing delimiter');

invalid(mp(part('deal', '59'), type => 'multipart/form-data'),
        'no usable boundary', 'no boundary parameter');

invalid(mp("--$b\r\nContent-Type: text/plain\r\n\r\n59\r\n--$b--\r\n"),
        'a part without a name', 'a part without Content-Disposition');

invalid(mp("--$b\r\nContent-Disposition: form-data; filename=x\r\n\r\n"
           . "59\r\n--$b--\r\n"),
        'a part without a name', 'a part without a name');

invalid(mp("--$b\r\nContent-Disposition: form-data; name=deal\r\n"
           . "Content-Disposition: form-data; name=other\r\n\r\n"
           . "59\r\n--$b--\r\n"),
        'two Content-Disposition headers', 'two names');

invalid(mp("--$b\r\nContent-Disposition: form-data; name=deal; name=x\r\n"
           . "\r\n59\r\n--$b--\r\n"),
        'a part named twice', 'name= twice');

invalid(mp(part('deal', 'NTk=', 'Content-Transfer-Encoding: base64')
           . "--$b--\r\n"),
        'an encoded part', 'base64 part');

invalid(mp("--$b\r\nContent-Disposition: form-data;\r\n name=deal\r\n\r\n"
           . "59\r\n--$b--\r\n"),
        'a folded part header line', 'folded header');

invalid(mp("--$b\r\nContent-Disposition: form-data; name=deal\r\n"
           . 'X-Pad: ' . ('x' x 3000) . "\r\n\r\n59\r\n--$b--\r\n"),
        'part headers too large', 'headers of 3000 bytes');

invalid(mp("--$b\r\nContent-Disposition: form-data; name=deal\r\n"
           . join('', map { "X-$_: 1\r\n" } 1 .. 20) . "\r\n59\r\n--$b--\r\n"),
        'too many part header lines', '21 header lines');

invalid(mp("--$b\r\nContent-Disposition: attachment; name=deal\r\n\r\n"
           . "59\r\n--$b--\r\n"),
        'a part that is not form-data', 'not form-data');

invalid(mp("--${b}x\r\n" . substr(part('deal', '59'), length("--$b\r\n"))
           . "--$b--\r\n"),
        'a boundary line not ended by CRLF', 'a longer boundary line');

invalid(mp("no delimiter at all"), 'no boundary', 'no delimiter');

# a part's value that holds the boundary without its CRLF is a value

$r = mp(part('deal', '60') . part('form[code]', 'c') 
        . part('note', "x--$b y") . "--$b--\r\n");
forwarded_ok($r, 60, 'the boundary inside a value, not after CRLF');
is($r->{headers}{'x-note'}, "x--$b y", 'that value whole');

# too many parts: 413 before they are read

$r = mp(join('', map { part("p$_", 'x') } 1 .. 1001) . "--$b--\r\n");
is($r->{status}, 413, '1001 parts: 413');
is($r->{json}{error}, 'too_many_fields', '1001 parts: too_many_fields');
is(scalar @{ $t->calls }, $calls, '1001 parts: nothing forwarded');

$r = mp(join('', map { part("p$_", 'x') } 1 .. 997) . part('deal', '61')
        . part('form[code]', 'c') . "--$b--\r\n");
forwarded_ok($r, 61, '999 parts');

like($t->error_log, qr/\[info\] .*invalid body, fields needed in location "\/mp": multipart: no closing boundary/,
     'the refusal logged at info');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no token anywhere', $token);

done_testing;
