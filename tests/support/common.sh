# Sourced by the scripts that test Latchkey with clients that are not Rust (tests/*/run.sh,
# tests/support/live_server.sh): the steps they all take, written once.

# free_port: a TCP port on 127.0.0.1 that is free now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# python_venv DIR CHECK PIP_ARGS…: the venv DIR (cached between runs), made anew and given
# `pip install PIP_ARGS…` unless its python already runs `CHECK` (e.g. 'import requests').
python_venv() {
  local venv=$1 check=$2
  shift 2
  if ! "$venv/bin/python" -c "$check" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  fi
}

# own_database NAME TOKEN_PREFIX: creates the database NAME on DATABASE_URL's server and points
# DATABASE_URL at it. Sets own_db_base (the URL it had, to drop NAME from at the end) and
# own_db_server (the server's URL, for more databases), exports a fresh LATCHKEY_SEALING_KEY
# (made by $LATCHKEY_BIN), an operator token and RUST_LOG=warn.
own_database() {
  : "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
  own_db_base="${DATABASE_URL%%\?*}"
  own_db_server="${own_db_base%/*}"
  psql -q "$DATABASE_URL" -c "CREATE DATABASE \"$1\"" >/dev/null
  export DATABASE_URL="$own_db_server/$1"
  LATCHKEY_SEALING_KEY="$("$LATCHKEY_BIN" keys generate)"
  export LATCHKEY_SEALING_KEY
  export LATCHKEY_OPERATOR_TOKEN="$2-operator-$$-token"
  export RUST_LOG=warn
}
