#!/usr/bin/perl

# Issue 13, finding 7: the error log is redacted (every configured secret
# replaced by "***") only when it is a file; an error_log sent to
# "syslog:" got nginx's debug lines with the token a sender puts in a
# header as they were.  Syslog error logs are now redacted like files: a
# collector on UDP must see the header line, with "***" for the token,
# and never the token or the portal's secret.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $token = B24T::random_secret(24);

# the syslog server: every datagram into a file

my $udp = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
                                LocalPort => 0)
    or die "udp: $!";
my $uport = $udp->sockport;

my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    open my $fh, '>>', "$dir/syslog" or die;
    $fh->autoflush(1);
    my $sel = IO::Select->new($udp);
    while (1) {
        next unless $sel->can_read(1);
        my $msg;
        $udp->recv($msg, 65536) or next;
        print $fh "$msg\n";
    }
}

close $udp;

END { kill 'TERM', $pid if $pid; }

$t->emulator;

# at http level: nginx logs the request headers before it has a location

$t->nginx(<<"EOF");
    error_log syslog:server=127.0.0.1:$uport,tag=b24t debug;

    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

my $r = $t->post('/hook?id=1', '', 'X-Token' => $token);
is($r->{status}, 200, 'forwarded');

$r = $t->post('/hook?id=2', '', 'X-Token' => "wrong$token");
is($r->{status}, 401, 'a wrong token: 401');

ok($t->wait_until(sub { $t->slurp("$dir/syslog") =~ /X-Token: \*\*\*/ }, 10),
   'syslog got the header line, redacted');

my $syslog = $t->slurp("$dir/syslog");

ok(index($syslog, $token) < 0, 'syslog: no token');
ok(index($syslog, $t->secret) < 0, "syslog: no portal secret");
like($syslog, qr/b24trigger/, 'syslog got the module\'s lines too');

$t->finish;
$t->secret_nowhere('no secret in replies or the file logs', $t->secret,
                   $token);

done_testing;
