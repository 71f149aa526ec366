#!/usr/bin/env bash
# Packages one release build of cargo-palyra-skill as the archive that
# `cargo binstall` ([package.metadata.binstall] in Cargo.toml) and the
# Action's install step download:
#
#   cargo-palyra-skill-v<VERSION>-<TARGET>.tar.gz   (.zip for Windows)
#     cargo-palyra-skill-v<VERSION>-<TARGET>/cargo-palyra-skill[.exe]
#     cargo-palyra-skill-v<VERSION>-<TARGET>/README.md
#
# Usage: package.sh BINARY VERSION TARGET OUT_DIR
# Then, once every target is packaged: (cd OUT_DIR && sha256sum -- *.tar.gz *.zip > SHA256SUMS)
#
# The archive is reproducible: sorted names, fixed owner and mtime
# (SOURCE_DATE_EPOCH, default the last commit's time). Needs GNU tar and
# Python 3 (for the zip); the release workflow runs it on Linux.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BINARY VERSION TARGET OUT_DIR" >&2; exit 2; }
binary=$1 version=$2 target=$3 out=$4
here=$(cd "$(dirname "$0")/../.." && pwd)
name="cargo-palyra-skill-v$version-$target"
exe=cargo-palyra-skill
case "$target" in *windows*) exe=cargo-palyra-skill.exe ;; esac
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$out"
install -m 755 "$binary" "$stage/$name/$exe"
install -m 644 "$here/README.md" "$stage/$name/README.md"
touch -d "@$epoch" "$stage/$name" "$stage/$name"/*

case "$target" in
  *windows*)
    archive="$name.zip"
    (cd "$stage" && python3 - "$name" "$out/$archive.tmp" "$epoch" <<'PY'
import os, sys, time, zipfile
name, dest, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
stamp = time.gmtime(max(epoch, 315532800))[:6]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
    for file in sorted(os.listdir(name)):
        info = zipfile.ZipInfo(f"{name}/{file}", stamp)
        info.external_attr = (0o755 if file.endswith(".exe") else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(os.path.join(name, file), "rb") as f:
            z.writestr(info, f.read())
PY
    ) ;;
  *)
    archive="$name.tar.gz"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$name" \
      | gzip -n -9 > "$out/$archive.tmp" ;;
esac
mv "$out/$archive.tmp" "$out/$archive"
echo "$out/$archive"
