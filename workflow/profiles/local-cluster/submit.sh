#!/usr/bin/env bash
# Simulated batch scheduler, "submit": run the job script $1 (last argument) in the background,
# print its job id (the background process id). Logs and exit codes go to .snakemake/local-cluster/.
set -eu
jobscript="${@: -1}"
dir=".snakemake/local-cluster"
mkdir -p "$dir"
( id=$BASHPID; bash "$jobscript" >"$dir/$id.log" 2>&1; echo $? >"$dir/$id.rc" ) </dev/null &
echo $!
