#!/usr/bin/env bash
# Compiles every ```csharp block of README.md and docs/*.md as written, against the packed packages, the way a reader
# would paste it: into a new project (`dotnet new console`'s settings: nullable and implicit usings on), warnings as
# errors. A block is a whole file, so its `using` lines must be in it. It gets the EchoKit package, plus those named
# on a `// Packages: A, B` line of its own (the names a reader passes to `dotnet add package`). A block with
# statements outside any type is a program (OutputType Exe); one made only of types is a library.
#
# Usage: doc-snippets.sh FEED_DIR WORK_DIR   (WORK_DIR holds a nuget.config that maps EchoKit* to FEED_DIR; the
# package check makes one). Prints PASS/FAIL per block and exits non-zero on any failure.
set -euo pipefail
feed=$1
work=$2
root=$(cd "$(dirname "$0")/.." && pwd)
out="$work/doc-snippets"
rm -rf "$out"
mkdir -p "$out/blocks"

# One file per block, named after its page and first line: 03-HOSTING.md-L14.cs.
(cd "$root" && awk -v out="$out/blocks" '
  FNR == 1 { page = FILENAME; sub(".*/", "", page) }
  /^```csharp[[:space:]]*$/ { n++; name = sprintf("%s/%02d-%s-L%d.cs", out, n, page, FNR + 1); open = 1; printf "" > name; next }
  /^```/ && open { open = 0; close(name); next }
  open { print > name }
' README.md docs/*.md)

version_in_feed() {
  local file
  for file in "$feed"/"$1".*.nupkg; do
    file=${file##*/}; file=${file#"$1".}; file=${file%.nupkg}
    [[ $file =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] && { echo "$file"; return 0; }
  done
  return 1
}

# The version this repository pins (Directory.Packages.props), so a block never floats to an untested release.
version_pinned() {
  sed -n "s/.*<PackageVersion Include=\"$1\" Version=\"\([^\"]*\)\".*/\1/p" "$root/Directory.Packages.props" | head -n 1
}

failures=0
count=0
for block in "$out"/blocks/*.cs; do
  count=$((count + 1))
  label=$(basename "$block" .cs)
  label=${label#*-}
  packages="EchoKit"
  if line=$(grep -m1 -E '^// Packages: ' "$block"); then
    packages="$packages, ${line#// Packages: }"
  fi

  references=""
  problem=""
  for package in $(tr ',' ' ' <<<"$packages" | xargs -n1 | sort -u); do
    if [[ $package == EchoKit* ]]; then
      version=$(version_in_feed "$package") || { problem="$package is not in $feed"; break; }
    else
      version=$(version_pinned "$package")
      [ -n "$version" ] || { problem="$package has no version in Directory.Packages.props"; break; }
    fi
    references+="    <PackageReference Include=\"$package\" Version=\"$version\" />"$'\n'
  done
  if [ -n "$problem" ]; then
    printf 'FAIL %s: %s\n' "$label" "$problem"
    failures=$((failures + 1))
    continue
  fi

  # Statements at the top level (not using, comment, attribute, type or brace lines) make a program.
  if grep -vE '^(using |//|\[|\{|\}|namespace |(public |internal |sealed |static |abstract |partial |file )*(class|record|struct|interface|enum) |(public|internal|file) |$)' "$block" |
      grep -qE '^[^[:space:]]'; then
    kind=Exe
  else
    kind=Library
  fi

  project="$out/$(basename "$block" .cs)"
  mkdir -p "$project"
  cp "$block" "$project/Snippet.cs"
  cat >"$project/Snippet.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>$kind</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
$references  </ItemGroup>
</Project>
EOF
  log="$project/build.log"
  if dotnet build "$project/Snippet.csproj" -c Release -nologo -v q >"$log" 2>&1; then
    printf 'PASS %s compiles as written (%s; %s)\n' "$label" "$kind" "$packages"
  else
    printf 'FAIL %s compiles as written (%s; %s)\n' "$label" "$kind" "$packages"
    grep -E 'error|warning' "$log" | sed 's/^/    /' | sort -u | head -n 20
    failures=$((failures + 1))
  fi
done

[ "$count" -gt 0 ] || { echo "FAIL no csharp blocks found in README.md and docs/*.md"; exit 1; }
echo "doc snippets: $((count - failures)) of $count compile"
[ "$failures" -eq 0 ]
