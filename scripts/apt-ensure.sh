#!/usr/bin/env bash
# apt-ensure.sh PACKAGE...: install the Debian packages dpkg does not report as installed
# (`apt-get update` once, only when something is missing). Needs root only then.
set -euo pipefail
missing=""
for p in "$@"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then echo "deps: need root to apt-get install$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
