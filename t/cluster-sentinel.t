#!/usr/bin/perl

# b24trigger_cluster sentinel://: the primary is asked from the Sentinels
# (one that does not answer is skipped), and asked again after every loss
# of the link: after a failover the nodes write to the new primary
# without a reload.  A node a Sentinel names that says (ROLE) it is no
# primary is left; a master name the Sentinels do not know keeps the
# link down; each with the reason in the error log.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use IO::Socket::INET;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;

$t->emulator(args => ['--bucket', 0]);
my $primary = $t->redis;

# a replica, to fail over to

my $rport = $t->held_port;
mkdir "$dir/replica";
$t->{pids}{replica} = $t->spawn('redis-server', '--port', $rport,
    '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', "$dir/replica", '--daemonize', 'no',
    '--logfile', "$dir/replica/redis.log",
    '--replicaof', '127.0.0.1', $primary);
$t->wait_port($rport, 10) or die 'replica did not start';

sub cli {
    my ($port, @args) = @_;
    open my $fh, '-|', 'redis-cli', '-p', $port, @args or die;
    local $/;
    my $out = <$fh>;
    close $fh;
    return defined $out ? $out : '';
}

ok($t->wait_until(sub { cli($rport, 'INFO', 'replication')
                        =~ /master_link_status:up/ }, 20),
   'the replica follows the primary');

my $sport = $t->sentinel('mymaster');
my $dead = $t->held_port;

my $conf = <<"EOF";
    b24trigger_cluster sentinel://127.0.0.1:$dead,127.0.0.1:$sport/mymaster
                       prefix=s: timeout=500ms;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m ttl=10m;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_dedup events \$http_x_event_id;

        location /sync { b24trigger_pass main; }
        location = /status { b24trigger_status; }
    }
EOF

my $name = "sentinel://127.0.0.1:$dead,127.0.0.1:$sport/mymaster";

$t->nginx($conf, workers => 2);

sub up {
    return (($t->request('GET', '/status')->{json} || {})->{cluster_up}
            || {})->{$name};
}

ok($t->wait_until(\&up, 10), 'link up through the second Sentinel');

my $r = $t->post('/sync?id=1', '{}', 'X-Event-Id' => 'evt_s1');
is($r->{json}{result}, 'forwarded', 'forwarded');

like(cli($primary, 'GET', 's:events:evt_s1'), qr/^d$/m,
     'the key is on the primary');

$r = $t->post_settled('/sync?id=1', '{}', 'X-Event-Id' => 'evt_s1');
is($r->{json}{result}, 'duplicate', 'duplicate');

# failover: the Sentinel promotes the replica and drops our connections
# to the old primary; the nodes ask again and follow

like(cli($sport, 'SENTINEL', 'FAILOVER', 'mymaster'), qr/OK/,
     'failover asked');

ok($t->wait_until(sub {
       cli($sport, 'SENTINEL', 'get-master-addr-by-name', 'mymaster')
           =~ /^$rport$/m }, 30),
   'the Sentinel names the replica');

my $moved = $t->wait_until(sub {
    my $id = 'evt_f' . int(rand(1e9));
    my $x = $t->post('/sync?id=2', '{}', 'X-Event-Id' => $id);
    return ($x->{json}{result} || '') eq 'forwarded'
           && cli($rport, 'GET', "s:events:$id") =~ /^d$/m;
}, 30);

ok($moved, 'after the failover the keys go to the new primary');

# a Sentinel out of date: it names the old primary, a replica now

ok($t->wait_until(sub { cli($primary, 'ROLE') =~ /^slave$/m }, 30),
   'the old primary is a replica now');

my $fake = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
                                 LocalPort => 0, ReuseAddr => 1)
    or die "listen: $!";
my $fport = $fake->sockport;

my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    while (my $c = $fake->accept) {
        my $buf = '';
        sysread($c, $buf, 4096);
        syswrite($c, "*2\r\n\$9\r\n127.0.0.1\r\n\$" . length($primary)
                     . "\r\n$primary\r\n");
        sleep 0.2;
        close $c;
    }
    exit 0;
}

close $fake;
$t->{pids}{fake} = $pid;

$t->reload(<<"EOF");
    b24trigger_cluster sentinel://127.0.0.1:$fport/mymaster timeout=500ms;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m ttl=10m;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_dedup events \$http_x_event_id;

        location /sync { b24trigger_pass main; }
    }
EOF

ok($t->wait_log(qr/is down \(127\.0\.0\.1:$primary, named by the sentinels, is not the primary \(ROLE slave\)\)/, 10),
   'a replica named as primary: left, and said');

$r = $t->post('/sync?id=4', '{}', 'X-Event-Id' => 'evt_s4');
is($r->{json}{result}, 'forwarded', 'a replica named: forwarded, node-local');

is(cli($primary, 'EXISTS', 's:events:evt_s4'), "0\n",
   'nothing written to the replica');

# a master the Sentinels do not know

$t->reload(<<"EOF");
    b24trigger_cluster sentinel://127.0.0.1:$sport/nosuch timeout=500ms;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m ttl=10m;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_dedup events \$http_x_event_id;

        location /sync { b24trigger_pass main; }
    }
EOF

ok($t->wait_log(qr/cluster link to "sentinel:\/\/127.0.0.1:$sport\/nosuch" is down \(sentinel 127.0.0.1:$sport does not know master "nosuch"\)/, 10),
   'unknown master: said');

$r = $t->post('/sync?id=3', '{}', 'X-Event-Id' => 'evt_s3');
is($r->{json}{result}, 'forwarded', 'unknown master: forwarded, node-local');

$t->finish;

done_testing();
