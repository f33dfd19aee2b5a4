#!/bin/bash
# Every relative link in the Markdown files of the tree resolves: the
# target file or directory exists and, for a link with #fragment into a
# Markdown file, a heading of that file has that anchor (GitHub's rule:
# lower case, punctuation dropped, spaces to dashes). Paths written as
# code (`doc/x.md`, `vendor/ivshmem/README.md`) count as links too.
set -u
src=${top_srcdir:?}
. "$src/test/common/tap.sh"
command -v python3 >/dev/null || { tap_bail "python3 is missing (scripts/deps.sh)"; }
exec python3 - "$src" <<'PY'
import os, re, sys

top = sys.argv[1]
skip = {'.git', 'build', 'autom4te.cache', 'node_modules'}
mds = []
for d, dirs, files in os.walk(top):
    dirs[:] = [x for x in dirs if x not in skip and not x.startswith('pscom-ivshmem-')
               and not x.startswith('_')]
    mds += [os.path.join(d, f) for f in files if f.endswith('.md')]
mds.sort()

def anchors(path):
    out, fence = set(), False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
        if fence or not line.startswith('#'):
            continue
        h = line.lstrip('#').strip().lower()
        h = re.sub(r'[^\w\- ]', '', h)
        out.add(h.replace(' ', '-'))
    return out

n = fail = 0
def report(good, what):
    global n, fail
    n += 1
    if not good:
        fail = 1
    print(('ok' if good else 'not ok') + ' %d - %s' % (n, what))

link = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
code = re.compile(r'`((?:[\w.-]+/)*[\w.-]+\.md)(#[\w-]+)?`')
for md in mds:
    rel = os.path.relpath(md, top)
    text, fence = [], False
    for line in open(md, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
            continue
        if not fence:
            text.append(line)
    text = ''.join(text)
    targets = [(m.group(1), False) for m in link.finditer(text)]
    targets += [(m.group(1) + (m.group(2) or ''), True) for m in code.finditer(text)]
    for t, is_code in targets:
        if re.match(r'^[a-z]+:', t) or t.startswith('mailto:'):
            continue
        path, _, frag = t.partition('#')
        if is_code:
            # A path in code is relative to the top of the tree (as the
            # docs write them) or, failing that, to the file.
            cands = [os.path.join(top, path), os.path.join(os.path.dirname(md), path)]
        else:
            cands = [os.path.join(os.path.dirname(md), path) if path else md]
        hit = next((c for c in cands if os.path.exists(c)), None)
        if hit is None:
            report(False, '%s: %s exists' % (rel, t))
            continue
        if frag and hit.endswith('.md'):
            report(frag in anchors(hit), '%s: %s has the heading' % (rel, t))
        else:
            report(True, '%s: %s' % (rel, t))
print('1..%d' % n)
sys.exit(fail)
PY
