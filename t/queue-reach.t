#!/usr/bin/perl

# A spool that nginx's worker user cannot reach (under a private folder,
# as a clone in /root is) is refused by nginx -t and at start, with a
# message naming the folder and the user, instead of workers that die at
# start and cannot be respawned.  An OAuth state file whose folder the
# workers cannot write in is said at load, as a warning.  A reload into
# such a configuration keeps the running one.

use strict;
use warnings;

use Test::More;
use B24T;

plan skip_all => 'workers only change user when nginx starts as root'
    if $> != 0;

my $t = B24T->new;
my $d = $t->dir;
chmod 0711, $d;

mkdir "$d/private";
chmod 0700, "$d/private";
mkdir "$d/open";
chmod 0711, "$d/open";

sub conf {
    my ($spool) = @_;
    return <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue $spool;
    server {
        listen %%LISTEN%%;
        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
            b24trigger_delivery queue;
        }
    }
EOF
}

my $user = qr/"(?:nobody|www-data|[a-z_][a-z0-9_-]*)"/;

my ($rc, $out) = $t->nginx_test(conf("$d/private/spool"));
isnt($rc, 0, 'a spool under a private folder: nginx -t fails');
like($out, qr/\[emerg\].*b24trigger: nginx's worker user $user cannot enter "\Q$d\E\/private" \(rwx------, owner uid 0\), so it cannot use "\Q$d\E\/private\/spool" of "b24trigger_queue"/,
     'the message names the folder, the user and the directive')
    or diag($out);

($rc, $out) = $t->nginx_test(conf("$d/open/spool"));
is($rc, 0, 'a spool the workers can reach: nginx -t passes') or diag($out);

# a user named in the configuration, with a folder only root may enter

($rc, $out) = $t->nginx_test(conf("$d/private/spool"),
                             main => 'user nobody nogroup;');
like($out, qr/worker user "nobody" cannot enter/, 'the "user" directive')
    or diag($out);

# started, then reloaded into a spool the workers cannot reach: the
# master refuses the new configuration and keeps serving with the old

$t->emulator;
$t->nginx(conf("$d/open/spool"));

my $r = $t->post('/hook', '{}');
is($r->{status}, 202, 'queued with a reachable spool');

$t->write_conf(conf("$d/private/spool"));
$t->signal('HUP');

ok($t->wait_log(qr/cannot enter "\Q$d\E\/private"/, 10),
   'the reload is refused with the message');

$r = $t->post('/hook', '{}');
is($r->{status}, 202, 'the running configuration goes on');

unlike($t->error_log, qr/exited with fatal code|cannot be respawned/,
       'no worker died');

# OAuth: a state file in a folder the workers cannot write in

my $csecret = B24T::random_secret(20);
open my $fh, '>', "$d/private/state.json" or die;
print $fh '{"access_token":"a' . B24T::random_secret(12)
    . '","refresh_token":"r' . B24T::random_secret(12)
    . '","expires":' . (time + 3600) . '}';
close $fh;

($rc, $out) = $t->nginx_test(<<"EOF");
    b24trigger_portal app https://portal.example.com/rest/
        oauth=$d/private/state.json client_id=app.1 client_secret=$csecret;
    server { listen %%LISTEN%%; }
EOF
like($out, qr/\[warn\].*worker user $user cannot write in "\Q$d\E\/private".*"oauth="/,
     'an OAuth state folder the workers cannot write in: a warning')
    or diag($out);
ok(index($out, $csecret) < 0, 'no secret in the warning');

done_testing();
