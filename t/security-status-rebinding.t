#!/usr/bin/perl

# DNS rebinding against the status location's management: a page of
# http://evil.example:PORT whose name the attacker then points at nginx
# is, for the browser, of the same origin as the status location.  Its
# requests carry "Host: evil.example:PORT" and an Origin that matches
# it, so the same-origin check alone lets it read the CSRF token
# (?view=token) and replay or drop dead letters.  The Host must be an
# address, "localhost" or a name of the server {} (server_name).

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_queue $spool backoff=100ms backoff_max=200ms;

    server {
        listen %%LISTEN%%;
        server_name status.internal *.ops.internal;

        location /queue {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target \$arg_target;
            b24trigger_delivery queue;
        }

        location = /manage { b24trigger_status manage=on; }
    }
EOF

my $port = $t->{port};

# a request as a browser sends it, Host and Origin of the page's site
sub as_site {
    my ($host, $method, $path, @h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or die "connect: $!";
    B24T::send_request($s, $host, $port, $method, $path,
                       headers => [Origin => "http://$host:$port",
                                   'Sec-Fetch-Site' => 'same-origin', @h]);
    return B24T::read_response($s, 10);
}

$t->emu_config(faults => ['method_not_found']);
my $r = $t->post('/queue?target=DEAL_1', '{}', 'X-Token' => $token);
is($r->{status}, 202, 'queued');
my $id = $r->{json}{id};
ok($t->wait_until(sub { -f "$spool/dead/$id.json" }, 10), 'a dead letter');
$t->emu_reset;
my $calls = scalar @{ $t->calls };

# the rebound page: no token, no action

$r = as_site('evil.example', 'GET', '/manage?view=token');
is($r->{status}, 403, 'rebound page: the token refused (403)');
is($r->{json}{error}, 'host_unknown', 'rebound page: JSON error');
unlike($r->{body} || '', qr/[0-9a-f]{32}/, 'rebound page: no token in it');

my $csrf = $t->request('GET', '/manage?view=token')->{json}{token};
like($csrf, qr/^[0-9a-f]{32}$/, 'the address as Host: the token');

$r = as_site('evil.example', 'POST', "/manage?action=drop&id=$id",
             'X-B24trigger-Token' => $csrf);
is($r->{status}, 403, 'rebound page: drop refused (403)');
is($r->{json}{error}, 'host_unknown', 'rebound page: drop, JSON error');
ok(-f "$spool/dead/$id.json", 'rebound page: the dead letter stays');

$r = as_site('evil.example', 'POST', "/manage?action=replay&id=$id",
             'X-B24trigger-Token' => $csrf);
is($r->{json}{error}, 'host_unknown', 'rebound page: replay refused');
sleep 1;
is(scalar @{ $t->calls }, $calls, 'rebound page: nothing reached the portal');

# a name of the server: exact, wildcard; an address; localhost

for my $host ('status.internal', 'a.ops.internal', 'localhost') {
    $r = as_site($host, 'GET', '/manage?view=token');
    is($r->{status}, 200, "Host $host: the token");
}

$r = as_site('ops.internal.evil.example', 'GET', '/manage?view=token');
is($r->{status}, 403, 'a name that only begins as the server\'s: refused');

$r = as_site('status.internal', 'POST', "/manage?action=drop&id=$id",
             'X-B24trigger-Token' => $csrf);
is($r->{status}, 200, 'the server\'s name: drop done');
ok(!-f "$spool/dead/$id.json", 'the dead letter is gone');

like($t->error_log, qr/status action refused .*host_unknown/,
     'the refusal is in the error log');

$t->finish;

done_testing;
