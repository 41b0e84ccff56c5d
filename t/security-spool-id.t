#!/usr/bin/perl

# Issue 13, finding 7: a queued event's "id" was used in the names of its
# dead letter and its retries: an event file (put or edited by hand, or
# replayed from elsewhere) with "id":"../escaped" had its dead letter
# written outside dead/.  An id is now checked before any use: letters,
# digits, ".", "_" and "-", not starting with "." and without "..", at
# most 128 bytes; an event with another id is not delivered and goes to
# dead/ under its own file name, with a line in the error log.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use B24T;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
chmod 0711, $t->dir;

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue $spool backoff=200ms;

    server {
        listen %%LISTEN%%;

        location /main {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target \$arg_target;
            b24trigger_delivery queue;
        }
    }
EOF

sub targets {
    return map { ref $_->{target} ? $_->{target}[0] : $_->{target} || '' }
           @{ $t->calls };
}

sub event {
    my ($file, %ev) = @_;
    my $now = int(time * 1000);
    my $text = $B24T::JSON->encode({ received => $now, attempts => 0,
                                     code => 'x', %ev });
    open my $fh, '>', "$spool/tmp/$file" or die $!;
    print $fh $text;
    close $fh;
    chmod 0644, "$spool/tmp/$file";
    rename "$spool/tmp/$file", "$spool/queue/$file" or die $!;
}

# a portal no longer configured: its dead letter is named after the id

event('0000000000001-a.json', id => '../escaped', portal => 'gone',
      target => 'DEAL_1');

# a portal that takes it: it must not be delivered either

event('0000000000002-b.json', id => 'x/../../escaped2', portal => 'main',
      target => 'DEAL_2');

event('0000000000003-c.json', id => '..', portal => 'gone',
      target => 'DEAL_3');

my @files = qw(0000000000001-a.json 0000000000002-b.json
               0000000000003-c.json);

ok($t->wait_until(sub { 3 == grep { -f "$spool/dead/$_" } @files }, 10),
   'all three in dead/ under their own names');

ok(!-e "$spool/escaped.json" && !-e $t->dir . '/escaped.json',
   'nothing written outside dead/');
ok(!grep({ /escaped/ } B24T->files("$spool/dead")),
   'no dead letter named after the id');
is(scalar(grep { $_ eq 'DEAL_2' } targets()), 0,
   'the event with an invalid id was not delivered');

like($t->error_log,
     qr/\[error\].*queued event "[^"]*0000000000001-a\.json" has an invalid id, moved to "[^"]*dead\/0000000000001-a\.json"/,
     'said so');

# a good event still goes through

my $r = $t->post('/main?target=DEAL_9', '');
is($r->{status}, 202, 'a webhook queued');
ok($t->wait_until(sub { grep { $_ eq 'DEAL_9' } targets() }, 10),
   'and delivered');

$t->finish;
$t->secret_nowhere;

done_testing;
