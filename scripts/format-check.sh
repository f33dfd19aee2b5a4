#!/bin/bash
# List the C files whose layout differs from .clang-format (clang-format
# 14; vendor/ivshmem/driver has its own, kernel-style .clang-format).
#   scripts/format-check.sh            every *.c and *.h git tracks
#   scripts/format-check.sh FILE...    only these (paths from the top)
# Exits 0 when every file is formatted, 1 when some are not (they are
# listed, with the number of lines clang-format would change), 2 when it
# cannot check (no clang-format, not a git checkout).
# To format them: clang-format -i FILE... (see HACKING.md).
# Environment: CLANG_FORMAT (default: clang-format).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null ||
    { echo "format-check: $cf not found (apt-get install clang-format)" >&2; exit 2; }

if [ $# -gt 0 ]; then
    files=("$@")
else
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
        { echo "format-check: $top is not a git checkout; name the files" >&2; exit 2; }
    mapfile -t files < <(git ls-files -- '*.c' '*.h')
fi

bad=0; lines=0
for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "format-check: $f: no such file" >&2; exit 2; }
    # One line per changed line of the file (old and new side).
    n=$("$cf" --style=file "$f" | diff -- "$f" - | grep -c '^[<>]')
    if [ "$n" -gt 0 ]; then
        echo "$f: $n lines would change"
        bad=$((bad + 1)); lines=$((lines + n))
    fi
done
if [ $bad -gt 0 ]; then
    echo "format-check: $bad of ${#files[@]} files not formatted ($lines diff lines); clang-format -i FILE... formats them" >&2
    exit 1
fi
echo "format-check: ${#files[@]} files formatted"
