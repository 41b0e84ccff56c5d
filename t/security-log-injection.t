#!/usr/bin/perl

# The attack of issue 13, finding 6: values that come from a sender or a
# portal (a dedup key, a code taken from a body field, a target, a header
# value, the portal's error_description) were written to the error log
# raw: a "\n" in a field wrote a forged [emerg] line, an ESC byte reached
# the operator's terminal.  Every such value is now escaped as nginx
# escapes $request in the access log (\xHH for bytes below 0x20, from
# 0x7f, '"' and '\') and bounded (256 bytes, then "...").

use strict;
use warnings;

use Test::More;
use B24T;

# the escaped payload contains "[emerg]", inside an [info] or [error] line
my $t = B24T->new(allow_alerts => qr/forged/);

chmod 0711, $t->dir;

$t->emulator(args => ['--deny', 'DEAL_13']);

$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue %%TESTDIR%%/spool backoff=100ms;
    b24trigger_dedup_zone events:1m;

    b24trigger_field $f_key key;
    b24trigger_field $f_code code;
    b24trigger_field $f_deal deal;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$f_deal;
        b24trigger_code $f_code;

        location /hook {
            b24trigger_pass main;
            b24trigger_dedup events $f_key;
        }

        location /queue {
            b24trigger_pass main;
            b24trigger_delivery queue;
        }
    }
EOF

my $forge = "\n2026/01/01 00:00:00 [emerg] 1#1: forged";
my $key = "k1$forge key \x1b[31m\"q\\";
my $code = "c1$forge code \x1b[2J\"";
my $desc = "Access denied.$forge description \x1b[0m\"";
my $target = "5$forge target";

sub escaped {
    my ($s) = @_;
    $s =~ s/([\x00-\x1f\x7f-\xff"\\])/sprintf('\\x%02X', ord $1)/ge;
    return $s;
}

sub body { $B24T::JSON->encode({ @_ }) }

my @json = ('Content-Type' => 'application/json');

# 1. a dedup key: logged when a duplicate comes

my $r = $t->post('/hook', body(deal => '5', key => $key, code => 'ok'),
                 @json);
is($r->{status}, 200, 'key: forwarded');

$r = $t->post('/hook', body(deal => '5', key => $key, code => 'ok'), @json);
is($r->{json}{result}, 'duplicate', 'key: the duplicate');

ok(index($t->error_log, 'duplicate of "' . escaped($key)
                        . '" not forwarded') >= 0,
   'key: logged escaped');

# 2. a code from a body field, and the portal's error_description

$t->emu_config(faults => [{ mode => 'access_denied',
                            error_description => $desc }]);

$r = $t->post('/hook', body(deal => '7', key => 'k2', code => $code), @json);
is($r->{status}, 502, 'code and description: the portal refused');

my $log = $t->error_log;
ok(index($log, 'code "' . escaped($code) . '"') >= 0, 'code: logged escaped');
ok(index($log, '"' . escaped($desc) . '"') >= 0,
   'error_description: logged escaped');

# 3. the same through the queue: the dead letter's line

$t->emu_config(faults => [{ mode => 'access_denied',
                            error_description => $desc }]);

$r = $t->post('/queue', body(deal => '8', code => $code), @json);
is($r->{status}, 202, 'queued');
ok($t->wait_log(qr/moved to dead letters/, 10), 'dead letter written');
ok(index($t->error_log, '"ACCESS_DENIED" "' . escaped($desc) . '"') >= 0,
   'dead letter: error_description logged escaped');

# 4. a header value: the content type

$r = $t->post('/hook', 'x=1', 'Content-Type' => "text/plain\x1b[2J\"x");
is($r->{status}, 415, 'content type: 415');
ok(index($t->error_log, 'body of content type "text/plain\x1B[2J\x22x"')
   >= 0, 'content type: logged escaped');

# 5. a target that is not one

$r = $t->post('/hook', body(deal => $target, key => 'k5', code => 'ok'),
              @json);
is($r->{status}, 422, 'target: 422');
ok(index($t->error_log, 'invalid target "DEAL_' . escaped($target) . '"')
   >= 0, 'target: logged escaped');

# what the module writes: nginx's own debug lines "http script var" and
# "http header" print a variable's value and a header raw (at debug level
# only); they are nginx's, not the module's, and left out here

sub ours {
    my $log = $t->error_log;
    $log =~ s/ http (script var|header): ".*?(?=\n(?!2026\/01\/01 00:00:00)\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[)/ http $1: (nginx's)/sg;
    return $log;
}

# 6. bounded: 256 bytes of a long code, then "..."

my $long = 'x' x 1000;

$t->emu_config(faults => [{ mode => 'access_denied' }]);
$r = $t->post('/hook', body(deal => '9', key => 'k9', code => $long), @json);
is($r->{status}, 502, 'a long code: the portal refused');

like(ours(), qr/code "x{256}\.\.\." from location/,
     'a long code: 256 bytes and "..."');
unlike(ours(), qr/x{257}/, 'a long code: never more');

# nothing forged, no raw escape byte, at any level

$log = ours();

like($log, qr/\[debug\].* b24trigger dedup: "k1\\x0A2026/,
     'debug lines escaped too');
unlike($log, qr/^2026\/01\/01 00:00:00 \[emerg\]/m, 'no forged line');
ok($log !~ /\x1b/, 'no ESC byte in the error log');

$t->finish;
$t->secret_nowhere;

done_testing;
