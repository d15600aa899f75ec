"""Counts the words of a text file and writes the counts to word_counts.csv.

    rgrid run examples/word_count.py examples/data/sample.txt

The file is uploaded and handed to the script as /work/sample.txt; word_counts.csv, written
to the script's working folder, comes back into your current directory.
"""

import collections
import csv
import re
import sys

source = sys.argv[1]
with open(source, encoding="utf-8") as handle:
    words = re.findall(r"[a-z']+", handle.read().lower())

counts = collections.Counter(words)
with open("word_counts.csv", "w", newline="", encoding="utf-8") as out:
    writer = csv.writer(out)
    writer.writerow(["word", "count"])
    writer.writerows(counts.most_common())

print(f"{len(words)} words, {len(counts)} distinct; top 3: "
      + ", ".join(f"{word} ({n})" for word, n in counts.most_common(3)))
