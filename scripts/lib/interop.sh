# The third-party ISAPI clients that isapi/tests/interop.rs runs against the simulator
# (hikvisionapi and hikload from PyPI, pinned in isapi/tools/interop/requirements.txt), in a
# venv of their own: .cache/interop-venv. Sourced by scripts/lib/setup.sh; do not run.
#
# dipper_prepare_interop makes the venv once and again only when the requirements change.

dipper_prepare_interop() {
  local venv="$dipper_repo/.cache/interop-venv"
  local requirements="$dipper_repo/isapi/tools/interop/requirements.txt"
  local stamp
  stamp="$(sha256sum "$requirements" | cut -c1-16)"
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "==> installing the third-party ISAPI clients into .cache/interop-venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  # hikload's declared dependencies pin PyQt5 and an lxml without wheels for this Python;
  # its ISAPI modules need only what requirements.txt installs.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps hikload==1.1.4
  "$venv/bin/python" -c "import hikvisionapi, hikload.hikvisionapi.classes"
  echo "$stamp" >"$venv/.stamp"
}

# The OpenID Connect provider of the console's sign-in tests (testkit/src/oidc.rs): panva's
# oidc-provider from npm, pinned by testkit/oidc/package-lock.json (npm ci checks every
# package's sha512), with testkit/oidc/provider.mjs beside its node_modules (ES modules find
# their packages from their own folder) in .cache/oidc.
dipper_prepare_oidc() {
  local dir="$dipper_repo/.cache/oidc"
  local source="$dipper_repo/testkit/oidc"
  local stamp
  stamp="$(cat "$source/package-lock.json" "$source/provider.mjs" | sha256sum | cut -c1-16)"
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  dipper_install_node
  echo "==> installing the test OpenID Connect provider (oidc-provider, npm ci) into .cache/oidc"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$source/package.json" "$source/package-lock.json" "$source/provider.mjs" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$stamp" >"$dir/.stamp"
}
