#!/bin/sh
# deps.sh - make sure the Debian packages om builds and tests with are here.
# As root, installs what is missing; otherwise prints the apt-get line to run
# and fails.  The list is the one place the project's dependencies are named;
# other steps give their own list as arguments (make fuzz: clang).
set -u

pkgs="make gcc pkg-config libarchive-dev libsodium-dev libzstd-dev libpq-dev
      libjansson-dev libutf8proc-dev nettle-dev postgresql postgresql-client git tar zstd procps perl time jq strace
      bsdutils systemd tmux python3 openssl zip"
[ $# -gt 0 ] && pkgs="$*"

missing=
for p in $pkgs; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "om: missing Debian packages; run:" >&2
	echo "  sudo apt-get install$missing" >&2
	exit 2
fi
echo "om: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null &&
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	echo "om: apt-get install$missing failed" >&2
	exit 2
}
