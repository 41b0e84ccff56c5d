#!/usr/bin/perl

# Every portal outcome of DESIGN.md's reply table, produced by the portal
# emulator, gives the documented reply, variables and one error-log line.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $down = $t->held_port;

$t->emulator(moved => 'http', args => ['--deny', 'DEAL_13']);
$t->nginx(<<"EOF");
    log_format b24 '\$status|\$b24trigger_result|\$b24trigger_error|'
                   '\$b24trigger_target|\$b24trigger_code|\$b24trigger_portal|'
                   '\$b24trigger_portal_status|\$b24trigger_portal_error|'
                   '\$b24trigger_portal_time|\$b24trigger_attempts';

    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ timeout=2s;
    b24trigger_portal wrong http://%%EMU%%/rest/1/wrong%%SECRET%%/;
    b24trigger_portal down http://127.0.0.1:$down/rest/1/%%SECRET%%/
                      connect_timeout=1s;
    b24trigger_portal moved http://%%EMU_MOVED%%/rest/1/%%SECRET%%/;
    b24trigger_portal otl http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;
        access_log %%TESTDIR%%/logs/b24.log b24;

        b24trigger_verify none;
        b24trigger_target \$arg_target;
        b24trigger_code \$arg_code;

        location /main  { b24trigger_pass main; }
        location /wrong { b24trigger_pass wrong; }
        location /down  { b24trigger_pass down; }
        location /moved { b24trigger_pass moved; }
        location /otl   { b24trigger_pass otl; }
    }
EOF

sub outcome {
    my ($name, $path, $status, $json, %o) = @_;

    my $r = $t->post($path, '');

    is($r->{status}, $status, "$name: status $status");
    is_deeply($r->{json}, $json, "$name: body")
        or diag($r->{body});

    if ($o{retry_after}) {
        is($r->{headers}{'retry-after'}, $o{retry_after},
           "$name: Retry-After");
    }

    return $r;
}

sub last_log {
    my @l = split /\n/, $t->slurp($t->dir . '/logs/b24.log');
    return [split /\|/, $l[-1], -1];
}

# forwarded

outcome('forwarded', '/main?target=DEAL_57&code=c5u4m', 200,
        { result => 'forwarded', target => 'DEAL_57', code => 'c5u4m' });

my $v = last_log();
is_deeply([@$v[0 .. 7], $v->[9]],
          [200, 'forwarded', '-', 'DEAL_57', 'c5u4m', 'main', 200, '-', 1],
          'forwarded: variables');
like($v->[8], qr/^\d+\.\d{3}$/, 'forwarded: $b24trigger_portal_time');

# the portal's own errors: 502 with its error fields

outcome('target not found', '/main?target=FOO_5&code=x', 502,
        { error => 'portal_error', portal_error => '',
          portal_error_description => 'Target is not found.' });

like($t->error_log,
     qr/\[error\].*b24trigger: portal "main" refused target "FOO_5" code "x" from location "\/main": 400 \(no error code\) "Target is not found\."/,
     'target not found: error log line');

outcome('access denied', '/main?target=DEAL_13', 502,
        { error => 'portal_error', portal_error => 'ACCESS_DENIED',
          portal_error_description =>
              'Access denied! There is no permissions to update the entity.' });

$v = last_log();
is_deeply([@$v[0 .. 7]],
          [502, 'failed', 'portal_error', 'DEAL_13', '-', 'main', 403,
           'ACCESS_DENIED'], 'access denied: variables');

outcome('wrong credentials', '/wrong?target=DEAL_1', 502,
        { error => 'portal_error', portal_error => 'INVALID_CREDENTIALS',
          portal_error_description => 'Invalid request credentials' });

for my $f (['method_not_found', 'ERROR_METHOD_NOT_FOUND',
            'Method not found!'],
           ['http500', 'INTERNAL_SERVER_ERROR', 'Internal server error'],
           ['portal_deleted', 'PORTAL_DELETED', 'Portal was deleted'])
{
    $t->emu_config(faults => [$f->[0]]);
    outcome($f->[0], '/main?target=DEAL_2', 502,
            { error => 'portal_error', portal_error => $f->[1],
              portal_error_description => $f->[2] });
}

# rate limits: 503 and Retry-After

$t->emu_config(faults => ['query_limit']);
outcome('QUERY_LIMIT_EXCEEDED', '/main?target=DEAL_3', 503,
        { error => 'portal_rate_limited' }, retry_after => 1);

$v = last_log();
is_deeply([@$v[0 .. 2], $v->[7]],
          [503, 'failed', 'QUERY_LIMIT_EXCEEDED', 'QUERY_LIMIT_EXCEEDED'],
          'QUERY_LIMIT_EXCEEDED: variables');

# a portal of its own: OPERATION_TIME_LIMIT blocks the portal for every
# worker, here for a minute, as it never announced operating_reset_at

$t->emu_config(faults => ['operation_time_limit']);
outcome('OPERATION_TIME_LIMIT', '/otl?target=DEAL_3', 503,
        { error => 'portal_rate_limited' }, retry_after => 60);

my $n = @{ $t->calls };
my $b = outcome('OPERATION_TIME_LIMIT: blocked', '/otl?target=DEAL_3', 503,
                { error => 'portal_rate_limited' });
like($b->{headers}{'retry-after'}, qr/^(59|60)$/,
     'OPERATION_TIME_LIMIT: blocked, Retry-After counts down');
is(scalar @{ $t->calls }, $n, 'OPERATION_TIME_LIMIT: the portal is spared');

like($t->error_log,
     qr/\[error\].*portal "otl" is rate limiting \(OPERATION_TIME_LIMIT "Method is blocked due to operation time limit\."\)/,
     'rate limited: error log line');

# answers that are not Bitrix24's

for my $f ('html502', 'garbage_200', 'empty_200') {
    my $status = $f eq 'html502' ? 502 : 200;
    $t->emu_config(faults => [$f]);
    outcome($f, '/main?target=DEAL_4', 502,
            { error => 'portal_invalid_response',
              portal_status => $status });
}

# unreachable and timeouts

# persistent modes: libcurl repeats a request once on a fresh connection
# when a reused one dies before any answer

for my $f ('reset', 'close') {
    $t->emu_config(mode => $f);
    outcome($f, '/main?target=DEAL_5', 502,
            { error => 'portal_unreachable' });
}

$t->emu_config(mode => 'none');

outcome('connection refused', '/down?target=DEAL_5', 502,
        { error => 'portal_unreachable' });

like($t->error_log,
     qr/\[error\].*portal "down" at "http:\/\/127\.0\.0\.1:$down\/rest\/1\/\*\*\*\/" unreachable: /,
     'unreachable: error log line with the URL redacted');

$t->emu_config(faults => ['hang']);
outcome('no answer', '/main?target=DEAL_6', 504,
        { error => 'portal_timeout' });

like($t->error_log, qr/\[error\].*portal "main" at "[^"]*\*\*\*\/" timed out/,
     'timeout: error log line');

$v = last_log();
is_deeply([@$v[0 .. 2]], [504, 'failed', 'portal_timeout'],
          'timeout: variables');

# a moved portal: 302 repeated once as POST to the new address

$t->emu_reset;

outcome('moved portal', '/moved?target=DEAL_7&code=m', 200,
        { result => 'forwarded', target => 'DEAL_7', code => 'm' });

my @calls = grep { $_->{listener} eq 'http' } @{ $t->calls };
is(scalar @calls, 1, 'moved: one call reached the portal');
is(scalar(grep { $_->{listener} eq 'moved' } @{ $t->calls }), 1,
   'moved: the old address was asked once');
is($calls[0]{http_method}, 'POST', 'moved: repeated as POST');
is_deeply($calls[0]{params}, { target => 'DEAL_7', code => 'm' },
          'moved: with its body');

like($t->error_log, qr/\[warn\].*portal "moved" has moved to "127\.0\.0\.1:\d+"/,
     'moved: warning names the new host only');

# the emulator's own bucket (50 then 2/s) trips without b24trigger's

$t->emu_reset;
$t->emu_config(bucket => 2, drain => 0.01);

my @r = map { $t->post("/main?target=DEAL_$_", '') } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 503],
          'portal bucket: third call refused with 503');

$t->finish;
$t->secret_nowhere;

done_testing;
