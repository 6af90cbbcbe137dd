#!/bin/sh
# Installs the Debian bookworm packages tally needs to build, test and run,
# with apt-get when any is missing (sudo when not root). `deps.sh bench`: and
# what `make bench` needs.
set -e
PKGS="gcc make pkg-config xxd libpq-dev postgresql librdkafka-dev libcjson-dev \
libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libcmocka-dev clang libclang-rt-14-dev \
clang-format kcat curl python3 libprotobuf-c-dev protobuf-c-compiler zlib1g-dev prometheus"
# `make bench` also loads the HTTP API (bench/router.sh, bench/web.sh)
[ "${1:-}" = bench ] && PKGS="$PKGS wrk"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# The dashboard's assets come from npm; a machine with its own Node.js keeps it.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "tally: installing missing packages:$missing" >&2
if [ "$(id -u)" = 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "tally: cannot install$missing (not root and no sudo); install them with apt-get as root and re-run" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing; }; then
	echo "tally: apt-get could not install:$missing - install these Debian packages and re-run" >&2
	exit 1
fi
