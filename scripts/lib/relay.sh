# The relay's test services: Debian's PostgreSQL (started as a cluster, no systemd) and wrk
# (the load generator of scripts/bench-relay). Sourced by scripts/lib/setup.sh; do not run.
#
# dipper_prepare_relay installs what is missing, starts the cluster if it is down, makes a
# superuser role for the tests (`dipper_test`, password `dipper_test`, reached over TCP on
# 127.0.0.1) and exports DIPPER_TEST_POSTGRES_URL. The relay's test harness uses that role
# only to create and drop one database per test; the relay itself connects as a role
# without superuser or BYPASSRLS, so row-level security applies to it. Idempotent, and fast
# when everything is already there.

DIPPER_RELAY_APT_PACKAGES=(postgresql wrk)

dipper_prepare_relay() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local missing=()
  for pkg in "${DIPPER_RELAY_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi

  local version="" name=""
  read -r version name < <(pg_lsclusters --no-header 2>/dev/null | awk 'NR == 1 { print $1, $2 }') || true
  if [ -z "$version" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    name=main
    echo "==> creating the PostgreSQL cluster $version $name"
    $sudo pg_createcluster "$version" "$name" >/dev/null
  fi
  if ! pg_lsclusters --no-header | awk 'NR == 1 { print $4 }' | grep -q online; then
    echo "==> starting PostgreSQL $version $name"
    $sudo pg_ctlcluster "$version" "$name" start
  fi

  local port
  port="$(pg_lsclusters --no-header | awk 'NR == 1 { print $3 }')"
  local psql=(psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres)
  if [ "$(id -u)" -eq 0 ]; then
    psql=(runuser -u postgres -- "${psql[@]}")
  else
    psql=(sudo -u postgres "${psql[@]}")
  fi
  if ! "${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'dipper_test'" | grep -q 1; then
    echo "==> creating the PostgreSQL role dipper_test"
    "${psql[@]}" -c "CREATE ROLE dipper_test LOGIN SUPERUSER PASSWORD 'dipper_test'"
  fi
  export DIPPER_TEST_POSTGRES_URL="postgres://dipper_test:dipper_test@127.0.0.1:$port/postgres"
}
