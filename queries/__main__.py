"""`python -m budgetdb.queries`: print the checksums.txt lines of the packaged query files.

Publishing a new version: add its line to queries/checksums.txt (never change an existing line).
"""

from .registry import checksum_lines

print(checksum_lines(), end="")
