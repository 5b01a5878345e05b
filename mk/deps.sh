#!/bin/sh
# deps.sh - make sure the Debian packages a build step needs are installed.
#
#   mk/deps.sh build   libraries and tools to build poolscout
#   mk/deps.sh test    what the tests use on top (real readers, real programs)
#   mk/deps.sh bench   what the benchmark runs: heaptrack to compare with,
#                      time, and the real programs it profiles
#
# As root with apt-get available it installs what is missing; otherwise it
# prints the exact apt-get line and fails.
set -eu

build="gcc g++ make pkg-config libunwind-dev uthash-dev libdw-dev libelf-dev \
zlib1g-dev libprotobuf-c-dev protobuf-c-compiler golang-github-google-pprof-dev \
libcmocka-dev libiberty-dev"
test="$build google-perftools libgoogle-perftools-dev golang-go python3 perl \
sqlite3 jq clang libclang-rt-14-dev binutils chromium fonts-liberation \
python3-websocket git redis-server redis-tools nginx apache2-utils curl strace \
time valgrind libjemalloc2 libtcmalloc-minimal4 rustc procps"
bench="$build heaptrack time jq python3 perl sqlite3 clang git \
redis-server redis-tools nginx apache2-utils curl"

case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "poolscout: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	exit 0
fi
echo "poolscout: missing Debian packages; install them with:" >&2
echo "  sudo apt-get install -y$missing" >&2
exit 1
