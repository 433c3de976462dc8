#!/usr/bin/env bash
# Removes exactly the files `make install` recorded, then the folders it created (if empty).
set -euo pipefail
MANIFEST=${XDG_DATA_HOME:-$HOME/.local/share}/aifx/installed-files.txt
[ -f "$MANIFEST" ] || { echo "nothing installed (no $MANIFEST)"; exit 0; }
grep -v '^dir:' "$MANIFEST" | while IFS= read -r f; do
  [ -n "$f" ] && rm -f -- "$f" && echo "removed $f"
done
dirs=$(grep '^dir:' "$MANIFEST" | cut -c5- | sort -r)
rm -f -- "$MANIFEST"
# Created folders, deepest first (only if empty: anything else put there stays).
printf '%s\n' "$dirs" | while IFS= read -r d; do
  [ -n "$d" ] && rmdir -- "$d" 2>/dev/null && echo "removed $d/" || true
done
