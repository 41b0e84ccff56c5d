#!/usr/bin/perl

# Every example of the documentation is executed.  Each ```nginx block of
# README.md and doc/**/*.md is either run by another test (a recipe,
# "<!-- recipe: NAME -->", by t/verify-recipes.t and t/recipe-*.t; the
# synopsis by t/readme.t) or put through "nginx -t" here, with the module
# loaded, inside the smallest configuration that holds it:
#
#   * a block with "load_module" or "http {" is the main level; the
#     module's path is the one built, "http { ... }" gives its inside;
#   * after "# http {}" (and up to "# server {}") a block is the http
#     level, as in the recipes; "server {" is the http level too;
#   * a block with "location" is the server level;
#   * anything else is the content of a location.
#
# What the block uses and does not declare is declared around it: a portal
# (of b24trigger_pass or b24trigger_alert; an OAuth one for
# "b24trigger_oauth_install"), a b24trigger_dedup_zone or a
# b24trigger_lookup_zone, the queue.  Not a variable: each one an example
# uses is nginx's, the module's, or declared in the example itself (a
# reader cannot guess what a $stripe_event of another page holds).
# As for the recipes, "file:/etc/nginx/secrets/NAME" names a file of the
# test's directory; /var/spool/nginx/... and /var/lib/nginx/... are
# moved there too, "listen" listens on the test's port, and a line "..."
# (the rest of your configuration) is left out.
#
# A block marked "<!-- example: refused -->" shows a configuration nginx
# refuses: nginx -t must fail, saying the message of the next fenced
# block.  "<!-- example: syntax -->" marks one that is no configuration
# (kept few: write syntax as ```text instead).
#
# Examples whose behaviour is cheap to see are then run against the
# emulator: the b24trigger_ignore map, the unsigned legacy location, the
# status location.

use strict;
use warnings;

use Test::More;
use MIME::Base64 qw(encode_base64);
use B24T;
use B24TRecipe;
use B24TV qw(stripe_signature github_signature);
use File::Find qw(find);

my $ROOT = $B24T::ROOT;

# the synopsis, as t/readme.t finds it
my ($synopsis) = B24T->slurp("$ROOT/README.md")
                 =~ /## Synopsis\n\n```nginx\n(.*?)```/s;

# every ```nginx block: { page, line, marker, text }
sub blocks {
    my @b;

    my @pages;
    find(sub { push @pages, $File::Find::name if /\.md$/ }, "$ROOT/doc");

    for my $page ("$ROOT/README.md", sort @pages) {
        open my $fh, '<', $page or die "$page: $!";
        my @lines = <$fh>;
        close $fh;

        (my $name = $page) =~ s{^\Q$ROOT\E/}{};
        my ($fence, $marker) = (0, '');

        for (my $i = 0; $i < @lines; $i++) {
            my $l = $lines[$i];

            if ($l =~ /^\s*```(\w*)/) {
                my $lang = $1;

                if ($fence) {
                    $fence = 0;
                    next;
                }

                $fence = 1;

                if ($lang ne 'nginx') {
                    $marker = '';
                    next;
                }

                my $start = $i + 1;
                my $text = '';
                $text .= $lines[++$i]
                    while $i + 1 < @lines && $lines[$i + 1] !~ /^\s*```/;
                $i++;
                $fence = 0;

                # the next fenced block, for a refused example's message
                my ($next) = join('', @lines[$i + 1 .. $#lines])
                             =~ /^\s*```\w*\n(.*?)^\s*```/ms;

                push @b, { page => $name, line => $start, text => $text,
                           marker => $marker, next => $next };
                $marker = '';
                next;
            }

            next if $fence;

            if ($l =~ /^<!-- (recipe|example): ?(.*?) -->/) {
                $marker = "$1: $2";
            } elsif ($l =~ /\S/) {
                $marker = '';
            }
        }
    }

    return @b;
}

# nginx's own variables the examples use, and the module's
my $builtin = qr/^(?:b24trigger_\w+|arg_\w+|http_\w+|cookie_\w+
                   |remote_addr|time_local|request|status|request_uri
                   |uri|args|host)$/x;

my %secret;

# the secret of a "file:/etc/nginx/secrets/NAME": a portal URL for a name
# with "url" in it, otherwise one any scheme takes (Standard Webhooks
# wants base64 after "whsec_")
sub secret {
    my ($t, $name) = @_;

    return "http://" . ($t->emu || '127.0.0.1:1') . "/rest/1/"
           . $t->secret . "/" if $name =~ /url/;

    return $secret{$name} ||= 'whsec_'
                              . encode_base64(B24T::random_secret(24), '');
}

# a snippet with its paths moved into the test's directory, listening on
# the test's port, without "..." lines
sub moved {
    my ($t, $text) = @_;
    my $d = $t->dir;

    $text = B24TRecipe::secret_files($t, $text, sub { secret($t, $_[0]) });
    $text =~ s{/var/spool/nginx/}{$d/spool/}g;
    $text =~ s{/var/lib/nginx/}{$d/state/}g;
    $text =~ s/^(\s*)listen\s+[^;]*;/$1listen %%LISTEN%%;/mg;
    $text =~ s/^\s*\.\.\.\s*\n//mg;

    # the state folders of OAuth portals, for nginx's worker user
    for my $f ($text =~ m{(\Q$d\E/state/[\w.-]+)/}g) {
        mkdir $f;
        chmod 0777, $f;
    }

    return $text;
}


# the block made a configuration: (http level, modules) for nginx_test;
# $extra goes into the server
sub configuration {
    my ($t, $b, $extra) = @_;

    my $d = $t->dir;
    my $text = moved($t, $b->{text});
    my ($modules, $http, $server, $location) = (undef, '', '', '');

    die "$b->{page}:$b->{line}: a path the test does not move: $1\n"
        if $text =~ m{((?:/etc|/var|/path)/\S*)}
           && $1 !~ /ngx_http_b24trigger_module\.so/;

    if ($text =~ /^\s*load_module\b|^http\s*\{/m) {
        while ($text =~ s/^\s*load_module\s+(\S+);\s*\n//m) {
            $1 =~ m{/ngx_http_b24trigger_module\.so$}
                or die "$b->{page}:$b->{line}: load_module $1\n";
            $modules = "load_module $t->{module};";
        }
        if ($text =~ /^http\s*\{\n(.*)^\}\s*$/ms) {
            $http = $1;
            $text = '';
        }
        die "$b->{page}:$b->{line}: main-level lines left: $text\n"
            if $text =~ /\S/;

    } elsif ($text =~ /^# http \{\}\n/m) {
        ($http, $server) = split /^# server \{\}\n/m, $text, 2;
        $server = '' unless defined $server;

    } elsif ($text =~ /^server\s*\{/m) {
        $http = $text;

    } elsif ($text =~ /^location\b/m) {
        $server = $text;

    } else {
        $location = $text;
    }

    $server .= "location /doc-example {\n$location}\n" if $location ne '';
    $server .= moved($t, $extra || '');
    $server = "listen %%LISTEN%%;\n$server" unless $http =~ /listen/;
    $http .= "\nserver {\n$server}\n" if $server ne '';

    # what the block uses and does not declare

    my $all = $b->{text} . ($extra || '');
    my @decl;

    my %portals = map { $_ => 1 } $all =~ /b24trigger_portal\s+(\w+)/g;

    for my $p ($all =~ /b24trigger_oauth_install\s+(\w+)/g) {
        next if $portals{$p}++;
        push @decl, "b24trigger_portal $p https://portal.example.com/rest/"
                    . " oauth=$d/state/$p.json client_id=app.test"
                    . " client_secret=test;";
    }

    for my $p ($all =~ /b24trigger_(?:pass|alert)\s+(\w+)/g) {
        next if $portals{$p}++;
        push @decl, "b24trigger_portal $p http://%%EMU%%/rest/1/%%SECRET%%/;";
    }

    my %zones = map { $_ => 1 } $all =~ /b24trigger_dedup_zone\s+(\w+):/g;

    for my $z ($all =~ /b24trigger_(?:replay|dedup)\s+(\w+)/g) {
        push @decl, "b24trigger_dedup_zone $z:1m;" unless $zones{$z}++;
    }

    my %lzones = map { $_ => 1 } $all =~ /b24trigger_lookup_zone\s+(\w+):/g;

    for my $z ($all =~ /b24trigger_lookup\s[^;]*?\bzone=(\w+)/g) {
        push @decl, "b24trigger_lookup_zone $z:1m;" unless $lzones{$z}++;
    }

    push @decl, "b24trigger_queue $d/spool;"
        if $all =~ /b24trigger_delivery\s+queue/
           && $all !~ /b24trigger_queue\s/;

    my %vars;
    $vars{$1} = 1 while $all =~ /(?:^|\s)(?:map\s+\S+|set|b24trigger_field)
                                 \s+\$(\w+)/xmg;
    $vars{$1} = 1 while $all =~ /\(\?<(\w+)>/g;

    my @undeclared = grep { !/$builtin/ && !$vars{$_}++ }
                     $all =~ /\$\{?(\w+)/g;

    return (join("\n", @decl) . "\n" . $http, $modules, \@undeclared);
}

# a test whose directory nginx's workers may enter, as in a real system
sub new_test {
    my $t = B24T->new;
    my $d = $t->dir;

    chmod 0711, $d;
    mkdir "$d/spool";
    mkdir "$d/state";
    chmod 0777, "$d/state";

    return $t;
}

my @blocks = blocks();
my $recipes = B24TRecipe::all();
my %count = (found => scalar @blocks);

ok(@blocks > 10, "nginx blocks found in README.md and doc/ ("
                 . @blocks . ")");

for my $b (@blocks) {
    my $where = "$b->{page}:$b->{line}";

    if ($b->{marker} =~ /^recipe: (\S+)/) {
        ok($recipes->{$1}, "$where: recipe $1, run by "
                                    . "t/verify-recipes.t or t/recipe-*.t");
        $count{recipe}++;
        next;
    }

    if ($b->{page} eq 'README.md' && defined $synopsis
        && $b->{text} eq $synopsis)
    {
        pass("$where: the synopsis, run by t/readme.t");
        $count{synopsis}++;
        next;
    }

    if ($b->{marker} =~ /^example: syntax\b/) {
        pass("$where: syntax, not a configuration");
        $count{syntax}++;
        next;
    }

    my $refused = $b->{marker} =~ /^example: refused\b/;

    die "$where: unknown marker \"$b->{marker}\"\n"
        if $b->{marker} ne '' && !$refused;

    my $t = new_test();

    my ($http, $modules, $undeclared) = configuration($t, $b);

    # a reader cannot guess what a variable of ours holds
    is_deeply($undeclared, [], "$where: every variable is nginx's, the "
                               . "module's or declared in the example");
    my ($rc, $out) = $t->nginx_test($http, defined $modules
                                           ? (modules => $modules) : ());

    if ($refused) {
        (my $msg = $b->{next} || '') =~ s/^nginx: \[emerg\] //;
        $msg =~ s/\s+$//;
        ok($rc != 0 && $msg ne '' && index($out, $msg) >= 0,
           "$where: refused by nginx -t, as shown") or diag($out);
        $count{refused}++;
        next;
    }

    is($rc, 0, "$where: nginx -t passes") or diag("$http\n$out");

    # the one warning an example may give: the OAuth portal's state file
    # does not exist before the application is installed (doc/oauth.md)
    my @warn = grep { !/OAuth portal "\w+" has no state file/ }
               $out =~ /^.*\[warn\].*$/mg;
    is_deeply(\@warn, [], "$where: no warning");

    $count{run}++;
}

note(join ', ', map { "$_ $count{$_}" } sort keys %count);

###############################################################################
# what some examples do, against the emulator

# the block of a page that matches, run with $extra in its server
sub live {
    my ($page, $re, $extra) = @_;

    my ($b) = grep { $_->{page} eq $page && $_->{text} =~ $re } @blocks;

    unless ($b) {
        fail("$page: the example $re is there");
        return;
    }

    my $t = new_test();
    $t->emulator;

    my ($http) = configuration($t, $b, $extra);
    $t->nginx($http);

    return $t;
}

my @json = ('Content-Type' => 'application/json');
my ($t, $r, $body);

# b24trigger_ignore with the map of doc/directives.md: a completed Checkout
# Session is forwarded, another type acknowledged and not forwarded

$t = live('doc/directives.md', qr/^map \$stripe_type \$stripe_skip/m,
          <<'EOF');
location = /hooks/stripe {
    b24trigger_pass    crm;
    b24trigger_verify  stripe;
    b24trigger_secret  file:/etc/nginx/secrets/stripe;
    b24trigger_ignore  $stripe_skip;
    b24trigger_target  DEAL_57;
}
EOF

if ($t) {
    my $secret = secret($t, 'stripe');

    $body = '{"id":"evt_1","type":"checkout.session.completed"}';
    $r = $t->post('/hooks/stripe', $body, @json,
                  'Stripe-Signature' => stripe_signature($secret, $body));
    is($r->{status}, 200, 'ignore map: a completed session, 200');
    is(scalar @{ $t->calls }, 1, 'ignore map: it is forwarded');

    $body = '{"id":"evt_2","type":"payment_intent.created"}';
    $r = $t->post('/hooks/stripe', $body, @json,
                  'Stripe-Signature' => stripe_signature($secret, $body));
    is("$r->{status} $r->{body}", '200 {"result":"ignored"}',
       'ignore map: another type, the answer the docs show');
    is(scalar @{ $t->calls }, 1, 'ignore map: it is not forwarded');

    $t->finish;
    $t->secret_nowhere('ignore map: no portal secret anywhere');
}

# b24trigger_unsigned: the legacy location of doc/directives.md takes the
# deal from the query string; a re-aimed copy is a duplicate, as said

$t = live('doc/directives.md', qr{location = /hooks/legacy});

if ($t) {
    my $secret = secret($t, 'legacy');

    $body = '{"action":"paid"}';
    my @sig = ('X-Hub-Signature-256' => github_signature($secret, $body));

    $r = $t->post('/hooks/legacy?deal=57', $body, @json, @sig);
    is($r->{status}, 200, 'unsigned legacy: 200');
    is(join(',', map { $_->{target} } @{ $t->calls }), 'DEAL_57',
       'unsigned legacy: the deal of the query string');

    $r = $t->post('/hooks/legacy?deal=999', $body, @json, @sig);
    is($r->{json} && $r->{json}{result}, 'duplicate',
       'unsigned legacy: re-aimed copy, a duplicate');
    is(scalar @{ $t->calls }, 1, 'unsigned legacy: not forwarded');

    $t->finish;
}

# the status location of doc/directives.md answers 127.0.0.1

$t = live('doc/directives.md', qr{location = /b24trigger/status});

if ($t) {
    $r = $t->request('GET', '/b24trigger/status');
    is($r->{status}, 200, 'status location: 200 for 127.0.0.1');
    is($r->{json} && $r->{json}{version}, B24T::version(),
       'status location: the version');
    $t->finish;
}

# the log_format of doc/verification.md: the result and the error of a
# refusal at the end of the line

$t = live('doc/verification.md', qr/^log_format webhooks/m, <<'EOF');
access_log %%TESTDIR%%/webhooks.log webhooks;

location = /hook {
    b24trigger_pass    crm;
    b24trigger_verify  token header=X-Token;
    b24trigger_secret  file:/etc/nginx/secrets/token;
    b24trigger_target  DEAL_57;
}
EOF

if ($t) {
    $r = $t->post('/hook', '{}', @json, 'X-Token' => 'wrong');
    is($r->{status}, 401, 'log_format webhooks: a wrong token, 401');
    $t->stop;
    like($t->slurp($t->dir . '/webhooks.log'),
         qr{"POST /hook HTTP/1\.1" 401 rejected token_invalid\n},
         'log_format webhooks: the line');
    $t->finish;
}

done_testing;
