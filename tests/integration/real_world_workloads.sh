# real_world_workloads.sh - short, realistic workloads for real Debian
# programs (sourced by tests/integration/real_world.sh and
# bench/real_world.sh). Each runs the program under the command prefix in
# $RUN (empty for a plain run, `poolscout record -o DIR --`, `heaptrack -o
# FILE`), prints what the program answered (deterministic, to compare a
# plain run with a profiled one) and returns the program's status.
# Servers (redis, nginx) are started by the workload itself under $RUN, in
# the foreground, on loopback, on a free port, with a temporary config in
# the directory given, and stopped by it; clients (redis-benchmark, ab,
# curl) run plain. Every wait is bounded.
#
#   rw_git DIR          init, add and commit 300 files, change 100, diff,
#                       log, gc (single-threaded: pack/index threads = 1)
#   rw_redis DIR        redis-server, redis-benchmark -n $RW_REDIS_N on
#                       set,get,incr,lpush,hset, then the values it left
#   rw_nginx DIR [USER] nginx (master + 1 worker), ab -n $RW_NGINX_N on a
#                       20 kB static file; USER for the worker (root)
#   rw_perl DIR         hashes, arrays and strings of $RW_PERL_N words
#   rw_sqlite DIR       $RW_SQLITE_N inserts into an indexed table, queries
#   rw_python DIR       json dumps/loads and dicts of $RW_PY_N records
#
# Every workload uses only DIR (created if missing) for its files.
RUN=${RUN:-}
RW_REDIS_N=${RW_REDIS_N:-20000}
RW_NGINX_N=${RW_NGINX_N:-5000}
RW_PERL_N=${RW_PERL_N:-100000}
RW_SQLITE_N=${RW_SQLITE_N:-100000}
RW_PY_N=${RW_PY_N:-30000}
RW_TIMEOUT=${RW_TIMEOUT:-300}

# a TCP port on 127.0.0.1 nobody listens on now
rw_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# rw_wait_port PORT: wait (at most 20 s) until something accepts on PORT
rw_wait_port() {
	for _i in $(seq 1 200); do
		python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
			"$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

rw_git() {
	(
	set -e
	mkdir -p "$1"
	cd "$1"
	# a fixed identity, dates and config: the same hashes every run
	export HOME="$1" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=T \
		GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=T \
		GIT_COMMITTER_EMAIL=t@example.com \
		GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' \
		GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
	git init -q -b main repo
	cd repo
	# threads would make git multi-threaded; the suite checks that a
	# single-threaded program shows one thread per site
	git config pack.threads 1
	git config index.threads 1
	git config core.preloadIndex false
	git config checkout.workers 1
	git config gc.autoDetach false
	# the files, written by one awk (not 600 processes: the setup's cost
	# would hide git's)
	mkdir d0 d1 d2 d3 d4 d5 d6 d7 d8 d9
	awk 'BEGIN { for (i = 1; i <= 300; i++) {
		f = "d" (i % 10) "/f" i ".txt"
		for (j = i; j <= i + 40; j++) print j > f
		close(f) } }'
	$RUN git add .
	$RUN git commit -q -m first
	awk 'BEGIN { for (i = 3; i <= 300; i += 3) {
		f = "d" (i % 10) "/f" i ".txt"
		print "change " i >> f
		close(f) } }'
	$RUN git diff --stat | tail -1
	$RUN git commit -q -a -m second
	$RUN git log --oneline
	$RUN git diff HEAD~1 --stat | tail -1
	$RUN git gc -q
	$RUN git count-objects -v | grep -E '^(count|in-pack|packs):'
	)
}

rw_redis() {
	mkdir -p "$1"
	_port=$(rw_free_port)
	cat >"$1/redis.conf" <<EOF
bind 127.0.0.1
port $_port
daemonize no
save ""
appendonly no
dir $1
logfile $1/redis.log
EOF
	timeout "$RW_TIMEOUT" $RUN redis-server "$1/redis.conf" \
		>"$1/server.out" 2>&1 &
	RW_SERVER_PID=$!
	if rw_wait_port "$_port"; then
		timeout "$RW_TIMEOUT" redis-benchmark -p "$_port" -q \
			-n "$RW_REDIS_N" -t set,get,incr,lpush,hset \
			>"$1/benchmark.out" 2>&1
		echo "benchmark status $?"
		# what the benchmark left: INCR and LPUSH counted every request
		for c in dbsize "get counter:__rand_int__" "llen mylist" \
			"hlen myhash"; do
			echo "$c: $(redis-cli -p "$_port" $c)"
		done
		redis-cli -p "$_port" shutdown nosave >/dev/null 2>&1
	else
		echo "redis-server did not listen on $_port"
		kill -TERM "$RW_SERVER_PID" 2>/dev/null
	fi
	wait "$RW_SERVER_PID"
	_rc=$?
	RW_SERVER_PID=
	return $_rc
}

# The worker runs as USER (root by default). A worker that switches to
# another user after the fork cannot create its profile in a directory
# that only root may write to, so the suite keeps the worker root; the
# `nobody` case is checked separately.
rw_nginx() {
	mkdir -p "$1/html" "$1/tmp"
	_port=$(rw_free_port)
	awk 'BEGIN { for (i = 0; i < 400; i++)
		printf "line %03d of a static page served by nginx\n", i }' \
		>"$1/html/page.html"
	cat >"$1/nginx.conf" <<EOF
user ${2:-root};
worker_processes 1;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	server {
		listen 127.0.0.1:$_port;
		root $1/html;
	}
}
EOF
	timeout "$RW_TIMEOUT" $RUN nginx -e "$1/error.log" -p "$1" \
		-c "$1/nginx.conf" >"$1/server.out" 2>&1 &
	RW_SERVER_PID=$!
	if rw_wait_port "$_port"; then
		if command -v ab >/dev/null; then
			timeout "$RW_TIMEOUT" ab -q -n "$RW_NGINX_N" -c 4 \
				"http://127.0.0.1:$_port/page.html" >"$1/ab.out" 2>&1
			echo "ab status $?"
			grep -E '^(Complete requests|Failed requests|Non-2xx|Document Length)' \
				"$1/ab.out"
		else
			_ok=0
			for _i in $(seq 1 "$RW_NGINX_N"); do
				curl -sf -o /dev/null "http://127.0.0.1:$_port/page.html" &&
					_ok=$((_ok + 1))
			done
			echo "Complete requests: $_ok"
		fi
		curl -sf "http://127.0.0.1:$_port/page.html" | cksum
		curl -s -o /dev/null -w 'missing page: %{http_code}\n' \
			"http://127.0.0.1:$_port/nothing-here"
		kill -QUIT "$(cat "$1/nginx.pid")" 2>/dev/null ||
			kill -QUIT "$RW_SERVER_PID"
	else
		echo "nginx did not listen on $_port"
		kill -TERM "$RW_SERVER_PID" 2>/dev/null
	fi
	wait "$RW_SERVER_PID"
	_rc=$?
	RW_SERVER_PID=
	return $_rc
}

rw_perl() {
	mkdir -p "$1"
	cat >"$1/words.pl" <<'EOF'
use strict; use warnings;
my $n = shift;
my (%count, %index, @lines);
for my $i (1 .. $n) {
    my $word = join '-', 'w', $i % 997, $i % 13;
    $count{$word}++;
    push @{ $index{ $i % 101 } }, "$word:$i";
    push @lines, sprintf("%06d %s %s", $i, $word, 'x' x ($i % 17)) if $i % 5 == 0;
}
my $text = join "\n", @lines;
my @sorted = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
my $total = 0;
$total += length($_) for map { join ',', @$_ } values %index;
(my $upper = $text) =~ s/(w-\d+)/\U$1/g;
printf "%d words, top %s=%d, %d bytes of text, index %d, %d upper\n",
    scalar(@sorted), $sorted[0], $count{$sorted[0]}, length($text), $total,
    scalar(() = $upper =~ /W-/g);
EOF
	timeout "$RW_TIMEOUT" $RUN perl "$1/words.pl" "$RW_PERL_N"
}

rw_sqlite() {
	mkdir -p "$1"
	rm -f "$1/db.sqlite"
	timeout "$RW_TIMEOUT" $RUN sqlite3 "$1/db.sqlite" <<EOF
create table t(id integer primary key, name text, score real);
create index t_name on t(name);
with recursive c(x) as (select 1 union all select x + 1 from c where x < $RW_SQLITE_N)
insert into t(name, score) select printf('user-%06d', x), (x * 7919) % 1000 / 10.0 from c;
select count(*), round(sum(score), 1), min(name), max(name) from t;
select substr(name, 1, 8) as p, count(*), round(avg(score), 2) from t group by p order by p limit 3;
select name from t where name like 'user-00999%' order by name;
update t set score = score + 1 where id % 3 = 0;
select count(*), round(sum(score), 1) from t where id % 3 = 0;
EOF
}

rw_python() {
	mkdir -p "$1"
	cat >"$1/records.py" <<'EOF'
import collections, json, sys
n = int(sys.argv[1])
records = [{"id": i, "name": "user-%d" % i, "tags": ["t%d" % (i % 7), "g%d" % (i % 11)],
            "score": (i * 7919) % 1000 / 10} for i in range(n)]
text = json.dumps(records)
back = json.loads(text)
by_tag = collections.defaultdict(list)
for r in back:
    for t in r["tags"]:
        by_tag[t].append(r["id"])
summary = {t: {"n": len(v), "sum": sum(v)} for t, v in sorted(by_tag.items())}
print(len(text), len(back), json.dumps(summary, sort_keys=True)[:160])
EOF
	# Debian's interpreter, not a pyenv shim script in front of it
	timeout "$RW_TIMEOUT" $RUN /usr/bin/python3 "$1/records.py" "$RW_PY_N"
}
