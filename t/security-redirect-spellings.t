#!/usr/bin/perl

# Review 2, redirects: a portal (here a small one of the test's own on
# 127.0.0.1, so that it can answer any status and any Location) redirects
# the call that carries the webhook's secret in its path.  Every spelling
# of another host must leave the collector on 127.0.0.2 with nothing: a
# scheme-relative URL, backslashes, userinfo in its spellings, "%40" and
# "%2F", IPv4 in hex, octal, one number and short forms, IPv4-mapped IPv6,
# a final dot, upper case, a zone id, the statuses 301, 303, 307, 308, and
# a second redirect after one on the portal's own host.  The safe outcome:
# nothing reaches 127.0.0.2 (a redirect on the portal's own host may be
# followed: that is the rule).  A tab in a case's Location separates two
# Location headers in the answer.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $secret = $t->secret;

sub listener {
    my ($addr) = @_;
    return IO::Socket::INET->new(Listen => 16, LocalAddr => $addr,
                                 LocalPort => 0, ReuseAddr => 1);
}

my $collector = listener('127.0.0.2')
    or plan(skip_all => "no listener on 127.0.0.2: $!");
my $cport = $collector->sockport;

my $portal = listener('127.0.0.1') or die "listen: $!";
my $pport = $portal->sockport;

sub read_request {
    my ($c) = @_;
    my $got = '';
    my $sel = IO::Select->new($c);
    while ($sel->can_read(2)) {
        last unless sysread($c, $got, 65536, length $got);
        if ($got =~ /\r\n\r\n/) {
            my ($len) = $got =~ /Content-Length:\s*(\d+)/i;
            last if length($got) - index($got, "\r\n\r\n") - 4 >= ($len || 0);
        }
    }
    return $got;
}

sub note_down {
    my ($file, $text) = @_;
    open my $fh, '>>', $file or die;
    print $fh $text;
    close $fh;
}

my @kids;

# the collector: whatever reaches 127.0.0.2

my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    close $portal;
    while (my $c = $collector->accept) {
        note_down("$dir/collected", "connection: " . read_request($c) . "\n");
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 . "Content-Length: 15\r\nConnection: close\r\n\r\n"
                 . '{"result":true}';
        close $c;
    }
    exit 0;
}

push @kids, $pid;

# the portal: the call of the case is answered as the file "case" says;
# "/hop" answers with the second redirect; anything else 200

$pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    close $collector;
    while (my $c = $portal->accept) {
        my $got = read_request($c);
        my ($path) = $got =~ /^\S+ (\S+)/;
        $path = '' unless defined $path;
        note_down("$dir/portal", "$path\n");

        my ($status, $location);

        if ($path =~ m{^/rest/1/}) {
            ($status, $location) = split /\n/, $t->slurp("$dir/case");

        } elsif ($path =~ m{^/hop}) {
            ($status, $location) = (302, "http://127.0.0.2:$cport$path");
        }

        if ($status) {
            my @loc = split /\t/, $location;
            print $c "HTTP/1.1 $status Moved\r\n"
                     . join('', map { "Location: $_\r\n" } @loc)
                     . "Content-Length: 0\r\nConnection: close\r\n\r\n";
        } else {
            print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     . "Content-Length: 15\r\nConnection: close\r\n\r\n"
                     . '{"result":true}';
        }

        close $c;
    }
    exit 0;
}

push @kids, $pid;

close $collector;
close $portal;

END { kill 'TERM', @kids if @kids; }

$t->nginx(<<"EOF");
    b24trigger_portal hook http://127.0.0.1:$pport/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass hook;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

my $c = "127.0.0.2:$cport";
my $m = "rest/1/$secret/crm.automation.trigger";

my @cases = (
    [ 302, "//$c/$m" ],
    [ 302, "http://$c/$m" ],
    [ 301, "http://$c/$m" ],
    [ 303, "http://$c/$m" ],
    [ 307, "http://$c/$m" ],
    [ 308, "http://$c/$m" ],
    [ 302, "HTTP://$c/$m" ],
    [ 302, "http:\\\\$c\\$m" ],
    [ 302, "http:/\\$c/$m" ],
    [ 302, "/\\$c/$m" ],
    [ 302, "\\\\$c/$m" ],
    [ 302, "http:$c/$m" ],
    [ 302, "http:/$c/$m" ],
    [ 302, "http:///$c/$m" ],
    [ 302, "http://127.0.0.1:$pport\@$c/$m" ],
    [ 302, "http://127.0.0.1:$pport%40$c/$m" ],
    [ 302, "http://$c%2F\@127.0.0.1:$pport/$m" ],
    [ 302, "http://127.0.0.2%2F:$cport/$m" ],
    [ 302, "http://127.0.0.1:$pport\\\@$c/$m" ],
    [ 302, "http://[::ffff:127.0.0.2]:$cport/$m" ],
    [ 302, "http://[::ffff:7f00:2]:$cport/$m" ],
    [ 302, "http://0x7f.0.0.2:$cport/$m" ],
    [ 302, "http://0x7f000002:$cport/$m" ],
    [ 302, "http://2130706434:$cport/$m" ],
    [ 302, "http://0177.0.0.2:$cport/$m" ],
    [ 302, "http://127.2:$cport/$m" ],
    [ 302, "http://127.0.0.2.:$cport/$m" ],
    [ 302, "http://127.0.0.2:0$cport/$m" ],
    [ 302, "http://127.0.0.2:+$cport/$m" ],
    [ 302, "http://127.0.0.1:$pport:$cport/$m" ],
    [ 302, "http://127.0.0.2\t:$cport/$m" ],
    [ 302, " http://$c/$m" ],
    [ 302, "http://$c/$m\t/rest" ],
    [ 302, "/rest/x\thttp://$c/$m" ],
    [ 302, "http://127.0.0.1:$pport/hop/$m" ],
);

my $n = 0;

for my $case (@cases) {
    my ($status, $location) = @$case;
    $n++;

    open my $fh, '>', "$dir/case" or die;
    print $fh "$status\n$location\n";
    close $fh;

    my $r = $t->post("/hook?id=$n", '');
    my $got = $t->slurp("$dir/collected");
    (my $shown = $location) =~ s/\Q$secret\E/SECRET/g;
    $shown =~ s/([\t\\])/sprintf('\\x%02x', ord $1)/ge;

    ok($got eq '', "$status \"$shown\": nothing reached 127.0.0.2")
        or diag("answer $r->{status}; collected: "
                . substr($got, 0, 200));
    note("$status \"$shown\": answered $r->{status}");

    unlink "$dir/collected";
}

$t->finish;
$t->secret_nowhere('no secret in replies or logs');

done_testing;
