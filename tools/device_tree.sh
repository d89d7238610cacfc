#!/usr/bin/env bash
# Fit the tree that a `device` run carries (tracked + untracked-not-ignored files + carried
# paths) into its 64 MiB: the committed stores (~45 MB) and the book's notebooks (~10 MB) plus
# .devicedata (17 MB) do not fit. A GPU session needs neither, except the store it resumes
# (store/cifar-generalization). `slim` takes them out of git's index and ignores them locally
# (.git/info/exclude), touching no file; `restore` puts the index back to HEAD and the exclude
# file back as it was. Run `slim` on a clean index (nothing staged), and `restore` right after
# the device run: while slim, `git status` shows the stores and book as deleted.
#
#   bash tools/device_tree.sh slim      # then: run(command=..., carry=[".devicedata"])
#   bash tools/device_tree.sh restore
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude=.git/info/exclude
saved=.git/info/exclude.device-tree
keep=store/cifar-generalization
case "${1:-}" in
  slim)
    git diff --cached --quiet || { echo "the index has staged changes: commit or unstage them first" >&2; exit 1; }
    [ -e "$saved" ] && { echo "already slim (run restore first)" >&2; exit 1; }
    mkdir -p .git/info && touch "$exclude" && cp "$exclude" "$saved"
    paths=(book)
    for d in store/*/; do d=${d%/}; [ "$d" = "$keep" ] || paths+=("$d"); done
    for p in "${paths[@]}"; do echo "/$p/" >> "$exclude"; done
    git rm -r -q --cached -- "${paths[@]}"
    git ls-files -z | du -ch --files0-from=- | tail -n 1 | sed 's/total/tracked files that travel/'
    ;;
  restore)
    [ -e "$saved" ] || { echo "not slim" >&2; exit 1; }
    git reset -q
    mv "$saved" "$exclude"
    git status --short | head
    ;;
  *) echo "usage: $0 slim|restore" >&2; exit 2 ;;
esac
