#!/usr/bin/perl

# b24trigger_cluster at load: nginx -t accepts the URLs and parameters
# doc/directives.md shows and refuses the rest with a message that says
# what is wrong, never the password (from the URL or from password=file:).
# No Redis is needed to check a configuration.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;

my $pw = 'pw' . B24T::random_secret(20);
my $pwfile = "$dir/redis.pw";
open my $fh, '>', $pwfile or die;
print $fh "$pw\n";
close $fh;
chmod 0600, $pwfile;

sub conf {
    my ($cluster) = @_;
    return <<"EOF";
    $cluster
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m;
    server {
        listen %%LISTEN%%;
        location /h {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_dedup events \$http_x_event_id;
        }
    }
EOF
}

sub conf_ok {
    my ($cluster) = @_;
    my ($rc, $out) = $t->nginx_test(conf($cluster));
    is($rc, 0, "accepted: $cluster") or diag($out);
    ok(index($out, $pw) < 0, "no password printed: $cluster");
}

sub conf_fails {
    my ($cluster, $re) = @_;
    my ($rc, $out) = $t->nginx_test(conf($cluster));
    isnt($rc, 0, "refused: $cluster");
    like($out, $re, "message: $cluster") or diag($out);
    ok(index($out, $pw) < 0, "no password printed: $cluster");
}

conf_ok('');
conf_ok('b24trigger_cluster redis://127.0.0.1:6379;');
conf_ok('b24trigger_cluster redis://127.0.0.1;');
conf_ok('b24trigger_cluster redis://localhost:6380/15 prefix=app1: '
        . 'timeout=250ms replicas=1;');
conf_ok("b24trigger_cluster redis://[::1]:6379/2 password=file:$pwfile;");
conf_ok("b24trigger_cluster redis://:$pw\@127.0.0.1:6379/0;");
conf_ok("b24trigger_cluster redis://app:$pw\@127.0.0.1:6379/0;");
conf_ok('b24trigger_cluster sentinel://127.0.0.1:26379,127.0.0.1:26380,'
        . "127.0.0.1/mymaster password=file:$pwfile;");

my $e = qr/\[emerg\].*invalid b24trigger_cluster URL/;

conf_fails('b24trigger_cluster http://127.0.0.1:6379;',
    qr/$e "http:\/\/": the scheme is neither redis:\/\/ nor sentinel:\/\//);
conf_fails("b24trigger_cluster rediss://:$pw\@127.0.0.1:6379;",
    qr/$e "rediss:\/\/": the scheme/);
conf_fails("b24trigger_cluster $pw;", qr/$e "\.\.\.": the scheme/);
conf_fails('b24trigger_cluster redis://;',
    qr/$e "redis:\/\/": a host is missing/);
conf_fails('b24trigger_cluster redis://127.0.0.1:6379/;',
    qr/$e .*the database number after "\/" is missing/);
conf_fails('b24trigger_cluster redis://127.0.0.1:6379/zero;',
    qr/$e "redis:\/\/127.0.0.1:6379\/zero": the database is not a number/);
conf_fails('b24trigger_cluster redis://127.0.0.1:99999;',
    qr/$e .*a host is invalid or does not resolve/);
conf_fails('b24trigger_cluster redis://no-such-host.invalid:6379;',
    qr/$e .*a host is invalid or does not resolve/);
conf_fails('b24trigger_cluster redis://127.0.0.1:6379,127.0.0.2:6379;',
    qr/$e .*redis:\/\/ takes one host/);
conf_fails('b24trigger_cluster sentinel://127.0.0.1:26379;',
    qr/$e .*sentinel:\/\/ needs the master's name after "\/"/);
conf_fails('b24trigger_cluster sentinel://127.0.0.1:26379,/m;',
    qr/$e .*a host is missing/);
conf_fails("b24trigger_cluster redis://:$pw\@127.0.0.1:6379/x;",
    qr/$e "redis:\/\/127.0.0.1:6379\/x": the database/);
conf_fails("b24trigger_cluster redis://$pw\@127.0.0.1:6379;",
    qr/$e "redis:\/\/127.0.0.1:6379": the userinfo has no ":"/);
conf_fails('b24trigger_cluster redis://:@127.0.0.1:6379;',
    qr/$e .*the password is empty/);
conf_fails("b24trigger_cluster redis://:$pw\@127.0.0.1 password=file:$pwfile;",
    qr/\[emerg\].*the password is given twice/);
conf_fails("b24trigger_cluster redis://127.0.0.1 password=file:$dir/none;",
    qr/\[emerg\].*b24trigger_cluster password/);
conf_fails('b24trigger_cluster redis://127.0.0.1 timeout=0;',
    qr/\[emerg\].*invalid parameter "timeout=0"/);
conf_fails('b24trigger_cluster redis://127.0.0.1 replicas=many;',
    qr/\[emerg\].*invalid parameter "replicas=many"/);
conf_fails('b24trigger_cluster redis://127.0.0.1 prefix=;',
    qr/\[emerg\].*invalid parameter "prefix="/);
conf_fails('b24trigger_cluster redis://127.0.0.1 tls=on;',
    qr/\[emerg\].*invalid parameter "tls=on"/);
conf_fails("b24trigger_cluster redis://127.0.0.1;\n"
           . "b24trigger_cluster redis://127.0.0.1;",
    qr/\[emerg\].*"b24trigger_cluster" directive is duplicate/);

# a dedup zone may not be named "bucket": in Redis its keys would be the
# portals' buckets' ("PREFIXbucket:main")

my ($rc_b, $out_b) = $t->nginx_test(<<'EOF');
    b24trigger_cluster redis://127.0.0.1;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone bucket:1m;
    server { listen %%LISTEN%%; }
EOF
isnt($rc_b, 0, 'a dedup zone named "bucket": refused');
like($out_b, qr/\[emerg\].*zone name "bucket" is reserved for the portals' buckets/,
     'a dedup zone named "bucket": message');

# bucket=: cluster needs a cluster

my ($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ bucket=cluster;
    server { listen %%LISTEN%%; }
EOF
isnt($rc, 0, 'bucket=cluster without a cluster: refused');
like($out, qr/\[emerg\].*"bucket=cluster" of portal "main" needs "b24trigger_cluster"/,
     'bucket=cluster without a cluster: message');

($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ bucket=shared;
    server { listen %%LISTEN%%; }
EOF
like($out, qr/\[emerg\].*invalid parameter "bucket=shared" of portal "main"/,
     'bucket=shared: refused');

for my $mode (qw(cluster node)) {
    ($rc, $out) = $t->nginx_test(<<"EOF");
    b24trigger_cluster redis://127.0.0.1;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ bucket=$mode;
    server { listen %%LISTEN%%; }
EOF
    is($rc, 0, "bucket=$mode with a cluster: accepted") or diag($out);
}

($rc, $out) = $t->nginx_test(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ bucket=node;
    server { listen %%LISTEN%%; }
EOF
is($rc, 0, 'bucket=node without a cluster: accepted') or diag($out);

($rc, $out) = $t->nginx_test(<<'EOF');
    server {
        listen %%LISTEN%%;
        b24trigger_cluster redis://127.0.0.1;
    }
EOF
like($out, qr/\[emerg\].*"b24trigger_cluster" directive is not allowed here/,
     'http level only');

$t->check_logs;

done_testing();
