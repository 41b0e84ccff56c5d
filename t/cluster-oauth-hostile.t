#!/usr/bin/perl

# An OAuth portal's pair in Redis is input, not trust: whatever another
# program (or someone with write access to Redis) left under the keys
# PREFIX oauth:NAME and PREFIX oauth-lock:NAME never crashes a node,
# never reaches a log, the state file or a call, and never stops the
# nodes refreshing once for all.  For each hostile content, at expiry:
# node 1 refreshes once, replaces it with its pair and says so; node 2
# takes node 1's pair without refreshing its dead one; the state file
# still loads (nginx -t).  A lock without expiry (or of another type, or
# one living far longer than any node's) is replaced, calls do not hang.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use B24T;

my $t = B24T->new;
my $csecret = B24T::random_secret(32);

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);
$t->redis;

my $p0 = $t->emu_request('POST', '/_emu/oauth/issue', { expires_in => 30 });
my @tokens = ($csecret, $p0->{access_token}, $p0->{refresh_token});

my $conf = <<"EOF";
    b24trigger_cluster redis://%%REDIS%% prefix=b: timeout=1s;
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/ timeout=2s;

    server {
        listen %%LISTEN%%;

        location /install { b24trigger_oauth_install app; }

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF

my $n2 = $t->node;
my @nodes = ($t, $n2);

for my $n (@nodes) {
    my $d = $n->dir;
    chmod 0711, $d;
    mkdir "$d/oauth";
    chmod 0777, "$d/oauth";
    open my $fh, '>', "$d/oauth/app.json" or die $!;
    print $fh $B24T::JSON->encode({
        access_token => $p0->{access_token},
        refresh_token => $p0->{refresh_token},
        expires => $p0->{expires}, member_id => 'member1',
        domain => $t->emu });
    close $fh;
    chmod 0600, "$d/oauth/app.json";
    $n->nginx($conf);
}

my $link = "redis://127.0.0.1:$t->{redis_port}";

for my $n (@nodes) {
    ok($n->wait_until(sub {
           my $s = $n->request('GET', '/status')->{json} || {};
           ($s->{cluster_up} || {})->{$link} }, 15),
       'node ' . ($n == $t ? 1 : 2) . ' linked');
}

# a command to Redis in its own protocol: binary-safe arguments
sub resp {
    my (@args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$t->{redis_port}")
        or die "redis: $!";
    my $cmd = '*' . @args . "\r\n";
    $cmd .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print $s $cmd;
    my $line = <$s>;
    close $s;
    return $line;
}

sub oauth { $t->emu_request('GET', '/_emu/oauth') }

sub state_of {
    my ($n) = @_;
    my $s = eval { $B24T::JSON->decode($n->slurp($n->dir
                                                 . '/oauth/app.json')) }
            || {};
    push @tokens, grep { defined && length > 8 }
                  $s->{access_token}, $s->{refresh_token};
    return $s;
}

sub in_redis {
    my ($field) = @_;
    my $v = $t->redis_cli('HGET', 'b:oauth:app', $field);
    $v =~ s/\s+\z//;
    push @tokens, $v if length $v > 8 && $field =~ /token/;
    return $v;
}

my $id = 100;

# what is left in Redis; then, at expiry, node 1 then node 2
sub hostile {
    my ($what, $lines, $setup) = @_;

    $t->redis_cli('DEL', 'b:oauth:app', 'b:oauth-lock:app');
    $setup->();
    $t->emu_request('POST', '/_emu/oauth/expire', {});
    my $before = oauth()->{refreshes};
    my $logged = () = $t->error_log =~ /$lines/g;

    my $r = $t->request('POST', '/hook?id=' . $id++, body => '', timeout => 15);
    is($r->{status}, 200, "$what: node 1 refreshed and forwarded");
    is(oauth()->{refreshes}, $before + 1, "$what: one refresh");

    my $s1 = state_of($t);
    ok($s1->{refresh_token} && $s1->{member_id} eq 'member1'
       && $s1->{access_token} =~ /\A[0-9a-f]+\z/,
       "$what: node 1's state file holds a pair of the emulator's");
    is(in_redis('refresh_token'), $s1->{refresh_token},
       "$what: replaced in Redis by node 1's pair");
    my $now = () = $t->error_log =~ /$lines/g;
    ok($now > $logged, "$what: node 1 said so");

    $r = $n2->request('POST', '/hook?id=' . $id++, body => '', timeout => 15);
    is($r->{status}, 200, "$what: node 2 forwarded");
    is(oauth()->{refreshes}, $before + 1,
       "$what: node 2 took node 1's pair, no dead refresh token sent");

    my ($rc, $out) = $t->nginx_test($conf);
    is($rc, 0, "$what: node 1's state file still loads (nginx -t)")
        or diag($out);
}

my $pair_line = qr/\[warn\] .*redis held no valid token pair of portal "app" \([^)]+\), replaced by this node's/;
my $lock_line = qr/\[warn\] .*redis held a lock of the refresh of portal "app" that no node holds \([^)]+\), replaced/;

my $later = $p0->{expires} + 7200;
my @good = ('refresh_token', 'r' x 32, 'lifetime', 3600,
            'member_id', 'member1');

###############################################################################
# the pair: numbers that are no numbers to nginx, though they are to Lua

for my $exp ('99999999999999999999', '1e999', '0x7fffffff', ' 1', '-1') {
    hostile("expires \"$exp\"", $pair_line, sub {
        resp('HSET', 'b:oauth:app', 'access_token', 'a' x 32, @good,
             'expires', $exp);
    });
}

hostile('lifetime "-5"', $pair_line, sub {
    resp('HSET', 'b:oauth:app', 'access_token', 'a' x 32, @good,
         'expires', $later, 'lifetime', '-5');
});

# an expiry far beyond any token's life

hostile('expires in the year 2286', $pair_line, sub {
    resp('HSET', 'b:oauth:app', 'access_token', 'a' x 32, @good,
         'expires', 9999999999);
});

# bytes a token never has

for my $tok ("aaaa\0bbbbbbbbbbbb", "aaaa\r\nX-Evil: 1", "aaaa\xff\xfebbbb",
             'aaaa bbbb') {
    (my $show = $tok) =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
    hostile("access token \"$show\"", $pair_line, sub {
        resp('HSET', 'b:oauth:app', 'access_token', $tok, @good,
             'expires', $later);
    });
}

hostile('refresh token with a NUL', $pair_line, sub {
    resp('HSET', 'b:oauth:app', 'access_token', 'a' x 32, @good,
         'expires', $later, 'refresh_token', "r\0" x 16);
});

# huge fields

hostile('a 1 MB access token', $pair_line, sub {
    resp('HSET', 'b:oauth:app', 'access_token', 'a' x 1_000_000, @good,
         'expires', $later);
});

# another portal's pair, live at the token server: never taken

hostile('member_id of another portal', $pair_line, sub {
    my $p = $t->emu_request('POST', '/_emu/oauth/issue', {});
    push @tokens, $p->{access_token}, $p->{refresh_token};
    resp('HSET', 'b:oauth:app', 'access_token', $p->{access_token},
         'refresh_token', $p->{refresh_token}, 'lifetime', 3600,
         'expires', $later, 'member_id', 'member2');
});

# the key of another type

hostile('the pair key a string', $pair_line, sub {
    resp('SET', 'b:oauth:app', 'x' x 40);
});

hostile('the pair key a list', $pair_line, sub {
    resp('RPUSH', 'b:oauth:app', 'access_token', 'a' x 32);
});

###############################################################################
# the lock: one without expiry, of another type, or of days

hostile('a lock without expiry', $lock_line, sub {
    resp('SET', 'b:oauth-lock:app', '0123456789abcdef');
});

hostile('a lock of another type', $lock_line, sub {
    resp('RPUSH', 'b:oauth-lock:app', 'x');
});

hostile('a lock of a week', $lock_line, sub {
    resp('SET', 'b:oauth-lock:app', '0123456789abcdef', 'PX', 604800000);
});

###############################################################################
# nothing of it anywhere

in_redis('access_token');

for my $n (@nodes) {
    $n->finish;
    $n->secret_nowhere('node ' . ($n == $t ? 1 : 2)
                       . ': no token or client secret in replies or logs',
                       @tokens);
}

done_testing;
