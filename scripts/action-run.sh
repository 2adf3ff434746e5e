#!/usr/bin/env bash
# The shell step of the advtest GitHub Action (action.yml): runs
# `advtest attack`, renders the report in the formats CI needs, appends the
# Markdown report to $GITHUB_STEP_SUMMARY, sets the step's outputs in
# $GITHUB_OUTPUT and exits with advtest's exit code (0 pass, 1 gate failed,
# 2 usage/config/input error).
#
# Inputs come from the environment (action.yml maps its inputs onto them):
#   ADVTEST          the advtest binary (default: advtest on PATH)
#   INPUT_CONFIG     config file          INPUT_MODEL  model file
#   INPUT_DATA       data file            INPUT_LABELS labels file
#   INPUT_FAIL_ABOVE --fail-above         INPUT_BASELINE baseline JSON report (skipped when missing)
#   INPUT_MAX_REGRESSION --max-regression INPUT_FORMATS  extra formats, e.g. "table html"
#   INPUT_OUTPUT_DIR where reports go (default: advtest-reports)
#   INPUT_ARGS       further arguments to `advtest attack`, split on spaces
set -u

advtest=${ADVTEST:-advtest}
out=${INPUT_OUTPUT_DIR:-advtest-reports}
mkdir -p "$out"

args=(attack --format json --output "$out/advtest-report.json")
[ -n "${INPUT_CONFIG:-}" ] && args+=(--config "$INPUT_CONFIG")
[ -n "${INPUT_MODEL:-}" ] && args+=(--model "$INPUT_MODEL")
[ -n "${INPUT_DATA:-}" ] && args+=(--data "$INPUT_DATA")
[ -n "${INPUT_LABELS:-}" ] && args+=(--labels "$INPUT_LABELS")
[ -n "${INPUT_FAIL_ABOVE:-}" ] && args+=(--fail-above "$INPUT_FAIL_ABOVE")
if [ -n "${INPUT_BASELINE:-}" ]; then
  if [ -f "$INPUT_BASELINE" ]; then
    args+=(--baseline "$INPUT_BASELINE")
    [ -n "${INPUT_MAX_REGRESSION:-}" ] && args+=(--max-regression "$INPUT_MAX_REGRESSION")
  else
    echo "advtest action: baseline $INPUT_BASELINE not found: running without the regression gate" >&2
  fi
fi
if [ -n "${INPUT_ARGS:-}" ]; then
  read -r -a extra <<<"$INPUT_ARGS"
  args+=("${extra[@]}")
fi

"$advtest" "${args[@]}"
code=$?

report="$out/advtest-report.json"
if [ -f "$report" ]; then
  for f in markdown junit html ${INPUT_FORMATS:-}; do
    case $f in
      markdown) file=advtest.md ;; junit) file=advtest-junit.xml ;; html) file=advtest.html ;;
      table) file=advtest.txt ;; json) continue ;;
      *) echo "advtest action: unknown format $f (want table, json, markdown, junit or html)" >&2; code=2; continue ;;
    esac
    "$advtest" report render "$report" --format "$f" --output "$out/$file" || code=2
  done
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$out/advtest.md" ]; then
    cat "$out/advtest.md" >>"$GITHUB_STEP_SUMMARY"
  fi
else
  echo "advtest action: advtest wrote no report (exit code $code)" >&2
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] && printf '## advtest\n\nNo report: advtest exited %d before measuring (see the log).\n' "$code" >>"$GITHUB_STEP_SUMMARY"
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "exit-code=$code"
    echo "report-json=$out/advtest-report.json"
    echo "report-markdown=$out/advtest.md"
    echo "report-junit=$out/advtest-junit.xml"
    echo "report-html=$out/advtest.html"
    echo "report-dir=$out"
  } >>"$GITHUB_OUTPUT"
fi
exit "$code"
