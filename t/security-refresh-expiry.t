#!/usr/bin/perl

# Refreshes (second attacker review): SECURITY.md promises that a token pair is refreshed
# at most once per lifetime "whatever expires_in says", and that a
# malicious token server cannot make the module refresh in a loop.  Here
# the token server (a proxy of the test's own in front of the emulator's)
# hands out pairs that live an hour at the portal, but says they expire
# at once: expires_in 0, negative, so large that now + expires_in
# overflows, or an "expires" in the past.  Each refresh carries
# client_secret.  The safe outcome: a steady trickle of webhooks (12, a
# quarter of a second apart) makes at most 2 refreshes, not one per
# webhook.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);
use B24T;

sub read_request {
    my ($c) = @_;
    my $got = '';
    my $sel = IO::Select->new($c);
    while ($sel->can_read(5)) {
        last unless sysread($c, $got, 65536, length $got);
        my $end = index($got, "\r\n\r\n");
        if ($end >= 0) {
            my ($len) = $got =~ /Content-Length:\s*(\d+)/i;
            last if length($got) - $end - 4 >= ($len || 0);
        }
    }
    return $got;
}

sub run_case {
    my ($name, $lie) = @_;

    my $t = B24T->new;
    my $dir = $t->dir;
    my $csecret = B24T::random_secret(32);

    chmod 0711, $dir;
    mkdir "$dir/oauth";
    chmod 0777, "$dir/oauth";

    $t->emulator(args => ['--oauth-app', "app.test:$csecret",
                          '--member-id', 'member1']);

    my ($ehost, $eport) = split /:/, $t->emu;

    # the lying token server: the emulator's answer, its expiry rewritten

    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "listen: $!";
    my $lport = $l->sockport;

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        while (my $c = $l->accept) {
            my $req = read_request($c);
            my $e = IO::Socket::INET->new(PeerAddr => $ehost,
                                          PeerPort => $eport)
                or exit 1;
            $req =~ s/\r\nConnection:[^\r]*//i;
            $req =~ s/\r\n\r\n/\r\nConnection: close\r\n\r\n/;
            print $e $req;
            my $ans = '';
            while (sysread($e, $ans, 65536, length $ans)) { }
            close $e;

            my ($head, $body) = split /\r\n\r\n/, $ans, 2;
            my $j = eval { JSON::PP->new->decode($body) };

            if ($j && $j->{access_token}) {
                $lie->($j);
                $body = JSON::PP->new->encode($j);
            }

            print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     . "Content-Length: " . length($body)
                     . "\r\nConnection: close\r\n\r\n$body";
            close $c;
        }
        exit 0;
    }

    close $l;

    my $pair = $t->emu_request('POST', '/_emu/oauth/issue', {});

    # a pair that is due for a refresh: the first webhook refreshes it

    open my $fh, '>', "$dir/oauth/state.json" or die $!;
    print $fh $B24T::JSON->encode({
        access_token => $pair->{access_token},
        refresh_token => $pair->{refresh_token},
        expires => time + 30, member_id => 'member1',
        domain => $t->emu });
    close $fh;
    chmod 0600, "$dir/oauth/state.json";

    $t->nginx(<<"EOF");
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=$dir/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://127.0.0.1:$lport/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

    my ($sent, $ok) = (0, 0);

    for (1 .. 12) {
        my $r = $t->post('/hook?id=' . ++$sent, '');
        $ok++ if ($r->{status} || 0) == 200;
        sleep 0.25;
    }

    my $refreshes = $t->emu_request('GET', '/_emu/oauth')->{refreshes};

    cmp_ok($refreshes, '<=', 2,
           "$name: $refreshes refreshes for $sent webhooks, at most 2");
    note("$name: $ok of $sent forwarded");

    $t->finish;
    kill 'TERM', $pid;
    waitpid($pid, 0);

    $t->secret_nowhere("$name: no client secret in replies or logs",
                       $csecret);
}

run_case('expires_in 0', sub { delete $_[0]{expires}; $_[0]{expires_in} = 0 });

run_case('expires_in -100',
         sub { delete $_[0]{expires}; $_[0]{expires_in} = -100 });

run_case('expires_in that overflows',
         sub { delete $_[0]{expires};
               $_[0]{expires_in} = 9223372036854775807 });

run_case('expires in the past', sub { $_[0]{expires} = 1 });

done_testing;
