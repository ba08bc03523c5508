#!/usr/bin/env bash
# Runs the README's two ways to the echokit tool from a clone, as written there:
#   1. the `dotnet run --project src/EchoKit.Cli ...` line: it must listen and echo one message, and stop on SIGTERM;
#   2. the `dotnet pack src/EchoKit.Cli ... && dotnet tool install --global ...` line, with --tool-path <tmp> in place
#      of --global (CI must not change the machine's global tools): the installed `echokit --version` must run.
# Prints PASS/FAIL lines and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/echokit-readme-tool.XXXXXX")
pgid=""
cleanup() {
  [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }

run_line=$(grep -m1 -E '^dotnet run --project src/EchoKit.Cli ' README.md | sed 's/[[:space:]]*#.*$//') || true
if [ -z "$run_line" ]; then
  fail "README.md has a 'dotnet run --project src/EchoKit.Cli ...' line"
else
  endpoint=$(grep -oE -- '--tcp [0-9.]+:[0-9]+' <<<"$run_line" | head -n 1 | cut -d' ' -f2)
  host=${endpoint%:*}
  port=${endpoint##*:}
  echo "running: $run_line"
  setsid bash -c "exec $run_line" >"$work/serve.out" 2>"$work/serve.err" &
  pgid=$!
  for _ in $(seq 1 1800); do
    grep -q '^Listening on' "$work/serve.out" 2>/dev/null && break
    kill -0 "$pgid" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '^Listening on' "$work/serve.out"; then
    pass "the README's dotnet run line listens ($(grep -m1 '^Listening on' "$work/serve.out"))"
    reply=""
    if exec 3<>"/dev/tcp/$host/$port"; then
      printf 'hello echokit' >&3
      IFS= read -r -t 10 -n 13 reply <&3 || true
      exec 3>&-
    fi
    if [ "$reply" = "hello echokit" ]; then pass "it echoes one message"; else fail "it echoes one message (got '$reply')"; fi
    kill -TERM -- "-$pgid"
    for _ in $(seq 1 300); do
      kill -0 "$pgid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pgid" 2>/dev/null; then fail "it stops within 30 s of SIGTERM"; else pass "it stops on SIGTERM"; pgid=""; fi
  else
    fail "the README's dotnet run line listens"
    tail -n 20 "$work/serve.out" "$work/serve.err"
  fi
fi

install_line=$(grep -oE 'dotnet pack src/EchoKit.Cli [^`]*&& dotnet tool install --global [^`]*' README.md | head -n 1) || true
if [ -z "$install_line" ]; then
  fail "README.md has a 'dotnet pack src/EchoKit.Cli ... && dotnet tool install --global ...' line"
else
  install_line=${install_line/--global/--tool-path $work/tools}
  echo "running: $install_line"
  if bash -c "$install_line" >"$work/install.log" 2>&1 && "$work/tools/echokit" --version >"$work/version.txt" 2>&1; then
    pass "the README's install line installs echokit $(cat "$work/version.txt")"
  else
    fail "the README's install line installs echokit"
    tail -n 30 "$work/install.log"
    cat "$work/version.txt" 2>/dev/null || true
  fi
fi

[ "$failures" -eq 0 ]
