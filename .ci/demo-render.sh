#!/usr/bin/env bash
# demo-render.sh TOOLS_BIN — renders demo.gif and demo.txt from demo.tape.
# `make demo` runs it after .ci/demo-tools.sh; see docs/DEMO.md.
#
# The recording runs in a scratch directory's world: a fresh reauth build,
# the headless-browser stand-in for xdg-open (.ci/demo-browser), and state
# (audit log, logs) that is thrown away, so a demo never lands in an agent's
# real audit log.
set -euo pipefail
cd "$(dirname "$0")/.."
tools_bin=${1:?usage: demo-render.sh TOOLS_BIN}

work=$(mktemp -d "${TMPDIR:-/tmp}/reauth-demo.XXXXXX")
pids=$work/browser.pids
stop_browsers() {
  # Each line is the process group of one headless Chromium the stand-in
  # started; stop exactly those.
  if [ -f "$pids" ]; then
    while read -r pgid; do
      [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$pids"
  fi
  rm -rf "$work"
}
trap stop_browsers EXIT

mkdir -p "$work/bin" "$work/state" "$work/tmp"
CGO_ENABLED=0 go build -o "$work/bin/reauth" .
ln -s "$PWD/.ci/demo-browser" "$work/bin/xdg-open"

export PATH="$work/bin:$tools_bin:$PATH"
export XDG_STATE_HOME=$work/state
export TMPDIR=$work/tmp
export REAUTH_DEMO_PIDFILE=$pids
unset MONO_SECRET_KEY MONO_SECRET_KEY_FILE MONO_PUBLIC_KEY MONO_API_URL
# Chromium (driven by vhs) will not start as root with its sandbox on.
[ "$(id -u)" = 0 ] && export VHS_NO_SANDBOX=1

rm -f demo.gif demo.txt
vhs demo.tape
# The page link on screen carries the session's secret after '#'. That
# session died with the recording, but secrets stay out of committed text
# all the same (demo_test.go checks). The GIF shows it cut short by the
# screen's width.
sed -E -i 's~(/s/[A-Za-z0-9_-]+)#[A-Za-z0-9_-]+~\1#<secret>~g' demo.txt
ls -l demo.gif demo.txt
