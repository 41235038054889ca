# Sourced by the up.sh scripts of the test control plane and the test node.
# wait_for DESCRIPTION SECONDS COMMAND...: runs COMMAND until it succeeds; after SECONDS, prints
# the tails of the logs in $dir and exits.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "timed out waiting for $what; logs in $dir" >&2
      tail -n 30 "$dir"/*.log >&2
      exit 1
    fi
    sleep 0.2
  done
}
