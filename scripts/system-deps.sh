#!/usr/bin/env bash
# Checks the system libraries Packetizer needs and installs the missing ones with
# apt-get when running as root; otherwise stops with the exact command to run.
#   scripts/system-deps.sh run    WeasyPrint's Pango stack and fonts
#   scripts/system-deps.sh test   the above, plus Chromium for the browser tests
set -euo pipefail

want=("${1:-run}")
missing=()

libs=$(ldconfig -p 2>/dev/null || true)
fonts=$(fc-list 2>/dev/null || true)
has_lib() { [[ "$libs" == *"$1"* ]]; }

has_lib 'libpango-1.0.so.0' || missing+=(libpango-1.0-0)
has_lib 'libpangoft2-1.0.so.0' || missing+=(libpangoft2-1.0-0)
has_lib 'libharfbuzz-subset.so.0' || missing+=(libharfbuzz-subset0)
[[ "$fonts" == *DejaVuSans* ]] || missing+=(fonts-dejavu-core)
if [[ "${want[0]}" == "test" ]]; then
  command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
  exit 0
fi
echo "Packetizer needs these system packages: ${missing[*]}" >&2
echo "Install them with:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
