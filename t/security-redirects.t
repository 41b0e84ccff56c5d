#!/usr/bin/perl

# The attack of issue 13, finding 5: the "plain http only to loopback"
# rule cut the host at the first ":", so a portal's 302 to
# "http://localhost:1@127.0.0.2:PORT/..." passed as loopback and libcurl
# sent the event, with the webhook's secret or the OAuth access token, to
# 127.0.0.2 (in the finding, to any address, in clear text); an OAuth
# portal's 302 sent the access token to any https host it named.  URLs
# are now read by libcurl's URL parser: userinfo is refused everywhere, a
# redirect goes only to https or to loopback http, an OAuth portal's
# redirect only to the portal's own host, a webhook portal's to another
# host only as a moved portal (the same path).  A collector on another
# address, and the emulator's https listener under another host name,
# must receive nothing.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $secret = $t->secret;
my $csecret = B24T::random_secret(32);
my $password = B24T::random_secret(20);

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

# nginx -t: userinfo in any URL is refused, and not printed

sub conf_fails {
    my ($name, $portal, $re) = @_;
    my ($rc, $out) = $t->nginx_test("$portal\n server { listen %%LISTEN%%;"
        . ' location /h { b24trigger_pass p; b24trigger_verify none;'
        . ' b24trigger_target DEAL_$arg_id; } }');
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $re, "$name: message") or diag($out);
    ok(index($out, $password) < 0 && index($out, $secret) < 0
       && index($out, $csecret) < 0, "$name: no secret in the message");
}

conf_fails('webhook URL with userinfo',
           "b24trigger_portal p https://u:$password\@portal.example.com"
           . "/rest/1/%%SECRET%%/;",
           qr/URL of portal "p" must not have a user name or password/);

conf_fails('webhook URL, loopback user, remote host',
           "b24trigger_portal p http://localhost:1\@192.0.2.2:18099"
           . "/rest/1/%%SECRET%%/;",
           qr/URL of portal "p" must not have a user name or password/);

conf_fails('OAuth URL with userinfo',
           "b24trigger_portal p https://u:$password\@portal.example.com"
           . "/rest/ oauth=$dir/oauth/x.json client_id=a"
           . " client_secret=$csecret;",
           qr/URL of OAuth portal "p" must not have a user name or password/);

conf_fails('oauth_server, loopback user, remote host',
           "b24trigger_portal p https://portal.example.com/rest/"
           . " oauth=$dir/oauth/x.json client_id=a client_secret=$csecret"
           . " oauth_server=http://localhost:1\@192.0.2.2:18099/;",
           qr/oauth_server of portal "p" must not have a user name or password/);

conf_fails('oauth_server with a password',
           "b24trigger_portal p https://portal.example.com/rest/"
           . " oauth=$dir/oauth/x.json client_id=a client_secret=$csecret"
           . " oauth_server=https://u:$password\@oauth.example.com/;",
           qr/oauth_server of portal "p" must not have a user name or password/);

conf_fails('oauth_server, a host not plain',
           "b24trigger_portal p https://portal.example.com/rest/"
           . " oauth=$dir/oauth/x.json client_id=a client_secret=$csecret"
           . " oauth_server=http://0x7f.1/;",
           qr/oauth_server of portal "p" must name its host plainly, as "HOST" or "HOST:PORT"/);

# the collector: whatever reaches 127.0.0.2 is written down

my $collector = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.2',
                                      LocalPort => 0, ReuseAddr => 1)
    or plan(skip_all => "no listener on 127.0.0.2: $!");
my $cport = $collector->sockport;

my $cpid = fork();
die "fork: $!" unless defined $cpid;

if ($cpid == 0) {
    while (my $c = $collector->accept) {
        my $got = '';
        my $sel = IO::Select->new($c);
        while ($sel->can_read(1)) {
            last unless sysread($c, $got, 65536, length $got);
        }
        open my $fh, '>>', "$dir/collected" or die;
        print $fh "connection: $got\n";
        close $fh;
        close $c;
    }
    exit 0;
}

close $collector;

END { kill 'TERM', $cpid if $cpid; }

sub collected { $t->slurp("$dir/collected") }

$t->emulator(https => 1, https_host => '127.0.0.1',
             args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);

my ($hport) = $t->{emu_https} =~ /:(\d+)$/;
my $pair = $t->emu_request('POST', '/_emu/oauth/issue', {});
my @secrets = ($secret, $csecret, $pair->{access_token},
               $pair->{refresh_token});

open my $fh, '>', "$dir/oauth/state.json" or die $!;
print $fh $B24T::JSON->encode({
    access_token => $pair->{access_token},
    refresh_token => $pair->{refresh_token},
    expires => $pair->{expires}, member_id => 'member1',
    domain => $t->emu });
close $fh;
chmod 0600, "$dir/oauth/state.json";

$t->nginx(<<"EOF");
    b24trigger_ssl_trusted_certificate %%CERTS%%/ca.crt;

    b24trigger_portal hook http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=$dir/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass hook;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location /app {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

sub redirect_to {
    my ($location) = @_;
    $t->emu_reset;
    $t->emu_config(faults => [{ mode => 'redirect', location => $location }]);
}

sub https_calls {
    return grep { $_->{listener} eq 'https' } @{ $t->calls };
}

# 1. a webhook portal's 302 to "http://localhost:1@127.0.0.2:PORT/..."

redirect_to("http://localhost:1\@127.0.0.2:$cport/rest/1/$secret/"
            . 'crm.automation.trigger');

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 502, 'webhook, userinfo redirect: 502');
ok(collected() eq '', 'webhook, userinfo redirect: the collector got nothing');

# 2. the same for an OAuth portal: the access token would go along

redirect_to("http://localhost:1\@127.0.0.2:$cport/rest/"
            . 'crm.automation.trigger');

$r = $t->post('/app?id=2', '');
is($r->{status}, 502, 'OAuth, userinfo redirect: 502');
ok(collected() eq '', 'OAuth, userinfo redirect: the collector got nothing');

like($t->error_log,
     qr/\[error\].*redirect of portal "app" not followed: the URL must not have a user name or password/,
     'userinfo redirect: said so');
unlike($t->error_log, qr/localhost:1\@/, 'the userinfo is not logged');

# 3. an OAuth portal's 302 to another https host

redirect_to("https://localhost:$hport/rest/crm.automation.trigger");

$r = $t->post('/app?id=3', '');
is($r->{status}, 502, 'OAuth, redirect to another https host: 502');
is(scalar(https_calls()), 0,
   'OAuth, redirect to another https host: the token did not go there');
like($t->error_log,
     qr/\[error\].*portal "app" redirected to another host, "localhost:\d+", not followed: the webhook's secret and the access token go only to the portal's host; if the portal has moved, update "b24trigger_portal"/,
     'OAuth, another host: said so');

# 4. a webhook portal's 302 to another host and another path

redirect_to("https://localhost:$hport/rest/1/$secret/profile");

$r = $t->post('/hook?id=4', '');
is($r->{status}, 502, 'webhook, another host and path: 502');
is(scalar(https_calls()), 0, 'webhook, another host and path: not followed');
like($t->error_log,
     qr/\[error\].*portal "hook" redirected to another host, "localhost:\d+", not followed/,
     'webhook, another host and path: said so');

# 5. plain http to a remote host: refused before any connection

redirect_to("http://192.0.2.2:18099/rest/1/$secret/crm.automation.trigger");

$r = $t->post('/hook?id=5', '');
is($r->{status}, 502, 'plain http to a remote host: 502');
like($t->error_log, qr/portal "hook" redirected to plain http at "192\.0\.2\.2:18099"/,
     'plain http to a remote host: said so');

# 6. a webhook portal "moved" to another host, the same path, over https:
# the webhook's path holds its secret, which goes to no host the operator
# did not name; the error-log line asks for the new URL

redirect_to("https://localhost:$hport/rest/1/$secret/crm.automation.trigger");

$r = $t->post('/hook?id=6', '');
is($r->{status}, 502, 'moved to another host: not followed');
is(scalar(https_calls()), 0, 'moved to another host: nothing sent there');
like($t->error_log, qr/\[error\].*portal "hook" redirected to another host, "localhost:\d+", not followed: .*update "b24trigger_portal"/,
     'moved to another host: said so');

# 7. the OAuth portal's own host: followed

redirect_to('http://' . $t->emu . '/rest/crm.automation.trigger');

$r = $t->post('/app?id=7', '');
is($r->{status}, 200, 'OAuth, redirect on its own host: followed');

ok(collected() eq '', 'the collector got nothing at all');

$t->finish;
$t->secret_nowhere('no secret or token in replies or logs', @secrets,
                   $password);

done_testing;
