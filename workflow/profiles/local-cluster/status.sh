#!/usr/bin/env bash
# Simulated batch scheduler, "status": print running | success | failed for job id $1.
dir=".snakemake/local-cluster"
if [ -f "$dir/$1.rc" ]; then
    if [ "$(cat "$dir/$1.rc")" = "0" ]; then echo success; else echo failed; fi
elif kill -0 "$1" 2>/dev/null; then
    echo running
else
    echo failed
fi
