#!/usr/bin/env bash
# Install the Debian packages listed in debian-packages.txt that are missing.
# Runs apt-get update once, and only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r pkg hint _; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  # "pkg cmd:NAME": the command NAME may come from elsewhere (e.g. Node.js's own npm); then skip pkg
  if [[ "${hint:-}" == cmd:* ]] && command -v "${hint#cmd:}" >/dev/null 2>&1; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < debian-packages.txt
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "setup: installing Debian packages: ${missing[*]}"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
