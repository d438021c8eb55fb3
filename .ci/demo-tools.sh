#!/usr/bin/env bash
# demo-tools.sh — installs what `make demo` needs to render demo.gif, and
# nothing when it is all there already (safe to run every time).
#
#   Debian packages  ffmpeg (vhs encodes with it), chromium (vhs drives a
#                    headless browser; the demo's widget page runs in one),
#                    fonts-jetbrains-mono (the tape's font: same glyphs on
#                    every machine), and the compilers/libraries ttyd needs.
#   vhs v0.10.0      `go install`ed on its own, from outside this module: vhs
#                    is built on Charm's v1 libraries and must never enter
#                    our go.mod.
#   ttyd 1.7.7       vhs runs the shell inside ttyd. Debian bookworm has no
#                    ttyd package, so it is built from source: the upstream
#                    tarball as Debian ships it (pinned by SHA-256), compiled
#                    against bookworm's libwebsockets, json-c and libuv.
#
# Tools go to $REAUTH_DEMO_TOOLS/bin (default ~/.cache/reauth/demo-tools/bin);
# the last line printed is that directory, for PATH.
set -euo pipefail

TOOLS=${REAUTH_DEMO_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/reauth/demo-tools}
BIN=$TOOLS/bin
VHS_VERSION=v0.10.0
TTYD_VERSION=1.7.7
TTYD_ORIG=ttyd_${TTYD_VERSION}.orig.tar.xz
TTYD_SHA256=48eba3f76af237f4c09cceb5ddbe0f845832557819f7e5c60c88285f8822af88
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "demo-tools: $*" >&2; }
die() { say "$*"; exit 1; }

mkdir -p "$BIN"
SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install the Debian packages listed in docs/DEMO.md yourself"
  SUDO=sudo
fi

# ---- Debian packages: only the missing ones, one apt-get run ----
need_pkgs=(ffmpeg fonts-jetbrains-mono curl xz-utils ca-certificates
  cmake make gcc pkg-config libwebsockets-dev libjson-c-dev libuv1-dev zlib1g-dev libssl-dev)
# vhs and the demo take any Chromium-family browser already installed.
command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || need_pkgs+=(chromium)
missing=()
for p in "${need_pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get: see docs/DEMO.md"
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- vhs, on its own ----
if ! "$BIN/vhs" --version 2>/dev/null | grep -q "${VHS_VERSION#v}"; then
  say "installing vhs $VHS_VERSION"
  command -v go >/dev/null 2>&1 || die "go is not on PATH"
  # Outside any module, so this repository's go.mod is never consulted or changed.
  ( cd "$(mktemp -d)" && GOBIN="$BIN" GOFLAGS=-mod=mod GO111MODULE=on go install "github.com/charmbracelet/vhs@$VHS_VERSION" )
fi

# ---- ttyd, from source ----
if ! "$BIN/ttyd" --version 2>/dev/null | grep -q "$TTYD_VERSION"; then
  say "building ttyd $TTYD_VERSION from source"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  tarball=$work/$TTYD_ORIG
  # Debian keeps upstream's release tarball in its pool (the package is in
  # sid, not in bookworm). Fetched over plain http, so the pinned hash is the
  # integrity check.
  # TTYD_TARBALL: a copy of that file fetched some other way.
  if [ -n "${TTYD_TARBALL:-}" ]; then
    cp "$TTYD_TARBALL" "$tarball"
  elif ! curl -fsSL --retry 3 -o "$tarball" "$DEBIAN_MIRROR/pool/main/t/ttyd/$TTYD_ORIG"; then
    die "cannot download $DEBIAN_MIRROR/pool/main/t/ttyd/$TTYD_ORIG; fetch it (sha256 $TTYD_SHA256) some other way and rerun with TTYD_TARBALL=/path/to/$TTYD_ORIG"
  fi
  echo "$TTYD_SHA256  $tarball" | sha256sum -c --quiet - || die "ttyd tarball checksum mismatch"
  tar -xJf "$tarball" -C "$work"
  # src/html.h in the tarball is the prebuilt web terminal, so no node build.
  cmake -S "$work/ttyd-$TTYD_VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 ||
    { cat "$work/cmake.log" >&2; die "ttyd: cmake failed"; }
  make -C "$work/build" -j"$(nproc 2>/dev/null || echo 2)" >"$work/make.log" 2>&1 ||
    { tail -n 30 "$work/make.log" >&2; die "ttyd: build failed"; }
  install -m 0755 "$work/build/ttyd" "$BIN/ttyd"
fi

"$BIN/ttyd" --version >&2
"$BIN/vhs" --version >&2
echo "$BIN"
