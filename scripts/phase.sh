#!/usr/bin/env bash
# Times one phase of `make test`: `scripts/phase.sh NAME COMMAND...` runs COMMAND, prints how long it took and
# appends "NAME<TAB>seconds<TAB>exit status" to $PHASE_FILE (default .build/phases.tsv); its exit status is
# COMMAND's. `scripts/phase.sh --report` prints every recorded phase and their total (.ci/run does, at its end, pass
# or fail); `scripts/phase.sh --reset` forgets them.
set -uo pipefail
file=${PHASE_FILE:-.build/phases.tsv}
case "${1:-}" in
--reset)
	rm -f "$file"
	exit 0
	;;
--report)
	[ -f "$file" ] || { echo "== phases: none recorded ($file)"; exit 0; }
	awk -F'\t' '{ printf "== phase %-22s %6d s%s\n", $1, $2, ($3 == 0 ? "" : "  (failed, exit " $3 ")"); total += $2 }
		END { printf "== phases in all           %6d s\n", total }' "$file"
	exit 0
	;;
"" | -*)
	echo "usage: scripts/phase.sh NAME COMMAND... | --report | --reset" >&2
	exit 2
	;;
esac
name=$1
shift
start=$(date +%s)
"$@"
status=$?
took=$(($(date +%s) - start))
mkdir -p "$(dirname "$file")"
printf '%s\t%s\t%s\n' "$name" "$took" "$status" >>"$file"
echo "== phase $name took $took s (exit $status)"
exit "$status"
