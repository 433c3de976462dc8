#!/usr/bin/env bash
# Removes exactly the files `make install` recorded, then the folders it left empty.
set -euo pipefail
MANIFEST=${XDG_DATA_HOME:-$HOME/.local/share}/aifx/installed-files.txt
[ -f "$MANIFEST" ] || { echo "nothing installed (no $MANIFEST)"; exit 0; }
while IFS= read -r f; do
  [ -n "$f" ] && rm -f -- "$f" && echo "removed $f"
  d=$(dirname "$f")
  while [ "$d" != "/" ] && rmdir -- "$d" 2>/dev/null; do d=$(dirname "$d"); done
done <"$MANIFEST"
rm -f -- "$MANIFEST"
