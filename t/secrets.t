#!/usr/bin/perl

# The portal's secret and the webhook secrets never appear in a reply, a
# header, the access log or the error log at debug level, whether they
# are written inline, in a file or in the environment, on success and on
# every failure path.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(20);
my $dir = $t->dir;

# the portal URL from a file (mode 0600) and from the environment

open my $fh, '>', "$dir/portal.url" or die;
print $fh "http://127.0.0.1:1/rest/1/" . $t->secret . "/\n";
close $fh;
chmod 0600, "$dir/portal.url";

open $fh, '>', "$dir/token" or die;
print $fh "$token\n";
close $fh;
chmod 0600, "$dir/token";

$t->emulator(moved => 'http');

my $url = "http://$t->{emu}/rest/1/" . $t->secret . "/";
(my $conf_url = "$dir/portal.url");

open $fh, '>', "$dir/portal.url" or die;
print $fh "$url\n";
close $fh;

$t->nginx(<<'EOF', env => { B24_PORTAL_URL => $url }, main => 'env B24_PORTAL_URL;');
    log_format all '$request $status $b24trigger_result $b24trigger_error '
                   '$b24trigger_portal $b24trigger_portal_error';
    access_log %%TESTDIR%%/logs/access.log all;

    b24trigger_portal fromfile file:%%TESTDIR%%/portal.url timeout=1s;
    b24trigger_portal fromenv env:B24_PORTAL_URL timeout=1s;
    b24trigger_portal moved http://%%EMU_MOVED%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        b24trigger_verify token header=X-Token;
        b24trigger_secret file:%%TESTDIR%%/token;
        b24trigger_target $arg_target;

        location /file  { b24trigger_pass fromfile; }
        location /env   { b24trigger_pass fromenv; }
        location /moved { b24trigger_pass moved; }
    }
EOF

my @ok = ('X-Token' => $token);

is($t->post('/file?target=DEAL_1', '{}', @ok)->{status}, 200,
   'portal URL from a file');
is($t->post('/env?target=DEAL_2', '{}', @ok)->{status}, 200,
   'portal URL from the environment');
is($t->post('/moved?target=DEAL_3', '{}', @ok)->{status}, 200,
   'moved portal');
is($t->post('/file?target=DEAL_4', '{}', 'X-Token' => "x$token")->{status},
   401, 'bad token');

for my $fault ('http500', 'html502', 'garbage_200', 'invalid_credentials',
               'query_limit', 'hang')
{
    $t->emu_config(faults => [$fault], mode => 'none');
    my $r = $t->post('/env?target=DEAL_5', '{}', @ok);
    ok($r->{status} >= 500, "$fault: $r->{status}");
}

$t->emu_config(mode => 'reset');
$t->post('/file?target=DEAL_6', '{}', @ok);
$t->emu_config(mode => 'none');

like($t->error_log, qr/\[debug\]/, 'the error log was at debug level');

my $emu_log = $t->slurp("$dir/emu.log");
ok(length $emu_log, 'the emulator logged the calls');
ok(index($emu_log, $t->secret) < 0, 'the emulator log is redacted too');

# nginx -t on a malformed URL does not print it

my ($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_portal p https://example.com/rest/1/%%SECRET%%/crm.automation.trigger/?target=DEAL_1;
EOF
isnt($rc, 0, 'nginx -t refuses a pasted trigger URL');
like($out, qr/\[emerg\].*URL of portal "p" must not have a query string/,
     'with a clear message');
ok(index($out, $t->secret) < 0, 'that does not print the secret');

($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_portal p http://portal.example.com/rest/1/%%SECRET%%/;
EOF
isnt($rc, 0, 'nginx -t refuses plain http to a remote host');
ok(index($out, $t->secret) < 0, 'without printing the secret');

$t->finish;
$t->secret_nowhere('portal secret nowhere', $t->secret);
my $seen = join "\n", $t->error_log,
    map { $_->{raw} || '' } @{ $t->{replies} };
ok(index($seen, $token) < 0, 'webhook secret in no reply and no log line');

done_testing;
