#!/usr/bin/env bash
# Packs EchoKit, EchoKit.Hosting and the EchoKit.Cli tool into artifacts/packages and checks what a user gets:
#   1. each .nupkg holds README.md, LICENSE, icon.png, the nuspec metadata (license, readme, icon, repository with
#      commit), the libraries' lib/net10.0 DLL and XML docs or the tool's tools/net10.0/any files;
#   2. each has a .snupkg whose PDBs carry SourceLink data pointing at GitHub;
#   3. a tiny console app built against the packed EchoKit (from the local folder feed, not a project reference)
#      starts an EchoServer on 127.0.0.1:0 and gets one message echoed; the same for EchoKit.Hosting in a Host;
#   4. `dotnet tool install --add-source artifacts/packages EchoKit.Cli` installs `echokit`, whose `serve` and
#      `bench --json` run against each other, and `serve` exits 0 on SIGTERM.
# Run from anywhere after the tests pass (.ci/run does); prints PASS/FAIL lines and exits non-zero on any failure.
# The consumers and the tool restore into a private, empty NuGet cache, so a package of the same version cached
# earlier cannot hide a broken one. NUGET_DEFAULT_SOURCE overrides the feed that dependencies come from.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

started=$SECONDS
feed_dir=artifacts/packages
default_source=${NUGET_DEFAULT_SOURCE:-https://api.nuget.org/v3/index.json}
failures=0
work=$(mktemp -d "${TMPDIR:-/tmp}/echokit-package-check.XXXXXX")
serve_pid=""

cleanup() {
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -KILL "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
# check "description" command...: PASS when the command succeeds, FAIL otherwise.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# Runs a command quietly; on failure shows its output (last 40 lines) and returns its status.
quiet() {
  local log="$work/last-command.log" status=0
  "$@" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    echo "--- $* (exit $status):"
    tail -n 40 "$log"
  fi
  return "$status"
}
step() { printf '\n--- %s (%ss)\n' "$1" "$((SECONDS - started))"; }

# ---------------------------------------------------------------------------------------------------------------
step "Pack"
rm -rf "$feed_dir"
mkdir -p "$feed_dir"
for project in EchoKit EchoKit.Hosting EchoKit.Cli; do
  check "dotnet pack $project" quiet dotnet pack "src/$project/$project.csproj" -c Release -o "$feed_dir"
done
feed=$(cd "$feed_dir" && pwd)

# The version from the file name, such as EchoKit.0.1.0.nupkg -> 0.1.0.
version_of() {
  local id=$1 file
  for file in "$feed"/"$id".*.nupkg; do
    file=${file##*/}
    file=${file#"$id".}
    file=${file%.nupkg}
    if [[ $file =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]]; then
      echo "$file"
      return 0
    fi
  done
  return 1
}

head_commit=$(git rev-parse HEAD 2>/dev/null || true)
contains() { grep -qF -- "$2" <<<"$1"; }
has_line() { grep -qxF -- "$2" <<<"$1"; }
matches() { grep -qE -- "$2" <<<"$1"; }

# ---------------------------------------------------------------------------------------------------------------
step "Package contents"
declare -A versions
for id in EchoKit EchoKit.Hosting EchoKit.Cli; do
  if ! version=$(version_of "$id"); then
    fail "$id: no $id.<version>.nupkg in $feed_dir"
    continue
  fi
  versions[$id]=$version
  nupkg="$feed/$id.$version.nupkg"
  snupkg="$feed/$id.$version.snupkg"
  listing=$(unzip -Z1 "$nupkg")
  nuspec=$(unzip -p "$nupkg" "$id.nuspec" 2>/dev/null || true)

  for file in README.md LICENSE icon.png; do
    check "$id $version has $file" has_line "$listing" "$file"
  done
  check "$id nuspec: <readme>README.md</readme>" contains "$nuspec" "<readme>README.md</readme>"
  check "$id nuspec: <icon>icon.png</icon>" contains "$nuspec" "<icon>icon.png</icon>"
  check "$id nuspec: MIT license expression" contains "$nuspec" '<license type="expression">MIT</license>'
  check "$id nuspec: <repository type=\"git\" url=\"https://...\" commit=\"<sha>\">" \
    matches "$nuspec" '<repository type="git" url="https://[^"]+"[^>]* commit="[0-9a-f]{40}"'
  if [ -n "$head_commit" ]; then
    check "$id nuspec: repository commit is HEAD ($head_commit)" contains "$nuspec" "commit=\"$head_commit\""
  fi

  if [ "$id" = EchoKit.Cli ]; then
    check "$id is a .NET tool package (packageType DotnetTool)" contains "$nuspec" '<packageType name="DotnetTool"'
    settings=$(unzip -p "$nupkg" tools/net10.0/any/DotnetToolSettings.xml 2>/dev/null || true)
    check "$id: DotnetToolSettings.xml declares the command echokit" contains "$settings" 'Command Name="echokit"'
    for file in EchoKit.Cli.dll EchoKit.dll EchoKit.Hosting.dll EchoKit.LoadGenerator.dll System.CommandLine.dll; do
      check "$id has tools/net10.0/any/$file" has_line "$listing" "tools/net10.0/any/$file"
    done
    pdb_path=tools/net10.0/any/EchoKit.Cli.pdb
  else
    for file in "lib/net10.0/$id.dll" "lib/net10.0/$id.xml"; do
      check "$id has $file" has_line "$listing" "$file"
    done
    pdb_path=lib/net10.0/$id.pdb
  fi
  if [ "$id" = EchoKit.Hosting ]; then
    check "EchoKit.Hosting depends on EchoKit $version" contains "$nuspec" "<dependency id=\"EchoKit\" version=\"$version\""
  fi

  if [ ! -f "$snupkg" ]; then
    fail "$id: $id.$version.snupkg exists"
    continue
  fi
  pass "$id: $id.$version.snupkg exists"
  pdb="$work/$id.pdb"
  if unzip -p "$snupkg" "$pdb_path" >"$pdb" 2>/dev/null && [ -s "$pdb" ]; then
    pass "$id snupkg holds $pdb_path"
    # Portable PDB: the SourceLink custom debug information is the plain JSON map, such as
    # {"documents":{"/_/*":"https://raw.githubusercontent.com/echokit/echokit/<sha>/*"}}.
    check "$id PDB has SourceLink data (a \"documents\" map to raw.githubusercontent.com)" \
      grep -aqE '\{"documents":\{"[^"]+":"https://raw\.githubusercontent\.com/[^"]+/[0-9a-f]{40}/\*"' "$pdb"
    if [ "${CI:-}" = true ]; then
      check "$id PDB has deterministic source paths (/_/, ContinuousIntegrationBuild)" grep -aqF '/_/' "$pdb"
    fi
  else
    fail "$id snupkg holds $pdb_path"
  fi
done

# ---------------------------------------------------------------------------------------------------------------
# Consumers: their own nuget.config with the local feed (EchoKit* may come only from it, by package source mapping)
# and the default source for dependencies, a private package cache, and no Directory.Build.props from this
# repository above them. (`dotnet add package --source <folder>` would restore from that folder alone, where the
# dependencies such as Microsoft.Extensions.Logging.Abstractions are not, so the mapping does that job.)
consumers="$work/consumers"
mkdir -p "$consumers"
cat >"$consumers/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="default" value="$default_source" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="local">
      <package pattern="EchoKit" />
      <package pattern="EchoKit.*" />
    </packageSource>
    <packageSource key="default">
      <package pattern="*" />
    </packageSource>
  </packageSourceMapping>
</configuration>
EOF
export NUGET_PACKAGES="$work/nuget-packages"

new_console() {
  mkdir -p "$1"
  cat >"$1/$(basename "$1").csproj" <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
</Project>
EOF
}

if [ -n "${versions[EchoKit]:-}" ]; then
  step "Consumer of EchoKit ${versions[EchoKit]}"
  app="$consumers/LibraryConsumer"
  new_console "$app"
  cat >"$app/Program.cs" <<'EOF'
using System.Net;
using System.Net.Sockets;
using System.Text;
using EchoKit;

var options = new EchoServerOptions { EndPoints = { new IPEndPoint(IPAddress.Loopback, 0) } };
await using var server = new EchoServer(options);
await server.StartAsync();
var endPoint = (IPEndPoint)server.EndPoints[0];

using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
await client.ConnectAsync(endPoint, timeout.Token);
var message = Encoding.UTF8.GetBytes("hello from a consumer of the EchoKit package");
await client.SendAsync(message, SocketFlags.None, timeout.Token);
var echo = new byte[message.Length];
var received = 0;
while (received < echo.Length)
{
    var n = await client.ReceiveAsync(echo.AsMemory(received), SocketFlags.None, timeout.Token);
    if (n == 0)
    {
        break;
    }

    received += n;
}

await server.StopAsync();
if (!echo.AsSpan(0, received).SequenceEqual(message))
{
    Console.Error.WriteLine($"echo mismatch: {Encoding.UTF8.GetString(echo, 0, received)}");
    return 1;
}

Console.WriteLine($"echoed {received} bytes on {endPoint}");
return 0;
EOF
  if (cd "$app" && quiet dotnet add package EchoKit --version "${versions[EchoKit]}"); then
    pass "dotnet add package EchoKit --version ${versions[EchoKit]} (from $feed_dir)"
    check "EchoKit consumer builds and echoes one message" quiet timeout 120 dotnet run --project "$app" -c Release
  else
    fail "dotnet add package EchoKit --version ${versions[EchoKit]} (from $feed_dir)"
  fi
fi

if [ -n "${versions[EchoKit.Hosting]:-}" ]; then
  step "Consumer of EchoKit.Hosting ${versions[EchoKit.Hosting]}"
  app="$consumers/HostingConsumer"
  new_console "$app"
  cat >"$app/Program.cs" <<'EOF'
using System.Net;
using System.Net.Sockets;
using System.Text;
using EchoKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Configuration from the command line: --EchoServer:EndPoints:0=127.0.0.1:0 (bound by EchoKit.Hosting).
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddEchoServer(builder.Configuration.GetSection("EchoServer"));
using var host = builder.Build();
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
await host.StartAsync(timeout.Token);
var endPoint = (IPEndPoint)host.Services.GetRequiredService<EchoServer>().EndPoints[0];

using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
await client.ConnectAsync(endPoint, timeout.Token);
var message = Encoding.UTF8.GetBytes("hello from a consumer of the EchoKit.Hosting package");
await client.SendAsync(message, SocketFlags.None, timeout.Token);
var echo = new byte[message.Length];
var received = 0;
while (received < echo.Length)
{
    var n = await client.ReceiveAsync(echo.AsMemory(received), SocketFlags.None, timeout.Token);
    if (n == 0)
    {
        break;
    }

    received += n;
}

await host.StopAsync(timeout.Token);
if (!echo.AsSpan(0, received).SequenceEqual(message))
{
    Console.Error.WriteLine($"echo mismatch: {Encoding.UTF8.GetString(echo, 0, received)}");
    return 1;
}

Console.WriteLine($"echoed {received} bytes on {endPoint} in a Host");
return 0;
EOF
  if (cd "$app" && quiet dotnet add package EchoKit.Hosting --version "${versions[EchoKit.Hosting]}" &&
    quiet dotnet add package Microsoft.Extensions.Hosting --version 10.0.0); then
    pass "dotnet add package EchoKit.Hosting --version ${versions[EchoKit.Hosting]} (from $feed_dir)"
    check "EchoKit.Hosting consumer starts a Host with AddEchoServer and echoes one message" \
      quiet timeout 120 dotnet run --project "$app" -c Release -- --EchoServer:EndPoints:0=127.0.0.1:0
  else
    fail "dotnet add package EchoKit.Hosting --version ${versions[EchoKit.Hosting]} (from $feed_dir)"
  fi
fi

# ---------------------------------------------------------------------------------------------------------------
step "Doc snippets"
check "every csharp block of README.md and docs/*.md compiles as written against the packed packages" \
  bash .ci/doc-snippets.sh "$feed" "$consumers"

# ---------------------------------------------------------------------------------------------------------------
if [ -n "${versions[EchoKit.Cli]:-}" ]; then
  version=${versions[EchoKit.Cli]}
  step "dotnet tool install EchoKit.Cli $version"
  tools="$work/tools"
  # Only the local feed: the tool package carries its dependencies, and nothing else may stand in for it.
  tool_cwd="$work/tool-install"
  mkdir -p "$tool_cwd"
  cat >"$tool_cwd/nuget.config" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
  </packageSources>
</configuration>
EOF
  if (cd "$tool_cwd" && quiet dotnet tool install --tool-path "$tools" --configfile "$tool_cwd/nuget.config" --add-source "$feed" EchoKit.Cli --version "$version"); then
    pass "dotnet tool install --tool-path <tmp> --add-source $feed_dir EchoKit.Cli --version $version"
    echokit="$tools/echokit"
    check "echokit --version prints $version" matches "$("$echokit" --version 2>&1)" "^${version//./\\.}(\+[0-9a-f]+)?$"
    check "echokit --help exits 0" quiet "$echokit" --help

    step "echokit serve + echokit bench"
    failures_before=$failures
    "$echokit" serve --tcp 127.0.0.1:0 --status-interval 1 >"$work/serve.out" 2>"$work/serve.err" &
    serve_pid=$!
    endpoint=""
    for _ in $(seq 1 300); do
      endpoint=$(sed -n 's/^Listening on tcp \(127\.0\.0\.1:[0-9][0-9]*\)$/\1/p' "$work/serve.out")
      if [ -n "$endpoint" ] || ! kill -0 "$serve_pid" 2>/dev/null; then
        break
      fi
      sleep 0.1
    done
    if [ -n "$endpoint" ]; then
      pass "echokit serve --tcp 127.0.0.1:0 listens ($endpoint)"
      bench_status=0
      timeout 120 "$echokit" bench "$endpoint" --duration 2 --json >"$work/bench.json" 2>"$work/bench.err" || bench_status=$?
      check "echokit bench $endpoint --duration 2 --json exits 0" test "$bench_status" -eq 0
      bench=$(cat "$work/bench.json")
      check "bench JSON: \"errors\": 0" matches "$bench" '^  "errors": 0,$'
      check "bench JSON: \"mismatches\": 0" matches "$bench" '^  "mismatches": 0,$'
      check "bench JSON: \"ok\": true" matches "$bench" '^  "ok": true$'
      check "bench JSON: messages echoed" matches "$bench" '^  "messages": [1-9][0-9]*,$'
      check "bench JSON: a p99.9 latency" matches "$bench" '^    "p999": [0-9.]+,$'
      if [ "$bench_status" -ne 0 ]; then
        echo "--- bench stdout:"; cat "$work/bench.json"; echo "--- bench stderr:"; cat "$work/bench.err"
      else
        sed -n 's/^  "\(messagesPerSecond\|mebibytesPerSecond\)": \(.*\),$/    \1 \2/p' "$work/bench.json"
      fi

      kill -TERM "$serve_pid"
      serve_status=0
      for _ in $(seq 1 300); do
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$serve_pid" 2>/dev/null; then
        fail "echokit serve stops within 30 s of SIGTERM"
        kill -KILL "$serve_pid" 2>/dev/null || true
      else
        wait "$serve_pid" || serve_status=$?
        check "echokit serve exits 0 on SIGTERM (was $serve_status)" test "$serve_status" -eq 0
      fi
      serve_pid=""
      check "echokit serve printed its status line and a summary" \
        grep -qE '^Stopped after .*: [1-9][0-9,]* connection\(s\) accepted, 0 rejected' "$work/serve.out"
    else
      fail "echokit serve --tcp 127.0.0.1:0 listens"
    fi
    if [ "$failures" -gt "$failures_before" ] && [ -f "$work/serve.out" ]; then
      echo "--- serve stdout:"; tail -n 20 "$work/serve.out"; echo "--- serve stderr:"; tail -n 20 "$work/serve.err"
    fi
  else
    fail "dotnet tool install --tool-path <tmp> --add-source $feed_dir EchoKit.Cli --version $version"
  fi
fi

echo
elapsed=$((SECONDS - started))
if [ "$failures" -eq 0 ]; then
  echo "package check: PASS (${elapsed}s)"
else
  echo "package check: FAIL, $failures check(s) failed (${elapsed}s)"
  exit 1
fi
