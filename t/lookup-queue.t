#!/usr/bin/perl

# b24trigger_lookup in queue mode: the event is queued with what to look
# up (202 at once, nothing asked yet) and the target is found when it is
# delivered.  Found: the deal is triggered.  Not found: tried again with
# the queue's backoff, and found once the CRM has it; still not found
# after attempts=: a dead letter with reason target_not_found.  Several:
# a dead letter target_ambiguous at once, never a guess.  The portal's
# 5xx on the lookup is retried like a failed call.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $spool = $t->dir . '/spool';
my $key = B24T::random_secret(24);
chmod 0711, $t->dir;

$t->emulator;
$t->emu_crm(items => [
    { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => 'A-1001' },
    { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => 'A-2002' },
    { entityTypeId => 2, id => 59, UF_CRM_ORDER_ID => 'A-2002' },
]);

sub conf {
    my ($zone, $backoff) = @_;
    return <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_queue $spool backoff=$backoff backoff_max=$backoff;
    b24trigger_lookup_zone $zone:1m;

    b24trigger_field \$order_id OrderId;

    server {
        listen %%LISTEN%%;

        location = /deal {
            b24trigger_pass     main;
            b24trigger_verify   hmac header=X-Sig;
            b24trigger_secret   $key;
            b24trigger_delivery queue;
            b24trigger_lookup   deal UF_CRM_ORDER_ID \$order_id zone=$zone
                                attempts=3;
            b24trigger_code     paid;
        }
    }
EOF
}

$t->nginx(conf('orders', '300ms'));

my @json = ('Content-Type' => 'application/json');

sub hook {
    my ($body) = @_;
    return $t->post('/deal', $body, @json,
                    'X-Sig' => hmac_sha256_hex($body, $key));
}

sub triggered {
    my ($target) = @_;
    return scalar grep { ($_->{target} || '') eq $target
                         && ($_->{status} || 0) == 200 }
                  @{ $t->calls_of('crm.automation.trigger') };
}

sub asked {
    my ($order) = @_;
    return scalar grep {
        ($_->{params}{filter}{'=UF_CRM_ORDER_ID'} || '') eq $order
    } @{ $t->calls_of('crm.item.list') };
}

sub dead_letter {
    my ($id) = @_;
    my $file = "$spool/dead/$id.json";
    $t->wait_until(sub { -f $file }, 15) or return undef;
    return eval { $B24T::JSON->decode($t->slurp($file)) };
}

# found

my $r = hook('{"OrderId":"A-1001"}');
is($r->{status}, 202, 'queued: 202');

ok($t->wait_until(sub { triggered('DEAL_57') }, 10), 'DEAL_57 triggered');
is($t->calls_of('crm.automation.trigger')->[0]{code}, 'paid', 'code paid');
is(asked('A-1001'), 1, 'looked up once');

# not found, then the CRM has it: found on a later attempt

$r = hook('{"OrderId":"A-3003"}');
is($r->{status}, 202, 'an order not in the CRM yet: 202');

ok($t->wait_until(sub { asked('A-3003') >= 1 }, 10), 'looked up');
ok($t->wait_log(qr/\[warn\] .*queued event "[^"]+" for portal "main" target "\(lookup DEAL UF_CRM_ORDER_ID\)" failed \(attempt 1\): target_not_found 0 no DEAL with UF_CRM_ORDER_ID=A-3003; next attempt in \d+ ms/, 10),
   'the error log: not found, tried again later');

$t->emu_crm(items => [
    { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => 'A-1001' },
    { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => 'A-2002' },
    { entityTypeId => 2, id => 59, UF_CRM_ORDER_ID => 'A-2002' },
    { entityTypeId => 2, id => 60, UF_CRM_ORDER_ID => 'A-3003' },
]);

ok($t->wait_until(sub { triggered('DEAL_60') }, 10),
   'found on a later attempt: DEAL_60 triggered');
is(asked('A-3003'), 2, 'asked twice');

# never found: attempts=3 lookups, then a dead letter

$r = hook('{"OrderId":"A-4004"}');
my $id = $r->{json}{id};
my $dead = dead_letter($id);
ok($dead, 'never found: a dead letter');
is($dead->{dead}{reason}, 'target_not_found', 'reason target_not_found');
is($dead->{attempts}, 3, 'after 3 attempts');
is($dead->{last_error}{outcome}, 'target_not_found',
   'last error target_not_found');
is($dead->{lookup}{value}, 'A-4004', 'the lookup is in the letter');
is(asked('A-4004'), 3, 'asked 3 times');
like($t->error_log,
     qr/\[error\] .*queued event "\Q$id\E" for portal "main" target "\(lookup DEAL UF_CRM_ORDER_ID\)" moved to dead letters after 3 attempts: target_not_found/,
     'the error log says why');

# several: a dead letter at once

$r = hook('{"OrderId":"A-2002"}');
$id = $r->{json}{id};
$dead = dead_letter($id);
ok($dead, 'two deals: a dead letter');
is($dead->{dead}{reason}, 'target_ambiguous', 'reason target_ambiguous');
is($dead->{attempts}, 1, 'after 1 attempt');
is(triggered('DEAL_58') + triggered('DEAL_59'), 0, 'neither deal triggered');

# the portal fails the lookup: retried like a failed call

$t->emu_config(faults => [ { mode => 'http500' } ]);
$t->emu_crm(items => [
    { entityTypeId => 2, id => 61, UF_CRM_ORDER_ID => 'A-5005' },
]);

$r = hook('{"OrderId":"A-5005"}');
is($r->{status}, 202, 'the portal failing: 202');
ok($t->wait_until(sub { triggered('DEAL_61') }, 10),
   'after a 500 on the lookup: DEAL_61 triggered');
is(asked('A-5005'), 2, 'the lookup asked twice');

is(scalar grep({ ($_->{error} || '') eq 'QUERY_LIMIT_EXCEEDED' }
               @{ $t->calls }), 0, 'never QUERY_LIMIT_EXCEEDED');

# an event queued with zone "orders", delivered after a reload that
# renamed the zone: looked up without one, and delivered

$t->reload(conf('orders', '2s'));
$t->emu_config(faults => [ { mode => 'http500' } ]);
$t->emu_crm(items => [
    { entityTypeId => 2, id => 62, UF_CRM_ORDER_ID => 'A-6006' },
]);

$r = hook('{"OrderId":"A-6006"}');
is($r->{status}, 202, 'before the reload: 202');
ok($t->wait_until(sub { asked('A-6006') >= 1 }, 10), 'looked up once');

$t->reload(conf('renamed', '2s'));

ok($t->wait_until(sub { triggered('DEAL_62') }, 15),
   'after the reload, the zone gone: DEAL_62 triggered');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'the hmac key nowhere', $key);

done_testing;
