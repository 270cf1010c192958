# Shared by scripts/test and scripts/demo: installs what a fresh Debian 12 machine with only
# the Rust toolchain lacks, and prepares the cached simulator clips. Source it; do not run.

# Debian packages the build, the tests and the demo use:
# - ffmpeg: the CLI that makes the simulator's clips, and ffprobe, which tests run on
#   downloaded recordings.
# - curl: tests check that an ordinary Digest client works against the simulator, and
#   dipper-bench runs it as the downloader's baseline.
# - libavformat-dev libavcodec-dev libavutil-dev libswscale-dev pkg-config libclang-dev: the
#   keyframe extractor links FFmpeg through ffmpeg-sys-next (bindgen needs libclang).
# - valgrind: the keyframe extractor's leak check (a documented command, not in the suite).
# - python3-venv: scripts/fetch-models makes .cache/venv (onnx and numpy for the embedder's
#   conversion, onnxruntime and faiss-cpu for the benchmarks); Debian's python3 lacks venv.
# - mosquitto mosquitto-clients: the MQTT broker between boxes and relays, with its dynamic
#   security plugin and mosquitto_ctrl; the relay's broker tests start their own instances
#   (relay/broker/mosquitto.conf). The package's own service is not used.
# - faketime: the end-to-end test of a box whose clock is wrong and jumps runs the box
#   daemon with libfaketime preloaded.
# - dpkg-dev lintian: packaging/build computes the packages' Depends with dpkg-shlibdeps, and
#   packaging/check lints the packages (issue 22; lintian is about 30 s to install, once).
# - dpkg-repack: the box's software installer keeps the running package with it for a
#   rollback (a Depends of the dipper package; the update test runs the installer).
# Add a package here with the issue that first needs it.
DIPPER_APT_PACKAGES=(ffmpeg curl libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  pkg-config libclang-dev valgrind python3-venv mosquitto mosquitto-clients faketime systemd
  chromium chromium-driver fonts-noto-cjk dpkg-dev lintian dpkg-repack)

dipper_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# One target dir outside the clone, shared by every script and every clone on the machine, so
# a fresh clone (CI's) compiles only the workspace's own crates when the dependencies were
# built before. Set CARGO_TARGET_DIR to use another.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dipper/target}"
# Cargo copies a binary to $CARGO_TARGET_DIR/debug only when it compiles it, so after another
# clone compiled there, a clone that is still fresh would run the other clone's `dipper` or
# `isapi-sim` (with the other clone's paths built in). When the target dir was last claimed
# by another clone, this clone's sources are touched so that its next build compiles the
# workspace's crates and copies its own binaries.
dipper_claim_target_dir() {
  local marker="$CARGO_TARGET_DIR/.dipper-clone"
  mkdir -p "$CARGO_TARGET_DIR"
  if [ "$(cat "$marker" 2>/dev/null)" != "$dipper_repo" ]; then
    find "$dipper_repo" \( -path "$dipper_repo/.cache" -o -path "$dipper_repo/target" -o -path "$dipper_repo/.git" \) -prune \
      -o -name '*.rs' -type f -print0 | xargs -0 -r touch
    echo "$dipper_repo" >"$marker"
  fi
}
dipper_claim_target_dir

# CI builds each clone once, in a new folder: incremental data (gigabytes per clone) would
# never be used again, so it is not written.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi
# shellcheck source=scripts/lib/relay.sh
source "$dipper_repo/scripts/lib/relay.sh"
# shellcheck source=scripts/lib/interop.sh
source "$dipper_repo/scripts/lib/interop.sh"

dipper_install_packages() {
  local missing=()
  for pkg in "${DIPPER_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Node.js and npm: scripts/fetch-models installs face-api and TensorFlow.js with npm, and the
# models crate's reference test runs them. Checked by command, not by Debian package, since a
# machine may have Node.js from elsewhere (its own npm conflicts with Debian's npm package).
dipper_install_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "==> installing Debian packages: nodejs npm"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
}

dipper_install_rust_tools() {
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

# Where `cargo install` puts the tools the tests run as programs (s3s-fs), cached across runs
# and clones, and on PATH for the scripts and the tests they start.
DIPPER_TOOLS_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/dipper/tools"
export PATH="$DIPPER_TOOLS_DIR/bin:$PATH"

# s3s-fs: a real S3 server over a folder, which checks signatures and presigned URLs; the
# relay's object-store tests and the demo run it (testkit/src/s3.rs). Built once (a few
# minutes), then kept in the tools cache. Its own target dir, not the workspace's.
dipper_install_s3s_fs() {
  if [ ! -x "$DIPPER_TOOLS_DIR/bin/s3s-fs" ]; then
    echo "==> installing s3s-fs into $DIPPER_TOOLS_DIR"
    env -u CARGO_TARGET_DIR cargo install s3s-fs --version 0.14.1 --features binary --locked \
      --root "$DIPPER_TOOLS_DIR"
  fi
}

# cargo-afl: AFL++ (built from the sources the crate carries, under ~/.local/share/afl.rs) and
# the `cargo afl` commands scripts/fuzz builds and runs the fuzz targets with. Stable Rust;
# only scripts/fuzz (and so scripts/test) needs it.
dipper_install_cargo_afl() {
  if [ ! -x "$DIPPER_TOOLS_DIR/bin/cargo-afl" ]; then
    echo "==> installing cargo-afl into $DIPPER_TOOLS_DIR"
    env -u CARGO_TARGET_DIR cargo install cargo-afl --version 0.18.2 --locked \
      --root "$DIPPER_TOOLS_DIR"
  fi
  if ! cargo afl config --help >/dev/null 2>&1 || \
     ! ls "${XDG_DATA_HOME:-$HOME/.local/share}"/afl.rs/rustc-*/afl.rs-*/afl/bin/afl-fuzz >/dev/null 2>&1; then
    cargo afl config --build --force
  fi
}

# The one feature set and profile every script builds with, so that scripts/test, scripts/demo
# and the benches share one set of compiled dependencies in $CARGO_TARGET_DIR and the second
# command compiles nothing the first one already did.
DIPPER_CARGO_FEATURES=(--workspace --all-features)

# Phase timing: `dipper_phase NAME` ends the running phase and starts NAME; the table of
# phases and their seconds is printed when the script exits (also on failure).
dipper_phase_name=""
dipper_phase_started=$SECONDS
dipper_phase_table=()
dipper_phase() {
  if [ -n "$dipper_phase_name" ]; then
    dipper_phase_table+=("$dipper_phase_name $((SECONDS - dipper_phase_started))")
  fi
  dipper_phase_name="$1"
  dipper_phase_started=$SECONDS
}
dipper_phase_report() {
  dipper_phase ""
  echo "==> time by phase"
  local row
  for row in "${dipper_phase_table[@]}"; do
    printf '  %-8s %6ss\n' "${row% *}" "${row##* }"
  done
}

dipper_prepare() {
  dipper_install_packages
  dipper_install_node
  dipper_install_rust_tools
  dipper_install_s3s_fs
  dipper_prepare_relay
  dipper_prepare_interop
  dipper_prepare_oidc
  "$dipper_repo/scripts/fetch-models"
  "$dipper_repo/scripts/make-clips"
}
