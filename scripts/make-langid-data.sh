#!/usr/bin/env bash
# Builds the language-identification data of the default classifier (models/langid-fortunes) from the
# Debian fortunes packages: single lines of at least 20 characters, labelled by the language of the
# package they come from, written as label<TAB>text to a git-ignored folder:
#   OUT/train.tsv, OUT/dev.tsv (held out by a hash of the line: no line is in both), OUT/corpus.txt
#   (the training texts, for training the tokenizer).
# Languages: en (fortunes, fortunes-min), de, es, it, pl, cs, ru, bg, pt (fortunes-br), ga, eo, zh.
# Lines are whitespace-normalised; lines with fewer than half letters, attribution lines ("-- Name"),
# and lines found under two languages are dropped. At most 6000 training and 400 dev lines per language.
# Usage: bash scripts/make-langid-data.sh [OUT]   (default OUT: downloads/langid)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-downloads/langid}
mkdir -p "$out"
f=/usr/share/games/fortunes
en_files=$(dpkg -L fortunes fortunes-min | grep "^$f/[^/]*\$" | grep -v '\.dat$\|\.u8$' | grep -v "/art\$\|/ascii-art\$" | sort)
python3 - "$out" "$f" $en_files <<'PY'
import hashlib, os, sys, unicodedata
out, root, en_files = sys.argv[1], sys.argv[2], sys.argv[3:]
def tree(d):
    files = []
    for base, _, names in os.walk(os.path.join(root, d)):
        files += [os.path.join(base, n) for n in names if not n.endswith(".dat") and not n.endswith(".u8")]
    return sorted(files)
sources = {"en": en_files, "de": tree("de"), "es": tree("es"), "it": tree("it"), "pl": tree("pl"), "cs": tree("cs"),
           "ru": tree("ru"), "bg": tree("bg"), "pt": [os.path.join(root, "brasil")], "ga": tree("ga"), "eo": tree("eo"),
           "zh": [os.path.join(root, n) for n in ("chinese", "song100", "tang300")]}
lines = {}
for lang, files in sources.items():
    seen = set()
    for path in files:
        text = open(path, "rb").read().decode("utf-8", errors="replace")
        for line in text.splitlines():
            line = " ".join(line.replace("\ufffd", " ").split())
            if len(line) < 20 or line.startswith("--") or line.startswith("\u2014") or line == "%":
                continue
            letters = sum(1 for ch in line if unicodedata.category(ch).startswith("L"))
            if letters * 2 < len(line):
                continue
            if line not in seen:
                seen.add(line)
                lines.setdefault(line, set()).add(lang)
per_lang = {}
for line, langs in lines.items():
    if len(langs) == 1:
        per_lang.setdefault(next(iter(langs)), []).append(line)
train, dev = [], []
for lang in sorted(per_lang):
    items = sorted(per_lang[lang], key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    held = [s for s in items if int(hashlib.sha1(("dev:" + s).encode()).hexdigest(), 16) % 10 == 0]
    rest = [s for s in items if int(hashlib.sha1(("dev:" + s).encode()).hexdigest(), 16) % 10 != 0]
    dev += [(lang, s) for s in held[:400]]
    train += [(lang, s) for s in rest[:6000]]
    print(f"{lang}: {len(items)} lines, train {min(len(rest), 6000)}, dev {min(len(held), 400)}", file=sys.stderr)
train.sort(key=lambda r: hashlib.sha1((r[0] + r[1]).encode()).hexdigest())
with open(os.path.join(out, "train.tsv"), "w") as f:
    f.writelines(f"{l}\t{s}\n" for l, s in train)
with open(os.path.join(out, "dev.tsv"), "w") as f:
    f.writelines(f"{l}\t{s}\n" for l, s in dev)
with open(os.path.join(out, "corpus.txt"), "w") as f:
    f.writelines(f"{s}\n" for _, s in train)
PY
wc -l "$out"/train.tsv "$out"/dev.tsv >&2
