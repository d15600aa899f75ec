"""Counts the words of the text files it is given and prints the ten most common as a
table (tabulate, from requirements.txt beside this script); writes it to words.md too."""

import sys
from collections import Counter
from pathlib import Path

from tabulate import tabulate

counts = Counter()
for name in sys.argv[1:]:
    counts.update(word.strip(".,;:!?\"'()").lower() for word in Path(name).read_text().split())
counts.pop("", None)
table = tabulate(counts.most_common(10), headers=["word", "count"], tablefmt="github")
print(table)
Path("words.md").write_text(table + "\n")
