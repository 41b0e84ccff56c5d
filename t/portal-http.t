#!/usr/bin/perl

# The portal call over nginx's own connections: HTTP/1.1 keep-alive, the
# answer however the portal frames or paces it (chunks, a 100 Continue,
# headers in pieces, a body ended by close), a connection the portal
# closes while idle, a portal reached by name, and answers that are too
# large or cut short.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--idle-timeout', '1']);

my ($emu_port) = $t->emu =~ /:(\d+)$/;
my $down = $t->held_port;

$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ timeout=3s
                      rate=1000r/s burst=1000;
    b24trigger_portal byname http://localhost:$emu_port/rest/1/%%SECRET%%/;
    b24trigger_portal namedown http://localhost:$down/rest/1/%%SECRET%%/;
    b24trigger_portal ipdown http://127.0.0.1:$down/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_code http;

        location /main { b24trigger_pass main; }
        location /name { b24trigger_pass byname; }
        location /namedown { b24trigger_pass namedown; }
        location /ipdown { b24trigger_pass ipdown; }
    }
EOF

sub forwarded {
    my ($name, $path) = @_;
    my $r = $t->post($path, '');
    is($r->{status}, 200, "$name: forwarded")
        or diag($r->{body});
    return $r;
}

sub ports { return map { $_->{client_port} } @{ $t->calls } }

# five calls, one connection

forwarded("call $_", "/main?id=$_") for 1 .. 5;

my @calls = @{ $t->calls };
is(scalar @calls, 5, 'five calls reached the portal');
is_deeply([map { $_->{target} } @calls], [map { "DEAL_$_" } 1 .. 5],
          'in order, each with its target');

my %ports = map { $_ => 1 } ports();
is(scalar keys %ports, 1, 'all over one kept-alive connection');

is_deeply($calls[0]{headers},
          { 'host' => $t->emu, 'user-agent' => 'b24trigger/1.0',
            'content-type' => 'application/json',
            'accept' => 'application/json' },
          'request headers');
is($calls[0]{http_method}, 'POST', 'a POST');

# however the answer is framed or paced

for my $m ('chunked', 'chunked_bytes', 'continue_100', 'slow_head',
           'close_delimited')
{
    $t->emu_reset;
    $t->emu_config(faults => [$m]);
    my $r = forwarded($m, '/main?id=10');
    is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_10',
                            code => 'http' }, "$m: body");
}

# after a body ended by close, a new connection

$t->emu_reset;
forwarded('after close', '/main?id=11');
forwarded('and again', '/main?id=12');
%ports = map { $_ => 1 } ports();
is(scalar keys %ports, 1, 'after close: one new connection, kept');

# the portal closes the idle connection (--idle-timeout 1): nginx notices,
# the next call takes a new one and nothing is logged as an error

select undef, undef, undef, 1.6;

$t->emu_reset;
my $before = () = $t->log_lines('error');
forwarded('after the portal closed an idle connection', '/main?id=13');
my $after = () = $t->log_lines('error');
is($after, $before, 'no error logged for a closed idle connection');

# bytes after the answer: the connection is not used again, and the next
# call gets its own answer, not those bytes

$t->emu_reset;
$t->emu_config(faults => ['trailing_garbage']);
forwarded('an answer followed by another', '/main?id=20');
my $r = forwarded('the next call', '/main?id=21');
is($r->{json}{target}, 'DEAL_21', 'the next call: its own answer');
%ports = map { $_ => 1 } ports();
is(scalar keys %ports, 2, 'the next call: on a new connection');

# too large, cut short

$t->emu_reset;
$t->emu_config(faults => ['huge']);
$r = $t->post('/main?id=14', '');
is($r->{status}, 502, 'an answer over 64 KiB: 502');
is($r->{json}{error}, 'portal_invalid_response', 'too large: invalid');
like($t->error_log, qr/\[error\].*answer too large/,
     'too large: logged');

$t->emu_config(faults => ['truncated']);
$r = $t->post('/main?id=15', '');
is($r->{status}, 502, 'an answer cut short: 502');
is($r->{json}{error}, 'portal_unreachable', 'cut short: unreachable');

forwarded('after the broken answers', '/main?id=16');

# by name: "localhost" may be ::1 first, the emulator is on 127.0.0.1

$t->emu_reset;
forwarded('by host name', '/name?id=17');
is($t->calls->[0]{headers}{host}, "localhost:$emu_port",
   'by host name: Host as in the URL');

# a name whose address of the load takes nothing: libcurl resolves it
# anew and tries once more; an address is not tried twice

$r = $t->post('/namedown?id=18', '');
is($r->{status}, 502, 'a name, nothing listening: 502');
like($t->error_log,
     qr/\[debug\].*portal "namedown" failed at its address of the configuration load \(Failed to connect to localhost port $down/,
     'a name: once more through libcurl');

$r = $t->post('/ipdown?id=19', '');
is($r->{status}, 502, 'an address, nothing listening: 502');
unlike($t->error_log, qr/portal "ipdown" failed at its address/,
       'an address: not tried again');

# many at once: at most a connection per call in flight, then kept

$t->emu_reset;
my @r = $t->concurrent(map { { path => "/main?id=$_", body => '' } }
                       100 .. 139);
is(scalar(grep { $_ && $_->{status} == 200 } @r), 40,
   '40 concurrent calls forwarded');

my %first = map { $_ => 1 } ports();
cmp_ok(scalar keys %first, '<=', 40, 'at most one connection per call');

$t->emu_reset;
forwarded("then call $_", "/main?id=$_") for 140 .. 149;
is(scalar(grep { !$first{$_} } ports()), 0,
   'then over the connections kept from them');

$t->finish;
$t->secret_nowhere;

done_testing;
