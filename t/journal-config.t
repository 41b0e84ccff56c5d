#!/usr/bin/perl

# nginx -t and the directives of the journal, the status API and the
# alerts: what is accepted, and each mistake refused with a message that
# names it (and no secret).

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new(allow_alerts => qr/cannot write in "[^"]*\/private"/);
my $dir = $t->dir;
chmod 0711, $dir;
mkdir "$dir/j";
chmod 0777, "$dir/j";
mkdir "$dir/private", 0700;

sub check {
    my ($lines, $want, $name) = @_;
    my ($rc, $out) = $t->nginx_test(<<"EOF");
    b24trigger_portal main http://127.0.0.1:9/rest/1/%%SECRET%%/;
    $lines

    server {
        listen %%LISTEN%%;
        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
        }
    }
EOF
    if (defined $want) {
        isnt($rc, 0, "$name: refused");
        like($out, $want, "$name: the message");
    } else {
        is($rc, 0, "$name: accepted") or diag($out);
    }
    ok(index($out, $t->secret) < 0, "$name: no secret");
}

check("b24trigger_journal $dir/j/j.jsonl max_size=1m max_age=1h bodies=all;
       b24trigger_journal_ring 50;
       b24trigger_alert main to=1 on=all every=5m threshold=3;
       server { listen 127.0.0.1:1; location = /s { b24trigger_status manage=on; } }",
      undef, 'all of them');
check("b24trigger_journal $dir/private/j.jsonl;",
      qr/worker user "\w+" cannot write in "\Q$dir\E\/private"/,
      'a folder the workers cannot write in')
    if $> == 0;
check("b24trigger_journal $dir/j.jsonl bodies=some;",
      qr/invalid parameter "bodies=some"/, 'bodies=');
check("b24trigger_journal $dir/j.jsonl max_size=0;",
      qr/invalid parameter "max_size=0"/, 'max_size=');
check("b24trigger_journal $dir/j.jsonl; b24trigger_journal $dir/k.jsonl;",
      qr/"b24trigger_journal" directive is duplicate/, 'twice');
check("b24trigger_journal_ring 0;",
      qr/invalid number of entries "0"/, 'a ring of none');
check("b24trigger_alert nope to=1;",
      qr/b24trigger_alert: unknown portal "nope"/, 'an unknown portal');
check("b24trigger_alert main on=dead;",
      qr/needs to=USER_ID/, 'no user');
check("b24trigger_alert main to=x;",
      qr/invalid parameter "to=x"/, 'a user that is no number');
check("b24trigger_alert main to=1 on=always;",
      qr/invalid parameter "on=always"/, 'on=');
check("b24trigger_alert main to=1; b24trigger_alert main to=2;",
      qr/b24trigger_alert for portal "main" is duplicate/, 'one per portal');
check("server { listen 127.0.0.1:1; location = /s { b24trigger_status manage=yes; } }",
      qr/invalid parameter "manage=yes"/, 'manage=');

$t->finish;

done_testing;
