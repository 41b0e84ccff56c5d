#!/usr/bin/perl

# The attack of issue 13, finding 4: the OAuth state file holds the token
# pair.  A local user who can write to its directory plants a symlink at
# the temporary name the refresh writes, or at the state file itself,
# pointing to a file of their own: the tokens must not land there, the
# file pointed to stays as it was, and the state file is a regular file of
# mode 0600 after every refresh (an operator's "chmod 600" is kept).

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $csecret = B24T::random_secret(32);

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);

my $first = $t->emu_request('POST', '/_emu/oauth/issue', {});
my $domain = $t->emu;
my @tokens = ($csecret, $first->{access_token}, $first->{refresh_token});
my $state = "$dir/oauth/state.json";

sub write_file {
    my ($file, $text, $mode) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $file;
}

sub read_state {
    my $text = $t->slurp($state);
    my $json = eval { $B24T::JSON->decode($text) } || {};
    push @tokens, grep { defined } $json->{access_token},
                  $json->{refresh_token};
    return $json;
}

sub oauth { $t->emu_request('GET', '/_emu/oauth') }

# the operator made it 0600, as doc/oauth.md says

write_file($state, $B24T::JSON->encode({
    access_token => $first->{access_token},
    refresh_token => $first->{refresh_token},
    expires => $first->{expires}, member_id => 'member1',
    domain => $domain }), 0600);

# the attacker's files, writable by nginx's worker user

write_file("$dir/victim", "untouched\n", 0666);
write_file("$dir/victim2", "untouched\n", 0666);

symlink("$dir/victim", "$dir/oauth/state.json.tmp") or die "symlink: $!";

my $conf = <<"EOF";
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=$state client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

$t->nginx($conf);

# 1. a symlink at the temporary name of the old writer

$t->emu_request('POST', '/_emu/oauth/expire', {});

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 200, 'refresh: 200');
is(oauth()->{refreshes}, 1, 'refreshed once');

ok($t->slurp("$dir/victim") eq "untouched\n",
   'symlink at the temporary name: the file it points to is unchanged');
ok(!-l $state && -f $state, 'the state file is a regular file');
is((stat $state)[2] & 07777, 0600, 'the state file is 0600');
isnt(read_state()->{refresh_token}, $first->{refresh_token},
     'the new pair is in the state file');

my @left = grep { !/^state\.json(\.tmp)?$/ } $t->files("$dir/oauth");
is_deeply(\@left, [], 'no temporary file left');

# 2. a symlink at the state file itself

unlink $state;
symlink("$dir/victim2", $state) or die "symlink: $!";

$t->emu_request('POST', '/_emu/oauth/expire', {});

$r = $t->post('/hook?id=2', '');
is($r->{status}, 200, 'second refresh: 200');
is(oauth()->{refreshes}, 2, 'refreshed again');

ok($t->slurp("$dir/victim2") eq "untouched\n",
   'symlink at the state file: the file it points to is unchanged');
ok(!-l $state && -f $state, 'the state file is a regular file again');
is((stat $state)[2] & 07777, 0600, 'the state file is 0600 again');
ok(read_state()->{refresh_token}, 'the new pair is in the state file');

# 3. after a restart the stored pair works: the master reads it

$t->quit;
$t->nginx($conf);

$r = $t->post('/hook?id=3', '');
is($r->{status}, 200, 'after a restart: 200 with the stored pair');
is(oauth()->{refreshes}, 2, 'after a restart: no refresh needed');

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs', @tokens);

done_testing;
