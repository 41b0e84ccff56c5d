package B24T;

# A small test harness in the spirit of nginx-tests' Test::Nginx: each test
# gets its own directory, starts the Bitrix24 portal emulator
# (tools/b24emu.py) and the Debian nginx with our module, talks real HTTP to
# them and asserts on what the sender got, what the portal received and
# what the error log says.
#
#   my $t = B24T->new;
#   $t->emulator(args => ['--webhook', "1:$secret"]);
#   $t->nginx(<<'EOF');          # the body of http { }
#       b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
#       server { listen %%LISTEN%%; location /h { ... } }
#   EOF
#   my $r = $t->post('/h', '{"a":1}', 'X-Token' => 'x');
#   is($r->{status}, 200); is($t->calls->[0]{target}, 'DEAL_1');
#
# On destruction every process is stopped, and the error log is checked
# for [alert], [crit], [emerg] and sanitizer or valgrind reports (one test
# each, like nginx-tests' "no alerts").

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(time sleep);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $JSON = JSON::PP->new->canonical->allow_nonref;

my @all;

sub new {
    my ($class, %opts) = @_;

    my $dir = tempdir('b24t-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{B24T_LEAVE});

    my $self = bless {
        dir      => $dir,
        module   => $ENV{B24_MODULE} || "$ROOT/build/ngx_http_b24trigger_module.so",
        nginx    => $ENV{NGINX_BIN} || '/usr/sbin/nginx',
        secret   => $opts{secret} || random_secret(16),
        replies  => [],
        pids     => {},
        checked  => 0,
        owner    => $$,
        %opts,
    }, $class;

    mkdir "$dir/logs";
    mkdir "$dir/tmp";

    push @all, $self;
    return $self;
}

# the module's version: the first line of debian/changelog, where it is kept
sub version {
    open my $fh, '<', "$ROOT/debian/changelog"
        or die "debian/changelog: $!";
    my $line = <$fh>;
    close $fh;
    $line =~ /^\S+ \(([^)]+)\)/ or die "no version in debian/changelog";
    return $1;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub secret { $_[0]{secret} }

sub random_secret {
    my ($n) = @_;
    my @c = ('a' .. 'z', '0' .. '9');
    return join '', map { $c[int rand @c] } 1 .. $n;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# A port of the test's own, for a portal that goes away and comes back at
# the same address: a socket stays bound to it (SO_REUSEADDR, never
# listening) for the whole test, so no other process is given the port
# while the emulator is down, connections to it are refused meanwhile,
# and the emulator (which binds with SO_REUSEADDR too) can listen on it.
sub held_port {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  ReuseAddr => 1, Proto => 'tcp')
        or die "no free port: $!";
    push @{ $self->{held} }, $s;
    return $s->sockport;
}

sub certs {
    my ($self) = @_;
    my $d = "$ROOT/build/test-certs";
    system("$ROOT/tools/mkcerts.sh", $d) == 0 or die "mkcerts failed";

    # nginx workers run as an unprivileged user: they read the CA
    chmod 0755, $d;
    chmod 0644, glob "$d/*.crt";

    return $d;
}

###############################################################################
# the portal emulator

sub emulator {
    my ($self, %opts) = @_;

    # a fixed port (port => N) lets a test stop the portal and bring it
    # back at the same address
    my @args = ('--listen', '127.0.0.1:' . ($opts{port} || 0),
                '--log', "$self->{dir}/emu.log",
                '--webhook', "1:$self->{secret}");

    if ($opts{https}) {
        my $c = $self->certs;
        push @args, '--https-listen', ($opts{https_host} || '127.0.0.1') . ':0',
                    '--cert', "$c/server.crt", '--key', "$c/server.key";
    }

    if ($opts{moved}) {
        push @args, '--moved-listen', '127.0.0.1:0';
        push @args, '--moved-to-https' if $opts{moved} eq 'https';
    }

    push @args, @{ $opts{args} || [] };

    pipe(my $r, my $w) or die "pipe: $!";

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>>', "$self->{dir}/emu.stderr" or die;
        exec('python3', "$ROOT/tools/b24emu.py", @args) or exit 127;
    }

    close $w;

    my $line;
    my $sel = IO::Select->new($r);

    if ($sel->can_read(20)) {
        $line = <$r>;
    }

    die "emulator did not start: " . $self->slurp("$self->{dir}/emu.stderr")
        unless defined $line && $line =~ /b24emu ready/;

    $self->{emu_out} = $r;
    $self->{pids}{emulator} = $pid;

    ($self->{emu}) = $line =~ /http=(\S+)/;
    ($self->{emu_https}) = $line =~ /https=(\S+)/;
    ($self->{emu_moved}) = $line =~ /moved=(\S+)/;

    return $self;
}

sub emu { $_[0]{emu} }

sub emu_request {
    my ($self, $method, $path, $body) = @_;

    my ($host, $port) = split /:/, $self->{emu};
    my $r = http_request($host, $port, $method, $path,
                         $body ? (body => $JSON->encode($body)) : ());
    die "emulator control $path failed: " . ($r->{status} || 'no answer')
        unless $r->{status} && $r->{status} == 200;
    return $r->{json};
}

# what the portal received, as the emulator logged it
sub calls { $_[0]->emu_request('GET', '/_emu/calls') }

sub emu_config {
    my ($self, %cfg) = @_;
    return $self->emu_request('POST', '/_emu/config', \%cfg);
}

sub emu_reset { $_[0]->emu_request('POST', '/_emu/reset', {}) }

# the CRM records the portal's lookups find (crm.item.list,
# crm.duplicate.findbycomm): items => [...], comms => [...]
sub emu_crm {
    my ($self, %crm) = @_;
    return $self->emu_request('POST', '/_emu/crm', \%crm);
}

# the portal's calls of one REST method
sub calls_of {
    my ($self, $method) = @_;
    return [ grep { ($_->{method} || '') eq $method } @{ $self->calls } ];
}

sub stop_emulator {
    my ($self) = @_;
    my $pid = delete $self->{pids}{emulator} or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

###############################################################################
# Redis (cluster mode): Debian's redis-server and redis-sentinel

# a redis-server of the test's own on a held port, so that it can be
# stopped and started again at the same address; password => requires AUTH;
# aof => 1: appendonly yes, appendfsync always (kept across a restart)
sub redis {
    my ($self, %opts) = @_;

    $self->{redis_port} ||= $opts{port} || $self->held_port;
    $self->{redis_password} = $opts{password} if exists $opts{password};
    $self->{redis_aof} = $opts{aof} if exists $opts{aof};

    my $d = "$self->{dir}/redis";
    mkdir $d;

    my @cmd = ('redis-server', '--port', $self->{redis_port},
               '--bind', '127.0.0.1', '--save', '',
               '--appendonly', $self->{redis_aof} ? 'yes' : 'no',
               '--dir', $d, '--daemonize', 'no',
               '--logfile', "$d/redis.log");
    push @cmd, '--appendfsync', 'always' if $self->{redis_aof};
    push @cmd, '--requirepass', $self->{redis_password}
        if $self->{redis_password};

    $self->{pids}{redis} = $self->spawn(@cmd);
    $self->wait_port($self->{redis_port}, 10)
        or die "redis-server did not start:\n" . $self->slurp("$d/redis.log");

    return $self->{redis_port};
}

# a replica of the test's redis-server on a port of its own, linked
# (master_link_status:up) before it returns; returns its port
sub redis_replica {
    my ($self) = @_;

    my $port = $self->held_port;
    my $d = "$self->{dir}/replica-$port";
    mkdir $d;

    my @cmd = ('redis-server', '--port', $port, '--bind', '127.0.0.1',
               '--save', '', '--appendonly', 'no', '--dir', $d,
               '--daemonize', 'no', '--logfile', "$d/redis.log",
               '--replicaof', '127.0.0.1', $self->{redis_port});
    push @cmd, '--masterauth', $self->{redis_password}
        if $self->{redis_password};

    $self->{pids}{"replica-$port"} = $self->spawn(@cmd);
    $self->wait_port($port, 10)
        or die "replica did not start:\n" . $self->slurp("$d/redis.log");

    my $until = time + 30;
    while (time < $until) {
        last if `redis-cli -p $port INFO replication`
                =~ /master_link_status:up/;
        sleep 0.2;
    }

    return $port;
}

sub stop_replica {
    my ($self, $port) = @_;
    my $pid = delete $self->{pids}{"replica-$port"} or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

sub stop_redis {
    my ($self) = @_;
    my $pid = delete $self->{pids}{redis} or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

# a command to the test's redis-server: its answer, as redis-cli prints it
sub redis_cli {
    my ($self, @args) = @_;
    my @cmd = ('redis-cli', '-p', $self->{redis_port});
    local $ENV{REDISCLI_AUTH} = $self->{redis_password}
        if $self->{redis_password};
    open my $fh, '-|', @cmd, @args or die "redis-cli: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    return defined $out ? $out : '';
}

# a Sentinel watching the test's redis-server as MASTER; returns its port
sub sentinel {
    my ($self, $master) = @_;

    my $port = $self->held_port;
    my $d = "$self->{dir}/sentinel-$port";
    mkdir $d;

    open my $fh, '>', "$d/sentinel.conf" or die "$d/sentinel.conf: $!";
    print $fh "port $port\nbind 127.0.0.1\ndir $d\n"
        . "logfile $d/sentinel.log\n"
        . "sentinel monitor $master 127.0.0.1 $self->{redis_port} 1\n"
        . "sentinel down-after-milliseconds $master 1000\n"
        . "sentinel failover-timeout $master 5000\n";
    print $fh "sentinel auth-pass $master $self->{redis_password}\n"
        if $self->{redis_password};
    close $fh;

    $self->{pids}{"sentinel-$port"} =
        $self->spawn('redis-sentinel', "$d/sentinel.conf");
    $self->wait_port($port, 10)
        or die "redis-sentinel did not start:\n"
               . $self->slurp("$d/sentinel.log");

    return $port;
}

sub spawn {
    my ($self, @cmd) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/logs/spawn.log";
        open STDERR, '>&', \*STDOUT;
        exec(@cmd) or exit 127;
    }

    return $pid;
}

# a second nginx node of the same cluster: its own directory, port and
# logs, the same emulator and Redis
sub node {
    my ($self) = @_;
    my $n = B24T->new(secret => $self->{secret});
    $n->{$_} = $self->{$_}
        for grep { defined $self->{$_} }
            qw(emu emu_https emu_moved redis_port redis_password);
    return $n;
}

###############################################################################
# nginx

sub expand {
    my ($self, $text) = @_;

    $self->{port} ||= $self->held_port;

    my %v = (
        LISTEN    => "127.0.0.1:$self->{port}",
        PORT      => $self->{port},
        EMU       => $self->{emu} || '127.0.0.1:1',
        EMU_HTTPS => $self->{emu_https} || '',
        EMU_MOVED => $self->{emu_moved} || '',
        SECRET    => $self->{secret},
        TESTDIR   => $self->{dir},
        CERTS     => "$ROOT/build/test-certs",
        REDIS     => '127.0.0.1:' . ($self->{redis_port} || 1),
    );

    $text =~ s/%%(\w+)%%/exists $v{$1} ? $v{$1} : die "unknown %%$1%%"/ge;
    return $text;
}

sub write_conf {
    my ($self, $http, %opts) = @_;

    my $d = $self->{dir};
    my $workers = $opts{workers} || 1;
    my $main = $opts{main} || '';
    my $events = $opts{events} || '';
    my $level = exists $opts{log_level} ? $opts{log_level} : 'debug';

    # the main-context lines that load modules: ours unless told
    my $modules = exists $opts{modules} ? $opts{modules}
                                        : "load_module $self->{module};";

    my $conf = <<"EOF";
$modules
worker_processes $workers;
daemon off;
master_process on;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log $level;
$main
events { worker_connections 1024; $events }
http {
    access_log $d/logs/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
$http
}
EOF

    $conf = $self->expand($conf);

    open my $fh, '>', "$d/nginx.conf" or die "$d/nginx.conf: $!";
    print $fh $conf;
    close $fh;

    return "$d/nginx.conf";
}

# "nginx -t" of a configuration: (exit status, what it printed)
sub nginx_test {
    my ($self, $http, %opts) = @_;

    my $conf = $self->write_conf($http, %opts);
    my $env = $opts{env} || {};
    local @ENV{keys %$env} = values %$env;

    my $out = `$self->{nginx} -t -p $self->{dir} -c $conf -e stderr 2>&1`;
    return ($? >> 8, $out);
}

sub nginx {
    my ($self, $http, %opts) = @_;

    my $conf = $self->write_conf($http, %opts);
    my @cmd = ($self->{nginx}, '-p', $self->{dir}, '-c', $conf,
               '-e', "$self->{dir}/logs/error.log");

    if ($ENV{B24_VALGRIND}) {
        unshift @cmd, 'valgrind', '-q', '--leak-check=full',
            '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
            '--trace-children=no', '--child-silent-after-fork=no',
            "--suppressions=$ROOT/valgrind.suppress",
            "--log-file=$self->{dir}/logs/valgrind.%p.log";
    }

    my $env = $opts{env} || {};

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        %ENV = (%ENV, %$env);
        open STDOUT, '>>', "$self->{dir}/logs/stdout.log";
        open STDERR, '>>', "$self->{dir}/logs/stderr.log";
        exec(@cmd) or exit 127;
    }

    $self->{pids}{nginx} = $pid;
    $self->wait_port($self->{port}, $ENV{B24_VALGRIND} ? 60 : 10)
        or die "nginx did not start:\n"
               . $self->slurp("$self->{dir}/logs/stderr.log")
               . $self->slurp("$self->{dir}/logs/error.log");

    return $self;
}

sub wait_port {
    my ($self, $port, $timeout) = @_;
    my $until = time + $timeout;

    while (time < $until) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }

    return 0;
}

sub master_pid {
    my ($self) = @_;
    my $pid = $self->slurp("$self->{dir}/logs/nginx.pid");
    chomp $pid;
    return $pid || $self->{pids}{nginx};
}

sub worker_pids {
    my ($self) = @_;
    my $m = $self->master_pid;
    my @p = split ' ', `pgrep -P $m 2>/dev/null`;
    return @p;
}

sub alive {
    my ($pid) = @_;
    my $st = `ps -o stat= -p $pid 2>/dev/null`;
    return $st =~ /\S/ && $st !~ /Z/;
}

sub signal {
    my ($self, $sig) = @_;
    kill $sig, $self->master_pid;
}

sub reload {
    my ($self, $http, %opts) = @_;
    my @old = $self->worker_pids;

    $self->write_conf($http, %opts) if defined $http;
    $self->signal('HUP');

    # the new workers are up, and the old ones stopped accepting
    my %old = map { $_ => 1 } @old;
    my $until = time + 10;

    while (time < $until) {
        my @now = $self->worker_pids;
        last if (grep { !$old{$_} } @now)
                && ($opts{nowait} || !grep { $old{$_} && alive($_) } @now);
        sleep 0.05;
    }

    return $self;
}

# graceful stop; returns seconds taken
sub quit {
    my ($self, $timeout) = @_;
    my $pid = delete $self->{pids}{nginx} or return 0;
    my $start = time;

    kill 'QUIT', $pid;
    my $until = time + ($timeout || 30);

    while (time < $until) {
        return time - $start if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
    return -1;
}

# kill -9 of the master and every worker, as a crash would
sub crash {
    my ($self) = @_;
    my @pids = ($self->master_pid, $self->worker_pids);
    kill 'KILL', @pids;
    my $pid = delete $self->{pids}{nginx};
    waitpid($pid, 0) if $pid;
    my $until = time + 10;
    sleep 0.05 while time < $until && grep { alive($_) } @pids;
    return @pids;
}

# wait until $cond->() is true; returns whether it became so
sub wait_until {
    my ($self, $cond, $timeout) = @_;
    my $until = time + ($timeout || 10);
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return $cond->();
}

# files in a directory (no dot files)
sub files {
    my ($self, $dir) = @_;
    opendir(my $d, $dir) or return ();
    my @f = sort grep { !/^\./ } readdir $d;
    closedir $d;
    return @f;
}

sub stop {
    my ($self) = @_;
    $self->quit(20);
    $self->stop_emulator;
    $self->stop_redis;

    # Sentinels, and what else a test spawned
    for my $k (keys %{ $self->{pids} }) {
        my $pid = delete $self->{pids}{$k};
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
}

###############################################################################
# HTTP client

sub http_request {
    my ($host, $port, $method, $path, %o) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Timeout => 5)
        or return { error => "connect: $!" };

    send_request($s, $host, $port, $method, $path, %o);
    return read_response($s, $o{timeout} || 30);
}

sub send_request {
    my ($s, $host, $port, $method, $path, %o) = @_;

    my $body = defined $o{body} ? $o{body} : '';
    my $h = $o{headers} || [];
    my @h = ref $h eq 'HASH' ? %$h : @$h;

    my $req = "$method $path HTTP/1.1\r\nHost: $host:$port\r\n"
              . "Connection: close\r\n";

    my $has_ct = 0;
    my $chunked = 0;

    while (my ($k, $v) = splice @h, 0, 2) {
        $req .= "$k: $v\r\n";
        $has_ct = 1 if lc $k eq 'content-type';
        $chunked = 1 if lc $k eq 'transfer-encoding';
    }

    if ($chunked) {
        $req .= "\r\n";
        my $rest = $body;
        while (length $rest) {
            my $part = substr($rest, 0, 1000, '');
            $req .= sprintf("%x\r\n%s\r\n", length $part, $part);
        }
        $req .= "0\r\n\r\n";

    } else {
        $req .= "Content-Length: " . length($body) . "\r\n"
            if $method ne 'GET' || length $body;
        $req .= "\r\n" . $body;
    }

    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, 65536, $off);
        last unless defined $n && $n > 0;
        $off += $n;
    }
}

sub read_response {
    my ($s, $timeout) = @_;

    my $data = '';
    my $sel = IO::Select->new($s);
    my $until = time + $timeout;

    while (time < $until) {
        last unless $sel->can_read($until - time);
        my $n = sysread($s, $data, 65536, length $data);
        last unless $n;
    }

    close $s;
    return parse_response($data);
}

sub parse_response {
    my ($data) = @_;

    return { error => 'no answer', raw => $data }
        unless $data =~ /^HTTP\/1\.\d (\d+)/;

    my $status = $1;
    my ($head, $body) = split /\r\n\r\n/, $data, 2;
    $body = '' unless defined $body;

    my %h;
    my @lines = split /\r\n/, $head;
    shift @lines;

    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = defined $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }

    if (($h{'transfer-encoding'} || '') =~ /chunked/) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }

    my $json = eval { $JSON->decode($body) };

    return { status => $status, headers => \%h, body => $body,
             json => $json, raw => $data };
}

sub request {
    my ($self, $method, $path, %o) = @_;
    my $r = http_request('127.0.0.1', $self->{port}, $method, $path, %o);
    push @{ $self->{replies} }, $r;
    return $r;
}

sub post {
    my ($self, $path, $body, @headers) = @_;
    return $self->request('POST', $path, body => $body,
                          headers => \@headers);
}

# a POST sent again while it is answered 409 (a duplicate in flight,
# Retry-After: 1), as a sender does: the answer it settles on
sub post_settled {
    my ($self, @args) = @_;
    my $r;
    for (1 .. 30) {
        $r = $self->post(@args);
        last unless ($r->{status} || 0) == 409;
        sleep 0.1;
    }
    return $r;
}

# many requests at once; each a hashref { method, path, body, headers,
# port (another node's) }; returns the responses in order, each with
# {elapsed}
sub concurrent {
    my ($self, @reqs) = @_;
    return $self->_concurrent(0, @reqs);
}

# the same, but every connection is open (and accepted) before the first
# request is written, so that the workers read them at the same moments
sub simultaneous {
    my ($self, @reqs) = @_;
    return $self->_concurrent(1, @reqs);
}

sub _concurrent {
    my ($self, $connect_first, @reqs) = @_;

    my $sel = IO::Select->new;
    my (%sock, %data, @s);
    my $start = time;

    for my $i (0 .. $#reqs) {
        my $port = $reqs[$i]{port} || $self->{port};
        $s[$i] = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                       Timeout => 5)
            or die "connect: $!";
        $sock{fileno $s[$i]} = [$i, $s[$i]];
        $data{$i} = '';
        $sel->add($s[$i]);
        next if $connect_first;
        _send_one($self, $s[$i], $reqs[$i]);
    }

    if ($connect_first) {
        sleep 0.2;    # the workers accept them
        $start = time;
        _send_one($self, $s[$_], $reqs[$_]) for 0 .. $#reqs;
    }

    my @out;
    my $until = time + 60;

    while ($sel->count && time < $until) {
        for my $s ($sel->can_read(1)) {
            my ($i) = @{ $sock{fileno $s} };
            my $n = sysread($s, $data{$i}, 65536, length $data{$i});
            next if $n;
            $sel->remove($s);
            close $s;
            $out[$i] = parse_response($data{$i});
            $out[$i]{elapsed} = time - $start;
        }
    }

    push @{ $self->{replies} }, grep { defined } @out;
    return @out;
}

sub _send_one {
    my ($self, $s, $q) = @_;
    my $port = $q->{port} || $self->{port};
    send_request($s, '127.0.0.1', $port, $q->{method} || 'POST',
                 $q->{path}, body => $q->{body},
                 headers => $q->{headers} || []);
}

# a request whose client goes away after $after seconds
sub abort_after {
    my ($self, $after, $path, $body, @headers) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}")
        or die "connect: $!";
    send_request($s, '127.0.0.1', $self->{port}, 'POST', $path,
                 body => $body, headers => \@headers);
    sleep $after;
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $s;
}

###############################################################################
# logs

sub slurp {
    my ($self, $file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $c = <$fh>;
    return defined $c ? $c : '';
}

sub error_log { $_[0]->slurp("$_[0]{dir}/logs/error.log") }
sub access_log { $_[0]->slurp("$_[0]{dir}/logs/access.log") }

# error-log lines at a level, e.g. $t->log_lines('error')
sub log_lines {
    my ($self, $level) = @_;
    return grep { /\[$level\]/ } split /\n/, $self->error_log;
}

# wait until the error log matches
sub wait_log {
    my ($self, $re, $timeout) = @_;
    my $until = time + ($timeout || 10);
    while (time < $until) {
        return 1 if $self->error_log =~ $re;
        sleep 0.05;
    }
    return 0;
}

# the portal's secret never shows in anything a test could see
sub secret_nowhere {
    my ($self, $name, @secrets) = @_;
    @secrets = ($self->{secret}) unless @secrets;

    my $seen = join "\n", $self->error_log, $self->access_log,
        $self->slurp("$self->{dir}/logs/stderr.log"),
        $self->slurp("$self->{dir}/logs/stdout.log"),
        map { $_->{raw} || '' } @{ $self->{replies} };

    my @found = grep { index($seen, $_) >= 0 } @secrets;
    ok(!@found, $name || 'no secret in replies, headers or logs');
}

sub check_logs {
    my ($self) = @_;
    return if $self->{checked}++;

    my $log = $self->error_log;
    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;
    @bad = grep { !/$self->{allow_alerts}/ } @bad if $self->{allow_alerts};

    ok(!@bad, 'no alerts in error log')
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

    my @v = glob "$self->{dir}/logs/valgrind.*.log";
    my $vr = join '', map { $self->slurp($_) } @v;

    ok($vr !~ /\S/ && $log !~ /Sanitizer/, 'no memory errors')
        or diag($vr);
}

# stop everything and check the logs: the last thing a test does
sub finish {
    my ($self) = @_;
    $self->stop;
    $self->check_logs;
}

# forked helpers of a test never stop what the test started
sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop if %{ $self->{pids} } && $$ == $self->{owner};
}

END {
    for my $t (@all) {
        $t->stop if %{ $t->{pids} } && $$ == $t->{owner};
    }
}

1;
