"""Compares a peer's per-segment figures (CSV: dimension,segment,nps,csat,revenue,active) with the
30d window of a cxpulse metrics file. Prints the number of figures that agree (relative 1e-9) and
every one that does not. usage: python3 compare.py PEER.csv METRICS.prom"""
import csv
import re
import sys

peer_csv, prom = sys.argv[1], sys.argv[2]
names = {"nps": "cxpulse_nps_score", "csat": "cxpulse_csat_ratio", "revenue": "cxpulse_revenue",
         "active": "cxpulse_active_customers"}
ours = {}
pattern = re.compile(r'^(\w+)\{dimension="([^"]*)",segment="([^"]*)",window="30d"\} (\S+)$')
for line in open(prom):
    m = pattern.match(line.strip())
    if m:
        ours[(m.group(1), m.group(2), m.group(3))] = float(m.group(4))
agree, differ = 0, []
for row in csv.DictReader(open(peer_csv)):
    for col, metric in names.items():
        value = row[col]
        theirs = None if value in ("", "NULL") else float(value)
        mine = ours.get((metric, row["dimension"], row["segment"]))
        if theirs is None and mine is None:
            agree += 1
        elif theirs is not None and mine is not None and abs(theirs - mine) <= 1e-9 * max(1.0, abs(mine)):
            agree += 1
        else:
            differ.append((metric, row["dimension"], row["segment"], mine, theirs))
print(f"figures that agree: {agree}, that differ: {len(differ)}")
for d in differ[:20]:
    print("  differs:", d)
