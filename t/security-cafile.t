#!/usr/bin/perl

# Issue 13, finding 7: b24trigger_ssl_trusted_certificate with a relative
# path was taken from the nginx prefix by the module's own client but
# handed to libcurl as it was, relative to nginx's working directory: the
# libcurl paths (the OAuth token server, a portal not resolved at load, a
# moved portal) used another file than the one configured, or none.  Both
# clients now use the file under the prefix.

use strict;
use warnings;

use File::Copy qw(copy);
use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $csecret = B24T::random_secret(32);

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

# the CA under the prefix only, named relative to it

my $certs = $t->certs;
mkdir "$dir/ca";
chmod 0755, "$dir/ca";
copy("$certs/ca.crt", "$dir/ca/test-ca.crt") or die "copy: $!";
chmod 0644, "$dir/ca/test-ca.crt";

ok(!-e 'ca/test-ca.crt', 'no such file in the working directory');

$t->emulator(https => 1, args => ['--oauth-app', "app.test:$csecret",
                                  '--member-id', 'member1']);

my $pair = $t->emu_request('POST', '/_emu/oauth/issue', {});

# the stored token has expired: the first call refreshes it, through
# libcurl, at the https token server

open my $fh, '>', "$dir/oauth/state.json" or die $!;
print $fh $B24T::JSON->encode({
    access_token => $pair->{access_token},
    refresh_token => $pair->{refresh_token},
    expires => time - 10, member_id => 'member1',
    domain => $t->{emu_https} });
close $fh;
chmod 0600, "$dir/oauth/state.json";

$t->nginx(<<"EOF");
    b24trigger_ssl_trusted_certificate ca/test-ca.crt;

    b24trigger_portal app https://%%EMU_HTTPS%%/rest/
        oauth=$dir/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=https://%%EMU_HTTPS%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 200, 'refreshed over https with the CA under the prefix');

my @grants = grep { ($_->{method} || '') eq 'oauth.token' } @{ $t->calls };
is(scalar @grants, 1, 'one refresh');
is($grants[0]{listener}, 'https', 'at the https token server')
    if @grants;

unlike($t->error_log, qr/not refreshed, token server unreachable/,
       'the token server was reached');

my $state = eval { $B24T::JSON->decode($t->slurp("$dir/oauth/state.json")) }
            || {};

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs',
                   $csecret, $pair->{access_token}, $pair->{refresh_token},
                   grep { defined } $state->{access_token},
                   $state->{refresh_token});

done_testing;
