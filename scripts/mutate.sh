#!/usr/bin/env bash
# Mutation testing of a curated list: each entry of scripts/mutations.txt is
# a bug planted, one at a time, in a scratch copy of this working tree (never
# in the tree itself), then the entry's tests run; a test must fail. Not part
# of scripts/test.sh: run it after changing a guarded promise or its tests.
#
# Usage:
#   scripts/mutate.sh              every mutation
#   scripts/mutate.sh ID ...       only these
#   scripts/mutate.sh --list       the entries, and whether each still applies
# Options: --committed (copy the last commit, not the working tree with its
#          uncommitted and untracked files), --no-baseline (skip checking
#          that the named tests pass unmutated), -v/--verbose (print go
#          test's output of every run).
# Environment: MUTATIONS (the list; default scripts/mutations.txt),
#              MUTATE_TIMEOUT (go test -timeout per run; default 10m).
#
# Each mutation ends as one of:
#   KILLED       a named test failed (or timed out) with the bug in
#   SURVIVED     the named tests passed with the bug in: the promise is not
#                guarded (the note says when no test matched the pattern)
#   STALE        the old text does not occur exactly once: update the entry
#   UNBUILDABLE  the mutated code does not compile: fix the entry
#   BASELINE     the named tests fail without the bug: nothing can be judged
# Exit status: 0 if every mutation selected was KILLED, 1 otherwise, 2 for a
# usage error or a malformed list.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
list=${MUTATIONS:-scripts/mutations.txt}
timeout=${MUTATE_TIMEOUT:-10m}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

mode=run baseline=1 verbose=0 committed=0
want=()
while [ $# -gt 0 ]; do
  case $1 in
    --list) mode=list ;;
    --no-baseline) baseline=0 ;;
    --committed) committed=1 ;;
    -v|--verbose) verbose=1 ;;
    -h|--help) usage ;;
    -*) echo "mutate: unknown option $1" >&2; usage ;;
    *) want+=("$1") ;;
  esac
  shift
done

# ---- the list -------------------------------------------------------------
ids=() files=() olds=() news=() pkgs=() runs=() guards=()
fields=(id file old new pkg run guards)
declare -A entry=()
lineno=0 start=0
fail_list() { echo "mutate: $list:$1: $2" >&2; exit 2; }
flush() {
  [ ${#entry[@]} -eq 0 ] && return
  local f
  for f in "${fields[@]}"; do
    [ -n "${entry[$f]:-}" ] || fail_list "$start" "entry ${entry[id]:-?} has no $f"
  done
  [ "${entry[old]}" != "${entry[new]}" ] || fail_list "$start" "entry ${entry[id]}: new is the same as old"
  local i
  for i in "${ids[@]}"; do
    [ "$i" != "${entry[id]}" ] || fail_list "$start" "id ${entry[id]} is used twice"
  done
  ids+=("${entry[id]}") files+=("${entry[file]}") olds+=("${entry[old]}") news+=("${entry[new]}")
  pkgs+=("${entry[pkg]}") runs+=("${entry[run]}") guards+=("${entry[guards]}")
  entry=()
}
[ -f "$list" ] || { echo "mutate: no list at $list" >&2; exit 2; }
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case $line in ''|'#'*) continue ;; esac
  [[ $line =~ ^([a-z]+):[[:blank:]]*(.*[^[:blank:]])?[[:blank:]]*$ ]] ||
    fail_list "$lineno" "not \"key: value\": $line"
  key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]:-}
  [[ " ${fields[*]} " == *" $key "* ]] || fail_list "$lineno" "unknown key $key"
  if [ "$key" = id ]; then flush; start=$lineno; fi
  [ ${#entry[@]} -gt 0 ] || [ "$key" = id ] || fail_list "$lineno" "an entry starts with id:"
  [ -z "${entry[$key]:-}" ] || fail_list "$lineno" "$key given twice in entry ${entry[id]}"
  entry[$key]=$value
done <"$list"
flush
[ ${#ids[@]} -gt 0 ] || { echo "mutate: $list has no entries" >&2; exit 2; }

selected=()
if [ ${#want[@]} -eq 0 ]; then
  selected=("${!ids[@]}")
else
  for w in "${want[@]}"; do
    found=
    for i in "${!ids[@]}"; do [ "${ids[$i]}" = "$w" ] && found=$i; done
    [ -n "$found" ] || { echo "mutate: no mutation $w in $list (scripts/mutate.sh --list)" >&2; exit 2; }
    selected+=("$found")
  done
fi

# matches FILE OLD NEW APPLY: prints how often OLD occurs in FILE (0 if the
# file is missing); with APPLY=1 and exactly one occurrence, replaces it by
# NEW. Exact bytes, no patterns.
matches() {
  MUT_OLD=$2 MUT_NEW=$3 MUT_APPLY=$4 perl -e '
    my $path = shift;
    my ($old, $new) = ($ENV{MUT_OLD}, $ENV{MUT_NEW});
    open(my $in, "<:raw", $path) or do { print "0\n"; exit 0 };
    my $text = do { local $/; <$in> };
    close $in;
    my $n = () = $text =~ /\Q$old\E/g;
    print "$n\n";
    exit 0 unless $n == 1 && $ENV{MUT_APPLY};
    $text =~ s/\Q$old\E/$new/;
    open(my $out, ">:raw", $path) or die "$path: $!\n";
    print $out $text;
    close $out or die "$path: $!\n";
  ' "$1"
}

if [ "$mode" = list ]; then
  stale=0
  for i in "${selected[@]}"; do
    n=$(matches "${files[$i]}" "${olds[$i]}" "" 0)
    state=applies
    [ "$n" = 1 ] || { state="STALE: old text found $n times"; stale=1; }
    printf '%s  (%s)\n  %s: %s\n  -> %s\n  go test -run '\''%s'\'' %s\n  guards: %s\n\n' \
      "${ids[$i]}" "$state" "${files[$i]}" "${olds[$i]}" "${news[$i]}" "${runs[$i]}" "${pkgs[$i]}" "${guards[$i]}"
  done
  exit "$stale"
fi

# ---- the scratch copy -----------------------------------------------------
scratch=$(mktemp -d "${TMPDIR:-/tmp}/riskd-mutate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
tree=$scratch/tree
mkdir "$tree"
# The working tree as it is (tracked and untracked files, not ignored ones
# such as .bin/), so tests still being written take part; or, with
# --committed, the last commit.
if [ "$committed" = 1 ]; then
  git archive --format=tar HEAD | tar -C "$tree" -xf -
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi # not deleted
    done |
    tar --null -T - -cf - | tar -C "$tree" -xf -
else
  tar --exclude=./.bin --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi
# The pinned tools, which the copy leaves out: tests run some (.bin/jaeger).
[ -d "$root/.bin" ] && ln -s "$root/.bin" "$tree/.bin"
echo "scratch copy: $tree"

# gotest PKGS RUN: runs the tests in the scratch copy; sets out and rc.
gotest() {
  local -a p
  read -r -a p <<<"$1"
  rc=0
  out=$(cd "$tree" && go test -count=1 -vet=off -timeout "$timeout" -run "$2" "${p[@]}" 2>&1) || rc=$?
  if [ "$verbose" = 1 ]; then printf '%s\n' "$out" | sed 's/^/    /'; fi
}
unmatched() { # packages in which no test matched, from go test's output
  printf '%s\n' "$out" | { grep -E '\[no tests to run\]|\[no test files\]' || true; } |
    awk '{print $2}' | sed 's|^github.com/riskd/riskd/|./|' | paste -sd' ' -
}

declare -A base_rc=() base_note=()
if [ "$baseline" = 1 ]; then
  for i in "${selected[@]}"; do
    k="${pkgs[$i]}|${runs[$i]}"
    [ -n "${base_rc[$k]:-}" ] && continue
    echo "baseline: go test -run '${runs[$i]}' ${pkgs[$i]}"
    gotest "${pkgs[$i]}" "${runs[$i]}"
    base_rc[$k]=$rc
    if [ "$rc" != 0 ]; then
      printf '%s\n' "$out" | tail -30 | sed 's/^/    /'
      base_note[$k]="the named tests fail without the mutation"
    fi
  done
fi

# ---- the mutations --------------------------------------------------------
results=() notes=() failed=0
for i in "${selected[@]}"; do
  id=${ids[$i]} file=${files[$i]} k="${pkgs[$i]}|${runs[$i]}"
  started=$SECONDS
  n=$(matches "$tree/$file" "${olds[$i]}" "" 0)
  if [ "$n" != 1 ]; then
    result=STALE note="old text found $n times in $file"
  elif [ "${base_rc[$k]:-0}" != 0 ]; then
    result=BASELINE note=${base_note[$k]}
  else
    cp -p "$tree/$file" "$scratch/original"
    matches "$tree/$file" "${olds[$i]}" "${news[$i]}" 1 >/dev/null
    gotest "${pkgs[$i]}" "${runs[$i]}"
    cp -p "$scratch/original" "$tree/$file"
    if grep -qE '\[(build|setup) failed\]' <<<"$out"; then
      result=UNBUILDABLE note="the mutated code does not compile"
      printf '%s\n' "$out" | grep -v '^FAIL' | head -10 | sed 's/^/    /'
    elif [ "$rc" != 0 ]; then
      result=KILLED
      # The failing top-level tests (a subtest's failure fails its parent).
      note=$(grep -oE -- '--- FAIL: [^ /]+ ' <<<"$out" | awk '{print $3}' | sort -u | paste -sd' ' - || true)
      if [ -z "$note" ]; then
        note=$(grep -qE '^panic: test timed out' <<<"$out" && echo "timed out" || echo "go test failed")
      fi
      note="by $note"
    else
      result=SURVIVED note=""
      none=$(unmatched)
      if [ -n "$none" ]; then
        note="no test matches -run in $none"
      else
        # Does a named package even depend on the mutated file's package?
        dir=$(dirname "$file")
        read -r -a p <<<"${pkgs[$i]}"
        if ! (cd "$tree" && go list -deps -test -f '{{.Dir}}' "${p[@]}" 2>/dev/null) | grep -qxF "$tree/$dir"; then
          note="${pkgs[$i]} does not depend on $dir"
        else
          note="unguarded: ${guards[$i]}"
        fi
      fi
    fi
  fi
  [ "$result" = KILLED ] || failed=1
  results[$i]=$result notes[$i]=$note
  printf '%-11s %s (%ds)%s\n' "$result" "$id" $((SECONDS - started)) "${note:+: $note}"
done

echo
printf '%-42s %-11s %s\n' mutation result "test (-run) / note"
for i in "${selected[@]}"; do
  printf '%-42s %-11s %s\n' "${ids[$i]}" "${results[$i]}" "${runs[$i]}  ${notes[$i]}"
done
exit "$failed"
